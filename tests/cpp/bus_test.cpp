#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "ssebus/bus.hpp"

using ssebus::Bus;
using Ids = std::vector<ssebus::SubscriptionId>;

TEST_CASE("the bus routes a name to its subscriptions in subscription order") {
    Bus bus;

    SECTION("exact names reach only their own subscriptions") {
        const auto a = bus.subscribe("video_created");
        const auto b = bus.subscribe("video_updated");
        CHECK(bus.route("video_created") == Ids{a});
        CHECK(bus.route("video_updated") == Ids{b});
        CHECK(bus.route("video_deleted").empty());
    }
    SECTION("patterns and exact names interleave by registration") {
        const auto a = bus.subscribe("video:*");
        const auto b = bus.subscribe("video:created");
        const auto c = bus.subscribe("*");
        const auto d = bus.subscribe("video:created");
        CHECK(bus.route("video:created") == Ids{a, b, c, d});
        CHECK(bus.route("video:updated") == Ids{a, c});
        CHECK(bus.route("audio:created") == Ids{c});
    }
    SECTION("the same key subscribed twice is routed twice") {
        const auto a = bus.subscribe("x");
        const auto b = bus.subscribe("x");
        CHECK(bus.route("x") == Ids{a, b});
    }
    SECTION("a pattern name is not an emit target") {
        bus.subscribe("video:*");
        CHECK(bus.route("video:*").empty());
    }
}

TEST_CASE("route answers are cached and invalidated by changes") {
    Bus bus;
    const auto created = bus.intern("video:created").value();
    const auto other = bus.intern("user:login").value();

    SECTION("an exact subscription changes only its own name") {
        REQUIRE(bus.route(created.id).empty());
        REQUIRE(bus.subscribe(1, created.id));
        CHECK(bus.route(created.id) == Ids{1});
        REQUIRE(bus.unsubscribe(1));
        CHECK(bus.route(created.id).empty());
    }
    SECTION("a pattern subscription reaches every cached name it matches") {
        const auto all_video = bus.intern("video:*").value();
        REQUIRE(all_video.pattern);
        REQUIRE(bus.route(created.id).empty());
        REQUIRE(bus.route(other.id).empty());
        REQUIRE(bus.subscribe(5, all_video.id));
        CHECK(bus.route(created.id) == Ids{5});
        CHECK(bus.route(other.id).empty());
        REQUIRE(bus.unsubscribe(5));
        CHECK(bus.route(created.id).empty());
    }
    SECTION("subscription ids must increase") {
        REQUIRE(bus.subscribe(10, created.id));
        CHECK_FALSE(bus.subscribe(10, created.id));
        CHECK_FALSE(bus.subscribe(3, created.id));
        CHECK(bus.route(created.id) == Ids{10});
    }
    SECTION("unknown ids and keys are refused, not trusted") {
        CHECK_FALSE(bus.unsubscribe(99));
        CHECK_FALSE(bus.subscribe(1, 12345));
        CHECK(bus.route(ssebus::KeyId{777}).empty());
    }
}

TEST_CASE("batched changes apply in order") {
    Bus bus;
    const auto k = bus.intern("x").value().id;
    const auto op = [](ssebus::Op o) { return static_cast<std::uint32_t>(o); };
    const std::vector<std::uint32_t> words{
        op(ssebus::Op::subscribe), 1, k,       op(ssebus::Op::subscribe_once), 2, k,
        op(ssebus::Op::unsubscribe), 1, 0,     op(ssebus::Op::subscribe), 2, k,  // stale id
    };
    CHECK(bus.apply(words) == 3);
    CHECK(bus.route(k) == Ids{2});
    CHECK(bus.is_once(2));
    CHECK_FALSE(bus.is_once(1));
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
    SECTION("a subscription keeps its key alive after release") {
        const auto k = bus.intern("x").value();
        REQUIRE(bus.subscribe(1, k.id));
        bus.release(k.id);
        CHECK(bus.key_count() == 1);
        CHECK(bus.route("x") == Ids{1});
        bus.unsubscribe(1);
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
    const auto a = bus.subscribe("x");
    bus.subscribe("y:*");
    bus.clear();
    CHECK(bus.subscription_count() == 0);
    CHECK(bus.key_count() == 0);
    CHECK(bus.route("x").empty());
    CHECK(bus.subscribe("x") > a);
}
