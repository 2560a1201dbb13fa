// The command line: durations, the store's flags and their defaults, the test routes.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>

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

TEST_CASE("the command line's redis store: a history as long as sqlite's, and the wait for a lagging server") {
    int exit_code = 0;
    const char* redis[] = {"ssebus-server", "--store", "redis://127.0.0.1:6379/2?key=app:events"};
    auto c = parse_config(3, redis, exit_code);
    REQUIRE(c);
    CHECK(c->store == "redis://127.0.0.1:6379/2?key=app:events");
    CHECK(c->history_size == 1'000'000);
    CHECK(c->lag_wait == std::chrono::milliseconds(2'000));
    const char* sized[] = {"ssebus-server", "--store", "redis://127.0.0.1:6379", "--history-size", "500",
                           "--lag-wait-ms", "750"};
    c = parse_config(7, sized, exit_code);
    REQUIRE(c);
    CHECK(c->history_size == 500);
    CHECK(c->lag_wait == std::chrono::milliseconds(750));
    // The scheme is checked with the flag; the rest of the URL when the store opens.
    for (const char* bad : {"rediss://127.0.0.1:6379", "redis:/127.0.0.1", "redis"}) {
        const char* args[] = {"ssebus-server", "--store", bad};
        CHECK_FALSE(parse_config(3, args, exit_code));
        CHECK(exit_code != 0);
    }
    const char* bad_wait[] = {"ssebus-server", "--lag-wait-ms", "-1"};
    CHECK_FALSE(parse_config(3, bad_wait, exit_code));
}

TEST_CASE("the test routes: on only with SSEBUS_TEST_HOOKS=1 in the environment, never by default") {
    int exit_code = 0;
    const char* args[] = {"ssebus-server"};
    ::unsetenv("SSEBUS_TEST_HOOKS");
    CHECK_FALSE(parse_config(1, args, exit_code)->test_hooks);
    ::setenv("SSEBUS_TEST_HOOKS", "yes", 1);
    CHECK_FALSE(parse_config(1, args, exit_code)->test_hooks);
    ::setenv("SSEBUS_TEST_HOOKS", "1", 1);
    CHECK(parse_config(1, args, exit_code)->test_hooks);
    ::unsetenv("SSEBUS_TEST_HOOKS");
}
