// The command line: durations, and the store's flags and their defaults.
#include <catch2/catch.hpp>

#include <chrono>

#include "config.hpp"

using namespace ssebus::server;

TEST_CASE("durations: seconds, or with s, m, h, d") {
    CHECK(parse_duration("0") == std::chrono::seconds(0));
    CHECK(parse_duration("90") == std::chrono::seconds(90));
    CHECK(parse_duration("90s") == std::chrono::seconds(90));
    CHECK(parse_duration("15m") == std::chrono::seconds(900));
    CHECK(parse_duration("2h") == std::chrono::seconds(7'200));
    CHECK(parse_duration("7d") == std::chrono::seconds(604'800));
    CHECK_FALSE(parse_duration(""));
    CHECK_FALSE(parse_duration("m"));
    CHECK_FALSE(parse_duration("-5"));
    CHECK_FALSE(parse_duration("1.5h"));
    CHECK_FALSE(parse_duration("10w"));
}

TEST_CASE("the command line's store: sqlite by default, with a history to match; memory on request") {
    int exit_code = 0;
    const char* defaults[] = {"ssebus-server"};
    auto c = parse_config(1, defaults, exit_code);
    REQUIRE(c);
    CHECK(c->store == "sqlite");
    CHECK(c->history_size == 1'000'000);
    CHECK(c->history_max_age == std::chrono::seconds(0));
    CHECK(c->store_batch == 1'000);
    const char* memory[] = {"ssebus-server", "--store", "memory", "--history-max-age", "2h"};
    c = parse_config(5, memory, exit_code);
    REQUIRE(c);
    CHECK(c->store == "memory");
    CHECK(c->history_size == 10'000);
    CHECK(c->history_max_age == std::chrono::hours(2));
    const char* bad_age[] = {"ssebus-server", "--history-max-age", "soon"};
    CHECK_FALSE(parse_config(3, bad_age, exit_code));
    CHECK(exit_code != 0);
    const char* bad_store[] = {"ssebus-server", "--store", "disk"};
    CHECK_FALSE(parse_config(3, bad_store, exit_code));
    CHECK(exit_code != 0);
}
