// Boost's assertion handler for the fuzz build. SSEBUS_FUZZ defines BOOST_ENABLE_ASSERT_HANDLER
// for every library and target, so every translation unit that instantiates Beast's parser
// agrees on it; every fuzz target links this file. One known false alarm is let through
// (below); every other assertion aborts.
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace boost {

// Boost 1.81's Beast asserts n >= 5 in parse_chunk_header when an empty chunked body ("0\r\n"
// with no extension) is read up to its "0\r\n" and the next read adds a single byte. The
// code after the assertion handles that case (it asks for more bytes), the server's release
// build compiles the assertion out, and upstream relaxed it (boostorg/beast#2861).
void assertion_failed(const char* expr, const char* function, const char* file, long line) {
    if (std::string_view(expr) == "n >= 5" && std::string_view(function).find("parse_chunk_header") != std::string_view::npos)
        return;
    std::fprintf(stderr, "%s:%ld: %s: Boost assertion `%s' failed\n", file, line, function, expr);
    std::abort();
}

void assertion_failed_msg(const char* expr, const char* msg, const char* function, const char* file, long line) {
    std::fprintf(stderr, "%s:%ld: %s: Boost assertion `%s' failed: %s\n", file, line, function, expr, msg);
    std::abort();
}

}  // namespace boost
