// /metrics through HTTP, against a server started in-process on port 0: events counted by
// name however they were published, and the publish-to-write histogram.
#include <catch2/catch.hpp>

#include <sstream>

#include "metrics.hpp"
#include "server_support.hpp"

using namespace test;
using ssebus::server::CountsByName;
using ssebus::server::LatencyHistogram;
using ssebus::server::NameCounts;

namespace {

// The lines of /metrics that start with `prefix`, in order.
std::vector<std::string> series(const TestServer& s, const std::string& prefix) {
    std::vector<std::string> lines;
    std::istringstream text(get(s.port(), "/metrics").body);
    for (std::string line; std::getline(text, line);)
        if (line.rfind(prefix, 0) == 0) lines.push_back(line);
    return lines;
}

std::vector<std::string> by_name(const TestServer& s) {
    return series(s, "ssebus_events_published_by_name_total{");
}

std::string by_name_line(const std::string& name, std::uint64_t n) {
    return "ssebus_events_published_by_name_total{name=\"" + name + "\"} " + std::to_string(n);
}

// The value of the one sample `name` (no labels), e.g. "ssebus_events_published_total".
double value_of(const TestServer& s, const std::string& name) {
    const auto lines = series(s, name + " ");
    REQUIRE(lines.size() == 1);
    return std::stod(lines[0].substr(name.size() + 1));
}

struct Histogram {
    std::vector<std::pair<std::string, std::uint64_t>> buckets;  // le, cumulative count
    double sum = -1;
    std::uint64_t count = 0;
};

Histogram publish_to_write(const TestServer& s) {
    const std::string name = "ssebus_publish_to_write_seconds";
    Histogram h;
    for (const auto& line : series(s, name)) {
        const auto space = line.rfind(' ');
        const auto value = line.substr(space + 1);
        if (line.rfind(name + "_bucket{le=\"", 0) == 0) {
            const auto from = name.size() + 12;
            h.buckets.emplace_back(line.substr(from, line.find('"', from) - from), std::stoull(value));
        } else if (line.rfind(name + "_sum ", 0) == 0) {
            h.sum = std::stod(value);
        } else if (line.rfind(name + "_count ", 0) == 0) {
            h.count = std::stoull(value);
        }
    }
    return h;
}

// The histogram once its count reached `at_least` (writes complete on the server's
// threads, a moment after the client read their bytes), or as it is after 10 s.
Histogram publish_to_write_reaching(const TestServer& s, std::uint64_t at_least) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    auto h = publish_to_write(s);
    while (h.count < at_least && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
        h = publish_to_write(s);
    }
    return h;
}

}  // namespace

TEST_CASE("/metrics counts every published event by name, however it was published") {
    TestServer s;
    auto& hub = s.server.hub();
    SECTION("HTTP publishes and the in-process API count in the same series") {
        for (int i = 0; i < 3; ++i) REQUIRE(publish(s.port(), {{"event", "video:created"}}).status == 202);
        REQUIRE(publish(s.port(), {{"event", "say \"hi\""}}).status == 202);
        for (int i = 0; i < 2; ++i) hub.notify_all("say \"hi\"", {{"n", i}});
        for (int i = 0; i < 4; ++i) hub.notify_all("upload:done", nullptr);
        hub.notify_user("ana", "upload:done", nullptr);
        hub.broadcast("video:created", nullptr);
        CHECK(by_name(s) == std::vector<std::string>{by_name_line("upload:done", 5), by_name_line("video:created", 4),
                                                     by_name_line(R"(say \"hi\")", 3)});
        CHECK(value_of(s, "ssebus_events_published_total") == 12);
    }
    SECTION("the 20 most published names are shown, the rest as other") {
        for (int i = 0; i < 3; ++i) publish(s.port(), {{"event", "video:created"}});
        for (int i = 0; i < 22; ++i) hub.notify_all("n" + std::to_string(100 + i), nullptr);
        const auto lines = by_name(s);
        REQUIRE(lines.size() == 21);
        CHECK(lines[0] == by_name_line("video:created", 3));
        CHECK(lines[1] == by_name_line("n100", 1));  // ties by name
        CHECK(lines[19] == by_name_line("n118", 1));
        CHECK(lines[20] == by_name_line("other", 3));
        SECTION("a refused publish is not counted") {
            REQUIRE(publish(s.port(), {{"event", "ssebus:gap"}}).status == 400);
            CHECK(by_name(s) == lines);
        }
    }
    SECTION("names after the first 256 count as other, however often they come") {
        for (int i = 0; i < 256; ++i) hub.notify_all("t" + std::to_string(1000 + i), nullptr);
        for (int i = 0; i < 5; ++i) hub.notify_all("late", nullptr);
        const auto lines = by_name(s);
        REQUIRE(lines.size() == 21);
        CHECK(lines[0] == by_name_line("t1000", 1));
        CHECK(lines[20] == by_name_line("other", 256 - 20 + 5));
        // A tracked name is still counted one by one.
        for (int i = 0; i < 2; ++i) hub.notify_all("t1255", nullptr);
        CHECK(by_name(s)[0] == by_name_line("t1255", 3));
    }
}

TEST_CASE("NameCounts keeps a bounded number of names") {
    NameCounts counts(/*tracked=*/2, /*shown=*/1);
    for (const char* name : {"x", "x", "y", "z", "z", "z"}) counts.add(name);
    // z came after two names were tracked: it counts as other, however often it comes.
    CHECK(counts.top() == CountsByName{{"x", 2}, {"other", 4}});
    CHECK(NameCounts().top().empty());
}

TEST_CASE("/metrics has a histogram of publish-to-write latency") {
    TestServer s;
    auto& hub = s.server.hub();
    const std::vector<std::string> bounds{"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                          "0.1",    "0.25",  "0.5",    "1",     "2.5",   "5",     "+Inf"};
    auto check_shape = [&](const Histogram& h) {
        std::vector<std::string> les;
        for (const auto& [le, _] : h.buckets) les.push_back(le);
        CHECK(les == bounds);
        for (std::size_t i = 1; i < h.buckets.size(); ++i) CHECK(h.buckets[i - 1].second <= h.buckets[i].second);
        REQUIRE(!h.buckets.empty());
        CHECK(h.buckets.back().second == h.count);
    };

    const auto before = publish_to_write(s);
    check_shape(before);
    CHECK(before.count == 0);
    CHECK(before.sum == 0);

    SseClient first(s.port(), "/api/events");
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(hub.notify_all("tick", {{"n", i}})->id());
    for (int i = 0; i < 5; ++i) REQUIRE(first.next());
    REQUIRE(publish(s.port(), {{"event", "tock"}}).status == 202);
    REQUIRE(first.next());
    // One sample per live event per stream: six events reached one stream.
    auto h = publish_to_write_reaching(s, 6);
    check_shape(h);
    CHECK(h.count == 6);
    CHECK(h.sum > 0);

    SECTION("a replay is not measured, and every stream an event reaches is") {
        SseClient second(s.port(), "/api/events", {{"Last-Event-ID", std::to_string(ids[0])}});
        for (int i = 0; i < 5; ++i) REQUIRE(second.next());  // four ticks and the tock, replayed
        hub.notify_all("tick", {{"n", 5}});
        REQUIRE(first.next());
        REQUIRE(second.next());
        h = publish_to_write_reaching(s, 8);
        check_shape(h);
        CHECK(h.count == 8);
    }
    SECTION("heartbeats are not events") {
        auto c = test_config();
        c.heartbeat = 10ms;
        TestServer beating(c);
        SseClient client(beating.port(), "/api/events");
        beating.server.hub().notify_all("tick", nullptr);
        REQUIRE(client.next());
        std::this_thread::sleep_for(100ms);  // ten heartbeats or so
        const auto b = publish_to_write_reaching(beating, 1);
        check_shape(b);
        CHECK(b.count == 1);
    }
}

TEST_CASE("LatencyHistogram buckets are inclusive upper bounds") {
    LatencyHistogram h;
    LatencyHistogram::Batch batch;
    batch.add(std::chrono::microseconds(500));    // le 0.0005
    batch.add(std::chrono::microseconds(501));    // le 0.001
    batch.add(std::chrono::seconds(5));           // le 5
    batch.add(std::chrono::seconds(6));           // +Inf
    batch.add(std::chrono::nanoseconds(-1));      // a clock that went back counts as 0
    h.record(batch);
    const auto snap = h.snapshot();
    CHECK(snap.counts[0] == 2);
    CHECK(snap.counts[1] == 1);
    CHECK(snap.counts[12] == 1);
    CHECK(snap.counts[13] == 1);
    CHECK(snap.count() == 5);
    CHECK(snap.sum_ns == 500'000 + 501'000 + 11'000'000'000ULL);
}
