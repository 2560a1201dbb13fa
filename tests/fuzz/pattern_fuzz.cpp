// Fuzzes event-name patterns: parsing and matching (ssebus/pattern.hpp).
//
// The input is a pattern, then up to 16 names, one a line ('\n'). Checked:
//  - parse() is total: it accepts exactly the non-empty texts whose segments are each '*',
//    '**' or free of '*', and explains every refusal;
//  - a parsed pattern keeps its text, and matches() agrees with a plain recursive matcher
//    over the segments (for the name as text and as segments);
//  - a pattern without '*' matches exactly the names with the same segments, itself included;
//  - "*" and "**" match every name; a name turned into a pattern matches itself.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "ssebus/pattern.hpp"

namespace {
using fuzz::hash;
using fuzz::require;

using ssebus::Pattern;
using ssebus::Segments;

bool valid_text(std::string_view text) {
    if (text.empty()) return false;
    for (auto seg : ssebus::split_segments(text))
        if (seg != "*" && seg != "**" && seg.find('*') != std::string_view::npos) return false;
    return true;
}

// '*' one segment, '**' any run of segments, anything else itself; memoised over (p, n).
bool reference_match(const Segments& pat, const Segments& name) {
    const std::size_t P = pat.size(), N = name.size();
    // ok[p][n]: pat[p..] matches name[n..]
    std::vector<std::vector<char>> ok(P + 1, std::vector<char>(N + 1, 0));
    ok[P][N] = 1;
    for (std::size_t p = P; p-- > 0;) {
        for (std::size_t n = N + 1; n-- > 0;) {
            if (pat[p] == "**") ok[p][n] = ok[p + 1][n] || (n < N && ok[p][n + 1]);
            else if (n < N && (pat[p] == "*" || pat[p] == name[n])) ok[p][n] = ok[p + 1][n + 1];
        }
    }
    return ok[0][0];
}

bool reference(std::string_view text, std::string_view name) {
    if (text == "*") return true;
    return reference_match(ssebus::split_segments(text), ssebus::split_segments(name));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    if (size > 4096) return 0;  // the matcher is quadratic in the reference; keep runs short
    const std::string_view input(reinterpret_cast<const char*>(bytes), size);
    std::vector<std::string_view> lines;
    for (std::size_t start = 0;;) {
        const auto nl = input.find('\n', start);
        lines.push_back(input.substr(start, nl == std::string_view::npos ? nl : nl - start));
        if (nl == std::string_view::npos || lines.size() > 16) break;
        start = nl + 1;
    }
    const auto text = lines[0];
    const std::vector<std::string_view> names(lines.begin() + 1, lines.end());

    std::string error;
    const auto pattern = Pattern::parse(text, &error);
    require(pattern.has_value() == valid_text(text), "parse() disagrees with the grammar");
    require(ssebus::has_wildcard(text) == (text.find('*') != std::string_view::npos), "has_wildcard() is wrong");
    if (!pattern) {
        require(!error.empty(), "a refusal without a reason");
    } else {
        require(pattern->text() == text, "text() differs from the parsed text");
        if (!ssebus::has_wildcard(text)) require(pattern->matches(text), "a literal pattern does not match itself");
        const auto pattern_segments = ssebus::split_segments(text);
        for (auto name : names) {
            const bool got = pattern->matches(name);
            require(got == pattern->matches(ssebus::split_segments(name)), "matches(text) != matches(segments)");
            require(got == reference(text, name), "matches() disagrees with the reference matcher");
            if (!ssebus::has_wildcard(text))
                require(got == (pattern_segments == ssebus::split_segments(name)),
                        "a literal pattern matches other segments than its own");
        }
    }

    for (auto name : names) {
        for (std::string_view all : {"*", "**"}) {
            const auto p = Pattern::parse(all);
            require(p && p->matches(name), "'*' or '**' misses a name");
        }
        if (!ssebus::has_wildcard(name)) {
            const auto self = Pattern::parse(name);
            require(self.has_value() == !name.empty(), "a name without '*' is not a valid pattern");
            if (self) require(self->matches(name), "a name does not match itself as a pattern");
        }
    }
    return 0;
}
