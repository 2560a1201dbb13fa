// The server's log: levels, the two line formats, and a level check that comes before any
// argument is evaluated.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "log.hpp"

namespace slog = ssebus::server::log;
using slog::Level;

namespace {

// Restores the process-wide level when a test is done with it.
struct LevelGuard {
    Level saved = slog::level();
    ~LevelGuard() { slog::set_level(saved); }
};

}  // namespace

TEST_CASE("a level shows its records and those above it, nothing below") {
    LevelGuard guard;
    const Level all[] = {Level::error, Level::warn, Level::info, Level::debug};
    for (int set = 0; set < 4; ++set) {
        slog::set_level(all[set]);
        for (int rec = 0; rec < 4; ++rec) CHECK(slog::enabled(all[rec]) == (rec <= set));
    }
}

TEST_CASE("SSEBUS_LOG evaluates nothing when its level is off") {
    LevelGuard guard;
    int built = 0;
    auto costly = [&] {
        ++built;
        return std::string("value");
    };
    slog::set_level(Level::info);
    SSEBUS_LOG(debug, "off", {"key", costly()});
    CHECK(built == 0);
    slog::set_level(Level::debug);
    SSEBUS_LOG(debug, "on", {"key", costly()});
    CHECK(built == 1);
}

TEST_CASE("levels and formats are named as on the command line") {
    CHECK(slog::parse_level("debug") == Level::debug);
    CHECK(slog::parse_level("warn") == Level::warn);
    CHECK_FALSE(slog::parse_level("verbose"));
    CHECK(slog::parse_format("json") == slog::Format::json);
    CHECK_FALSE(slog::parse_format("xml"));
    for (auto l : {Level::error, Level::warn, Level::info, Level::debug}) CHECK(slog::parse_level(slog::to_string(l)) == l);
}

TEST_CASE("a text line: prefix, time, level, message, then key=value fields") {
    const auto line = slog::format_text(Level::debug, "stream closed",
                                       {{"client", "c-1"}, {"reason", "client went away"}, {"ms", 1203}, {"gap", true},
                                        {"user", ""}, {"quote", "a\"b"}});
    INFO(line);
    CHECK(line.rfind("ssebus-server: ", 0) == 0);
    CHECK(line.find(" debug stream closed client=c-1 reason=\"client went away\" ms=1203 gap=true user=\"\" "
                    "quote=\"a\\\"b\"") != std::string::npos);
    CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("a JSON line: one object with ts, level, msg first, then the fields with their types") {
    const std::uint64_t big = 18'446'744'073'709'551'615ull;
    const auto line = slog::format_json(Level::warn, "slow client disconnected",
                                       {{"client", "c-1"}, {"status", 429}, {"id", big}, {"ratio", 0.5},
                                        {"gap", false}, {"remote", "line\nbreak"}});
    INFO(line);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.rfind(R"({"ts":")", 0) == 0);
    const auto j = nlohmann::json::parse(line);
    CHECK(j["level"] == "warn");
    CHECK(j["msg"] == "slow client disconnected");
    CHECK(j["client"] == "c-1");
    CHECK(j["status"] == 429);
    CHECK(j["id"].get<std::uint64_t>() == big);
    CHECK(j["ratio"] == 0.5);
    CHECK(j["gap"] == false);
    CHECK(j["remote"] == "line\nbreak");
    CHECK(j["ts"].get<std::string>().size() == std::string("2026-01-01T00:00:00.000Z").size());
}

TEST_CASE("invalid UTF-8 in a field does not throw; it is replaced") {
    CHECK_NOTHROW(nlohmann::json::parse(slog::format_json(Level::info, "m", {{"route", "/\xff\xfe"}})));
    CHECK_NOTHROW(slog::format_text(Level::info, "m", {{"route", "/\xff x"}}));
}

TEST_CASE("DEBUG=ssebus:* and DEBUG=sse:* mean debug, as Node's debug package reads them") {
    using ssebus::server::debug_env_enables;
    CHECK(debug_env_enables("ssebus:*"));
    CHECK(debug_env_enables("sse:*"));
    CHECK(debug_env_enables("*"));
    CHECK(debug_env_enables("express:*,ssebus:*"));
    CHECK(debug_env_enables("express:* sse:hub"));
    CHECK_FALSE(debug_env_enables(""));
    CHECK_FALSE(debug_env_enables("express:*"));
    CHECK_FALSE(debug_env_enables("ssebusx:*"));
    CHECK_FALSE(debug_env_enables("-ssebus:*"));
}
