// Replay after Last-Event-ID: every retained event after it, in order, then live, with no
// gap and no duplicate; an id outside the retained window first gets ssebus:gap.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>

#include "server_support.hpp"

using namespace test;

namespace {

std::vector<std::uint64_t> publish_n(unsigned short port, int n, const std::string& name = "tick") {
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < n; ++i) ids.push_back(publish(port, {{"event", name}, {"data", i}}).json()["id"].get<std::uint64_t>());
    return ids;
}

}  // namespace

TEST_CASE("replay after Last-Event-ID") {
    TestServer s;
    const auto ids = publish_n(s.port(), 10);

    SECTION("the header replays every event after the id, in order, then goes live") {
        SseClient client(s.port(), "/api/events", {{"Last-Event-ID", std::to_string(ids[6])}});
        for (int i = 7; i < 10; ++i) {
            const auto e = client.next();
            REQUIRE(e);
            CHECK(e->id == std::to_string(ids[static_cast<std::size_t>(i)]));
            CHECK(e->data == std::to_string(i));
        }
        const auto live = publish(s.port(), {{"event", "live"}}).json()["id"].get<std::uint64_t>();
        const auto e = client.next();
        REQUIRE(e);
        CHECK(e->id == std::to_string(live));
    }
    SECTION("?lastEventId= does the same for an EventSource that cannot set headers") {
        SseClient client(s.port(), "/api/events?lastEventId=" + std::to_string(ids[8]));
        const auto e = client.next();
        REQUIRE(e);
        CHECK(e->id == std::to_string(ids[9]));
        CHECK_FALSE(client.next(100ms));
    }
    SECTION("the newest id replays nothing") {
        SseClient client(s.port(), "/api/events", {{"Last-Event-ID", std::to_string(ids[9])}});
        CHECK_FALSE(client.next(100ms));
    }
    SECTION("a malformed id counts as none") {
        for (const std::string bad : {"abc", "-1", "12x", "99999999999999999999999999", ""}) {
            SseClient client(s.port(), "/api/events", {{"Last-Event-ID", bad}});
            CHECK(client.status() == 200);
            CHECK_FALSE(client.next(50ms));
        }
    }
    SECTION("replay keeps to the client's streams and targets") {
        publish(s.port(), {{"event", "in-beta"}, {"stream", "beta"}});
        publish(s.port(), {{"event", "for-bob"}, {"target", {{"type", "user"}, {"id", "bob"}}}});
        publish(s.port(), {{"event", "in-alpha"}, {"stream", "alpha"}});
        SseClient client(s.port(), "/api/events?streams=alpha", {{"Last-Event-ID", std::to_string(ids[9])}});
        const auto e = client.next();
        REQUIRE(e);
        CHECK(e->name == "in-alpha");
        CHECK_FALSE(client.next(100ms));
    }
}

TEST_CASE("an id older than the retained window gets ssebus:gap first") {
    auto c = test_config();
    c.history_size = 5;
    TestServer s(c);
    const auto ids = publish_n(s.port(), 12);

    SECTION("the gap names the requested and the earliest retained id, then the window replays") {
        SseClient client(s.port(), "/api/events", {{"Last-Event-ID", std::to_string(ids[2])}});
        const auto gap = client.next();
        REQUIRE(gap);
        CHECK(gap->name == "ssebus:gap");
        CHECK_FALSE(gap->has_id);  // it must not move the client's last event id
        CHECK(gap->json() == nlohmann::json{{"requested", ids[2]}, {"earliest", ids[7]}});
        for (std::size_t i = 7; i < 12; ++i) CHECK(client.next()->id == std::to_string(ids[i]));
    }
    SECTION("an id just before the window has lost nothing") {
        SseClient client(s.port(), "/api/events", {{"Last-Event-ID", std::to_string(ids[6])}});
        CHECK(client.next()->id == std::to_string(ids[7]));
    }
}

TEST_CASE("ids keep increasing across restarts, and an id from an earlier run gets ssebus:gap") {
    std::uint64_t last_of_first_run;
    {
        TestServer first;
        last_of_first_run = publish_n(first.port(), 3).back();
    }
    TestServer second;
    const auto next = publish_n(second.port(), 1).front();
    CHECK(next > last_of_first_run);
    SseClient client(second.port(), "/api/events", {{"Last-Event-ID", std::to_string(last_of_first_run)}});
    const auto gap = client.next();
    REQUIRE(gap);
    CHECK(gap->name == "ssebus:gap");
    CHECK(client.next()->id == std::to_string(next));
}

TEST_CASE("replay races publishing: no gap, no duplicate") {
    auto c = test_config();
    c.history_size = 100'000;
    c.queue_max_events = 100'000;
    c.queue_max_bytes = 64 << 20;
    TestServer s(c);
    auto& hub = s.server.hub();

    // A publisher runs flat out in-process while clients connect from ids in the middle.
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> first_id{0};
    std::thread publisher([&] {
        for (int i = 0; !stop; ++i) {
            const auto e = hub.notify_all("race", i);
            if (i == 0) first_id = e->id();
            if (i % 4 == 0) std::this_thread::sleep_for(50us);  // tens of thousands a second
        }
    });
    // 50 events back must be events of this run: an id before the first is another run's,
    // and gets ssebus:gap (a slow machine may publish fewer than 50 in the first rounds' 5 ms).
    REQUIRE(eventually([&] { return first_id != 0 && hub.stats().last_id >= first_id + 100; }));

    for (int round = 0; round < 8; ++round) {
        std::this_thread::sleep_for(5ms);
        const auto from = hub.stats().last_id - 50;  // 50 events back, while more are coming
        SseClient client(s.port(), "/api/events", {{"Last-Event-ID", std::to_string(from)}});
        std::this_thread::sleep_for(20ms);
        std::uint64_t expect = from + 1;
        int seen = 0;
        while (auto e = client.next(200ms)) {
            REQUIRE(e->name == "race");
            REQUIRE(std::stoull(e->id) == expect);  // the next id, never a skip or a repeat
            ++expect;
            if (++seen > 500) break;
        }
        CHECK(seen > 50);
    }
    stop = true;
    publisher.join();
}

TEST_CASE("regression: an event published as soon as the response head arrives is not lost") {
    // The head used to be written before the stream joined the hub, so a client that
    // published right after reading it could miss its own event.
    TestServer s;
    auto& hub = s.server.hub();
    for (int i = 0; i < 200; ++i) {
        SseClient client(s.port(), "/api/events");
        const auto published = hub.notify_all("right-away", i);
        const auto e = client.next();
        REQUIRE(e);
        CHECK(e->id == std::to_string(published->id()));
    }
}

TEST_CASE("regression: a replay longer than the queue limit is delivered, not cut as a slow client") {
    // The replay used to go through the live queue, so a client that had missed more events
    // than the queue holds was disconnected as slow before its first event, and again at
    // every reconnect.
    auto c = test_config();
    c.queue_max_events = 10;
    c.queue_max_bytes = 4096;
    TestServer s(c);
    const auto first = s.server.hub().notify_all("tick", 0)->id();
    for (int i = 1; i < 500; ++i) s.server.hub().notify_all("tick", i);

    SseClient client(s.port(), "/api/events", {{"Last-Event-ID", std::to_string(first)}});
    for (int i = 1; i < 500; ++i) {
        const auto e = client.next();
        REQUIRE(e);
        REQUIRE(e->data == std::to_string(i));
    }
    const auto live = s.server.hub().notify_all("live", 1)->id();
    const auto e = client.next();
    REQUIRE(e);
    CHECK(e->id == std::to_string(live));
    CHECK(s.server.hub().stats().slow_clients_disconnected == 0);
}
