#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "ssebus/bus.hpp"

using ssebus::Bus;
using Ids = std::vector<ssebus::SubscriptionId>;

TEST_CASE("the pattern index routes a name to the pattern subscriptions it matches, in order") {
    Bus bus;

    SECTION("a name gets every matching pattern's subscriptions, interleaved by registration") {
        const auto a = bus.subscribe("video:*");
        const auto b = bus.subscribe("*");
        const auto c = bus.subscribe("video:**");
        const auto d = bus.subscribe("video:*");
        CHECK(bus.route("video:created") == Ids{a, b, c, d});
        CHECK(bus.route("video:upload:progress") == Ids{b, c});
        CHECK(bus.route("audio:created") == Ids{b});
    }
    SECTION("a name no pattern matches gets nothing") {
        bus.subscribe("video:*");
        CHECK(bus.route("user:login").empty());
        CHECK(bus.route("video").empty());
    }
    SECTION("a pattern name is not an emit target") {
        bus.subscribe("video:*");
        CHECK(bus.route("video:*").empty());
        const auto k = bus.intern("video:*").value();
        CHECK(bus.route(k.id).empty());
    }
}

TEST_CASE("exact names are not the index's subscriptions") {
    Bus bus;
    const auto exact = bus.intern("video:created").value();
    REQUIRE_FALSE(exact.pattern);

    SECTION("subscribing an exact name is refused") {
        CHECK_FALSE(bus.subscribe(1, exact.id));
        CHECK(bus.subscribe("video:created") == 0);
        CHECK(bus.subscription_count() == 0);
    }
    SECTION("a refused exact subscription does not use up its id") {
        CHECK_FALSE(bus.subscribe(1, exact.id));
        const auto p = bus.intern("video:*").value();
        CHECK(bus.subscribe(1, p.id));
        CHECK(bus.route(exact.id) == Ids{1});
    }
}

TEST_CASE("routes follow pattern changes") {
    Bus bus;
    const auto created = bus.intern("video:created").value();
    const auto other = bus.intern("user:login").value();
    const auto all_video = bus.intern("video:*").value();
    REQUIRE(all_video.pattern);

    SECTION("a pattern subscription reaches every name it matches, and only those") {
        REQUIRE(bus.route(created.id).empty());
        REQUIRE(bus.subscribe(5, all_video.id));
        CHECK(bus.route(created.id) == Ids{5});
        CHECK(bus.route(other.id).empty());
        REQUIRE(bus.unsubscribe(5, all_video.id));
        CHECK(bus.route(created.id).empty());
    }
    SECTION("subscription ids must increase") {
        REQUIRE(bus.subscribe(10, all_video.id));
        CHECK_FALSE(bus.subscribe(10, all_video.id));
        CHECK_FALSE(bus.subscribe(3, all_video.id));
        CHECK(bus.route(created.id) == Ids{10});
    }
    SECTION("unknown ids and keys are refused, not trusted") {
        REQUIRE(bus.subscribe(1, all_video.id));
        CHECK_FALSE(bus.unsubscribe(99, all_video.id));
        CHECK_FALSE(bus.unsubscribe(1, created.id));
        CHECK_FALSE(bus.unsubscribe(1, 12345));
        CHECK_FALSE(bus.subscribe(2, 12345));
        CHECK(bus.route(ssebus::KeyId{777}).empty());
        CHECK(bus.route(created.id) == Ids{1});
    }
}

TEST_CASE("batched changes apply in order") {
    Bus bus;
    const auto k = bus.intern("x:*").value().id;
    const auto exact = bus.intern("x:y").value().id;
    const auto op = [](ssebus::Op o) { return static_cast<std::uint32_t>(o); };
    const std::vector<std::uint32_t> words{
        op(ssebus::Op::subscribe),   1, k,  op(ssebus::Op::subscribe), 2, k,
        op(ssebus::Op::unsubscribe), 1, k,  op(ssebus::Op::subscribe), 2, k,  // stale id
        op(ssebus::Op::subscribe),   3, exact,                                 // not a pattern
        7,                           4, k,                                     // no such op
    };
    CHECK(bus.apply(words) == 3);
    CHECK(bus.route(exact) == Ids{2});
}

TEST_CASE("keys are interned while held and dropped when nobody holds them") {
    Bus bus;

    SECTION("interning twice gives the same id") {
        const auto a = bus.intern("video_created").value();
        const auto b = bus.intern("video_created").value();
        CHECK(a.id == b.id);
        CHECK_FALSE(a.pattern);
        bus.release(a.id);
        CHECK(bus.key_count() == 1);
        bus.release(b.id);
        CHECK(bus.key_count() == 0);
    }
    SECTION("a subscription keeps its pattern alive after release") {
        const auto k = bus.intern("x:*").value();
        REQUIRE(bus.subscribe(1, k.id));
        bus.release(k.id);
        CHECK(bus.key_count() == 1);
        CHECK(bus.route("x:y") == Ids{1});
        bus.unsubscribe(1, k.id);
        CHECK(bus.key_count() == 0);
    }
    SECTION("a million distinct names leave nothing behind") {
        bus.subscribe("name:*");
        for (int i = 0; i < 1'000'000; ++i) {
            const std::string name = "name:" + std::to_string(i);
            const auto k = bus.intern(name).value();
            REQUIRE(bus.route(k.id).size() == 1);
            bus.release(k.id);
        }
        CHECK(bus.key_count() == 1);
    }
    SECTION("every held key is found again after others come and go") {
        std::vector<ssebus::KeyId> ids;
        for (int i = 0; i < 10'000; ++i) ids.push_back(bus.intern("n" + std::to_string(i)).value().id);
        for (int i = 0; i < 10'000; i += 2) bus.release(ids[i]);
        CHECK(bus.key_count() == 5'000);
        for (int i = 1; i < 10'000; i += 2) {
            REQUIRE(bus.intern("n" + std::to_string(i)).value().id == ids[i]);
            bus.release(ids[i]);
        }
        CHECK(bus.key_count() == 5'000);
        for (int i = 0; i < 10'000; i += 2) bus.intern("n" + std::to_string(i));
        CHECK(bus.key_count() == 10'000);
    }
    SECTION("released slots are reused") {
        const auto a = bus.intern("a").value();
        bus.release(a.id);
        const auto b = bus.intern("b").value();
        CHECK(a.id == b.id);
        CHECK(bus.route(b.id).empty());
    }
    SECTION("empty names and malformed patterns are refused with a reason") {
        std::string error;
        CHECK_FALSE(bus.intern("", &error));
        CHECK(error == "an event name cannot be empty");
        CHECK_FALSE(bus.intern("video:*x", &error));
        CHECK(error.find("whole segment") != std::string::npos);
        CHECK(bus.subscribe("video:*x") == 0);
        CHECK(bus.key_count() == 0);
    }
}

TEST_CASE("clear removes every subscription and keeps ids increasing") {
    Bus bus;
    const auto a = bus.subscribe("x:*");
    bus.subscribe("y:*");
    bus.clear();
    CHECK(bus.subscription_count() == 0);
    CHECK(bus.key_count() == 0);
    CHECK(bus.route("x:z").empty());
    CHECK(bus.subscribe("x:*") > a);
}
