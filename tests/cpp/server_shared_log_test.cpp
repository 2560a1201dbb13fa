// A log shared by many servers (as Redis is), played by a log whose events the test commits by
// hand: a stream that resumes from an id this server has not applied yet waits for it, then is
// served exactly, or gets 503 and retries; history the log lost reaches every stream as a gap;
// and the test hook that pauses applying.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "server_support.hpp"
#include "store/event_log.hpp"

using namespace test;
using namespace ssebus::server;

namespace {

// The history other servers wrote: events come in only through commit(), which applies them
// as a shared log's read loop would. It takes no appends of its own. Its pages are read on a
// thread of its own, later, as a remote log's are; hold_pages() keeps them until released.
class HandDrivenLog final : public store::Log {
public:
    HandDrivenLog() : reader_([this] { read_pages(); }) {}
    ~HandDrivenLog() override { stop(); }
    std::string_view kind() const noexcept override { return "hand-driven"; }
    std::string_view durability() const noexcept override { return "none"; }
    bool shared() const noexcept override { return true; }
    void start(store::Sink sink) override {
        std::lock_guard lock(mutex_);
        sink_ = std::move(sink);
    }
    // As a real log: no page is answered after stop() (the hub stops its log before it goes).
    void stop() override {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (reader_.joinable()) reader_.join();
    }
    void append(Event, SteadyTime, store::AppendDone done) override {
        if (done) done(nullptr, 0, "this log takes no appends");
    }

    // Another server's event `id`: kept, then applied.
    void commit(std::uint64_t id, std::string name) {
        auto e = std::make_shared<const PublishedEvent>(id, Event{.name = std::move(name)}, now_ms());
        std::lock_guard lock(mutex_);
        history_.push_back(e);
        sink_.apply(e);
    }
    // Another server issued ids up to `id` (window().issued), not applied here yet.
    void issue(std::uint64_t id) {
        std::lock_guard lock(mutex_);
        issued_ = stored_issued_ = id;
    }
    // The same, since this log last read the store: window().issued does not know it yet,
    // read_issued() does.
    void issue_unseen(std::uint64_t id) {
        std::lock_guard lock(mutex_);
        stored_issued_ = id;
    }
    void read_issued(std::function<void(std::uint64_t)> done) override {
        std::uint64_t issued;
        {
            std::lock_guard lock(mutex_);
            issued = std::max(stored_issued_, history_.empty() ? 0 : history_.back()->id());
            issued_ = std::max(issued_, issued);
        }
        done(issued);
    }
    // The log found history gone (Redis lost its data).
    void lose(std::uint64_t requested, std::uint64_t earliest) {
        std::lock_guard lock(mutex_);
        sink_.lost(requested, earliest);
    }
    std::chrono::milliseconds paused() const {
        std::lock_guard lock(mutex_);
        return paused_;
    }
    void hold_pages(bool hold) {
        {
            std::lock_guard lock(mutex_);
            hold_ = hold;
        }
        wake_.notify_all();
    }
    std::size_t pages_waiting() const {
        std::lock_guard lock(mutex_);
        return pending_.size();
    }
    // The most pages asked for and not answered yet, at any moment.
    std::size_t most_pages_in_flight() const {
        std::lock_guard lock(mutex_);
        return most_in_flight_;
    }
    std::size_t pages_read() const {
        std::lock_guard lock(mutex_);
        return pages_read_;
    }

    void read_page(std::uint64_t after, std::size_t max, store::PageDone done) override {
        {
            std::lock_guard lock(mutex_);
            pending_.push_back({after, max, std::move(done)});
            most_in_flight_ = std::max(most_in_flight_, pending_.size() + reading_);
        }
        wake_.notify_all();
    }

    std::vector<EventPtr> read_after(std::uint64_t after, std::size_t max) override {
        std::lock_guard lock(mutex_);
        std::vector<EventPtr> out;
        for (const auto& e : history_)
            if (e->id() > after && out.size() < max) out.push_back(e);
        return out;
    }
    std::vector<EventPtr> newest(std::size_t) override { return {}; }
    std::vector<EventPtr> latest_per_type() override { return {}; }
    store::Window window() override {
        std::lock_guard lock(mutex_);
        if (history_.empty()) return {.issued = issued_};
        return {.earliest = history_.front()->id(), .newest = history_.back()->id(), .count = history_.size(),
                .issued = issued_};
    }
    store::Health health() override { return {}; }
    store::LogStats stats() override { return {}; }
    void put_record(std::string_view, const std::string&, std::optional<std::string>) override {}
    std::vector<std::pair<std::string, std::string>> records(std::string_view) override { return {}; }
    void pause_applying(std::chrono::milliseconds pause) override {
        std::lock_guard lock(mutex_);
        paused_ = pause;
    }

private:
    struct Request {
        std::uint64_t after;
        std::size_t max;
        store::PageDone done;
    };

    void read_pages() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [&] { return stopping_ || (!hold_ && !pending_.empty()); });
            if (stopping_) return;
            auto request = std::move(pending_.front());
            pending_.pop_front();
            ++reading_;
            lock.unlock();
            store::Page page{.events = read_after(request.after, request.max), .window = window()};
            {
                // Answered from here on: the stream may ask for its next page at once.
                std::lock_guard answered(mutex_);
                --reading_;
            }
            request.done(std::move(page));
            lock.lock();
            ++pages_read_;
        }
    }

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    store::Sink sink_;
    std::vector<EventPtr> history_;
    std::uint64_t issued_ = 0, stored_issued_ = 0;
    std::chrono::milliseconds paused_{0};
    std::deque<Request> pending_;
    std::size_t reading_ = 0;
    std::size_t most_in_flight_ = 0;
    std::size_t pages_read_ = 0;
    bool hold_ = false;
    bool stopping_ = false;
    std::thread reader_;  // last: it starts once the rest is built
};

struct SharedServer {
    explicit SharedServer(Config c = test_config()) {
        auto owned = std::make_unique<HandDrivenLog>();
        log = owned.get();
        server.emplace(std::move(c), std::move(owned));
        server->start();
    }
    unsigned short port() const { return server->port(); }
    Hub& hub() { return server->hub(); }
    HandDrivenLog* log;
    std::optional<Server> server;
};

std::vector<std::uint64_t> ids_of(const std::vector<SseEvent>& events) {
    std::vector<std::uint64_t> out;
    for (const auto& e : events)
        if (e.has_id) out.push_back(std::stoull(e.id));
    return out;
}

}  // namespace

TEST_CASE("a shared log: a stream resuming from an id this server has not applied yet") {
    SharedServer s;
    for (std::uint64_t id = 1; id <= 3; ++id) s.log->commit(id, "before");
    s.log->issue(6);  // by another server

    SECTION("waits until the server applies it, then gets exactly what follows") {
        // Ids 4 and 5 were issued by another server; this one applies them while the client waits.
        std::thread other_server([&] {
            if (!eventually([&] { return s.hub().stats().streams_waiting == 1; })) return;
            for (std::uint64_t id = 4; id <= 6; ++id) s.log->commit(id, "later");
        });
        SseClient client(s.port(), "/api/events", {{"Last-Event-ID", "5"}});
        other_server.join();
        CHECK(client.status() == 200);
        const auto e = client.next();
        REQUIRE(e);
        CHECK(e->name == "later");
        CHECK(e->id == "6");
        s.log->commit(7, "live");
        const auto live = client.next();
        REQUIRE(live);
        CHECK(live->id == "7");
        CHECK(s.hub().stats().gaps_reported == 0);
        CHECK(s.hub().stats().lag_waits == 1);
        CHECK(s.hub().stats().streams_waiting == 0);
    }
    SECTION("is refused with 503 and Retry-After when the server does not catch up in time") {
        auto c = test_config();
        c.lag_wait = 50ms;
        SharedServer lagging(c);
        lagging.log->commit(1, "only");
        lagging.log->issue(9);
        const auto reply = get(lagging.port(), "/api/events", {{"Last-Event-ID", "9"}});
        CHECK(reply.status == 503);
        CHECK(reply.header("Retry-After") == "1");
        CHECK(reply.json()["error"] == "this server is behind the others; retry");
        CHECK(lagging.hub().stats().streams_waiting == 0);
        CHECK(lagging.hub().stats().active_clients == 0);
    }
    SECTION("a refused stream gives its user's place back") {
        auto c = test_config();
        c.lag_wait = 20ms;
        c.max_streams_per_user = 1;
        SharedServer one(c);
        one.log->issue(9);
        const auto token = client_token("ana", "s1");
        CHECK(get(one.port(), "/api/events?token=" + token, {{"Last-Event-ID", "9"}}).status == 503);
        SseClient ana(one.port(), "/api/events?token=" + token);
        CHECK(ana.status() == 200);
    }
    SECTION("an id the server has applied is served at once, without waiting") {
        SseClient client(s.port(), "/api/events", {{"Last-Event-ID", "1"}});
        std::vector<SseEvent> got;
        while (got.size() < 2)
            if (auto e = client.next()) got.push_back(*e);
            else break;
        CHECK(ids_of(got) == std::vector<std::uint64_t>{2, 3});
        CHECK(s.hub().stats().lag_waits == 0);
    }
}

TEST_CASE("a shared log: an id another server issued since this one last read the store waits too") {
    auto c = test_config();
    c.lag_wait = 60s;  // the client would time out first
    SharedServer s(c);
    for (std::uint64_t id = 1; id <= 3; ++id) s.log->commit(id, "before");
    s.log->issue(3);
    s.log->issue_unseen(5);  // window().issued still says 3

    std::thread other_server([&] {
        if (!eventually([&] { return s.hub().stats().streams_waiting == 1; })) return;
        for (std::uint64_t id = 4; id <= 6; ++id) s.log->commit(id, "later");
    });
    SseClient client(s.port(), "/api/events", {{"Last-Event-ID", "5"}});
    other_server.join();
    CHECK(client.status() == 200);
    const auto e = client.next();
    REQUIRE(e);
    CHECK(e->name == "later");
    CHECK(e->id == "6");
    CHECK(s.hub().stats().gaps_reported == 0);
}

TEST_CASE("a shared log: an id above the newest any server issued is a gap, without waiting") {
    auto c = test_config();
    c.lag_wait = 60s;  // the client would time out first
    SharedServer s(c);
    for (std::uint64_t id = 1; id <= 3; ++id) s.log->commit(id, "before");
    s.log->issue(5);  // ids 4 and 5 were issued elsewhere; 9 never was

    SseClient client(s.port(), "/api/events", {{"Last-Event-ID", "9"}});
    CHECK(client.status() == 200);
    const auto gap = client.next();
    REQUIRE(gap);
    CHECK(gap->name == "ssebus:gap");
    CHECK(gap->json()["requested"] == 9);
    CHECK(s.hub().stats().streams_waiting == 0);

    SECTION("while an id up to it still waits for this server") {
        auto c = test_config();
        c.lag_wait = 50ms;
        SharedServer lagging(c);
        lagging.log->commit(1, "only");
        lagging.log->issue(5);
        const auto reply = get(lagging.port(), "/api/events", {{"Last-Event-ID", "5"}});
        CHECK(reply.status == 503);
        CHECK(lagging.hub().stats().lag_waits == 1);
    }
}

TEST_CASE("a shared log: stopping the server while a stream waits for an id") {
    auto c = test_config();
    c.lag_wait = 60s;  // only the shutdown ends the wait
    c.max_streams_per_user = 1;
    SharedServer s(c);
    s.log->commit(1, "only");
    s.log->issue(9);
    const auto token = client_token("ana", "s1");
    std::optional<int> status;
    std::thread client([&] {
        try {
            status = get(s.port(), "/api/events?token=" + token, {{"Last-Event-ID", "9"}}).status;
        } catch (const std::exception&) {
        }
    });
    REQUIRE(eventually([&] { return s.hub().stats().streams_waiting == 1; }));
    // The waiting stream counts: the server waits for it to end before it goes.
    CHECK(s.hub().subscriber_count() == 1);
    s.server->stop();
    CHECK(s.hub().stats().streams_waiting == 0);
    CHECK(s.hub().subscriber_count() == 0);
    // The server (and its hub) go while the client may still be reading: nothing of the
    // stream is left to touch the hub after it.
    s.server.reset();
    client.join();
    if (status) CHECK(*status == 503);
}

TEST_CASE("a shared log's ids need not be dense: a client at the event before the ring reads from the ring") {
    auto c = test_config();
    c.history_size = 3;  // the ring: the newest 3 events
    SharedServer s(c);
    for (std::uint64_t id = 10; id <= 50; id += 10) s.log->commit(id, "e");  // the ring: 30, 40, 50
    s.log->hold_pages(true);  // a page read from the log would not be answered

    SseClient client(s.port(), "/api/events", {{"Last-Event-ID", "20"}});
    std::vector<SseEvent> got;
    while (got.size() < 3)
        if (auto e = client.next()) got.push_back(*e);
        else break;
    CHECK(ids_of(got) == std::vector<std::uint64_t>{30, 40, 50});
    CHECK(s.log->pages_waiting() == 0);
    CHECK(s.hub().stats().gaps_reported == 0);

    SECTION("while a client before that still reads the log") {
        s.log->hold_pages(false);
        SseClient older(s.port(), "/api/events", {{"Last-Event-ID", "10"}});
        const auto e = older.next();
        REQUIRE(e);
        CHECK(e->id == "20");
    }
}

TEST_CASE("a replay older than the ring reads its pages from a log that answers later, one page at a time") {
    auto c = test_config();
    c.history_size = 5;  // the ring: the newest 5 events; the rest comes from the log
    SharedServer s(c);
    constexpr std::uint64_t total = 2'500;
    for (std::uint64_t id = 1; id <= total; ++id) s.log->commit(id, "e");

    SECTION("every event once, in order, then live") {
        SseClient client(s.port(), "/api/events", {{"Last-Event-ID", "0"}});
        std::vector<std::uint64_t> got;
        while (got.size() < total)
            if (auto e = client.next()) got.push_back(std::stoull(e->id));
            else break;
        REQUIRE(got.size() == total);
        for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == i + 1);
        s.log->commit(total + 1, "live");
        const auto live = client.next();
        REQUIRE(live);
        CHECK(live->id == std::to_string(total + 1));
        CHECK(s.log->pages_read() >= 3);
        CHECK(s.log->most_pages_in_flight() == 1);
    }
    SECTION("a stream that ends while its page is read ignores the page, and stays detached") {
        s.log->hold_pages(true);
        {
            SseClient client(s.port(), "/api/events", {{"Last-Event-ID", "0"}});
            REQUIRE(eventually([&] { return s.log->pages_waiting() == 1; }));
            CHECK(s.hub().subscriber_count() == 1);
        }
        REQUIRE(eventually([&] { return s.hub().subscriber_count() == 0; }));
        s.log->hold_pages(false);
        REQUIRE(eventually([&] { return s.log->pages_read() == 1; }));
        CHECK(s.hub().subscriber_count() == 0);
        CHECK(s.hub().stats().active_clients == 0);
        SseClient next(s.port(), "/api/events", {{"Last-Event-ID", std::to_string(total - 2)}});
        const auto e = next.next();
        REQUIRE(e);
        CHECK(e->id == std::to_string(total - 1));
    }
}

TEST_CASE("a log that is not shared: an id not issued yet is a gap, at once") {
    auto c = test_config();
    c.first_id = 1;
    TestServer s(c);
    publish(s.port(), {{"event", "one"}});
    SseClient client(s.port(), "/api/events", {{"Last-Event-ID", "50"}});
    CHECK(client.status() == 200);
    const auto gap = client.next();
    REQUIRE(gap);
    CHECK(gap->name == "ssebus:gap");
    CHECK(gap->json() == nlohmann::json{{"requested", 50}, {"earliest", 1}});
    CHECK(s.server.hub().stats().lag_waits == 0);
}

TEST_CASE("history the log lost reaches every open stream as ssebus:gap") {
    SharedServer s;
    for (std::uint64_t id = 1; id <= 3; ++id) s.log->commit(id, "before");
    SseClient a(s.port(), "/api/events");
    SseClient b(s.port(), "/api/v1/events/stream/default");
    REQUIRE(eventually([&] { return s.hub().stats().active_clients == 2; }));
    s.log->lose(3, 100);
    for (auto* client : {&a, &b}) {
        const auto gap = client->next();
        REQUIRE(gap);
        CHECK(gap->name == "ssebus:gap");
        CHECK(gap->json() == nlohmann::json{{"requested", 3}, {"earliest", 100}});
    }
    CHECK(s.hub().stats().gaps_reported == 2);
    s.log->commit(100, "after");
    const auto next = a.next();
    REQUIRE(next);
    CHECK(next->id == "100");

    SECTION("and a client resuming from before it is told too, then served from after it") {
        SseClient late(s.port(), "/api/events", {{"Last-Event-ID", "2"}});
        const auto gap = late.next();
        REQUIRE(gap);
        CHECK(gap->name == "ssebus:gap");
        CHECK(gap->json()["requested"] == 2);
        const auto e = late.next();
        REQUIRE(e);
        CHECK(e->id == "100");
    }
}

TEST_CASE("the test hook pauses the log's applying, only when SSEBUS_TEST_HOOKS is on") {
    const std::map<std::string, std::string> key{{"Authorization", "Bearer " + publisher_key}};
    SECTION("off: there is no such route") {
        SharedServer s;
        CHECK(request(s.port(), http::verb::post, "/api/_test/pause-applying?ms=100", {}, key).status == 404);
        CHECK(s.log->paused() == 0ms);
    }
    SECTION("on: 202 with the pause, the publisher key required") {
        auto c = test_config();
        c.test_hooks = true;
        SharedServer s(c);
        CHECK(request(s.port(), http::verb::post, "/api/_test/pause-applying?ms=100").status == 401);
        CHECK(request(s.port(), http::verb::post, "/api/_test/pause-applying?ms=soon", {}, key).status == 400);
        const auto reply = request(s.port(), http::verb::post, "/api/_test/pause-applying?ms=1500", {}, key);
        CHECK(reply.status == 202);
        CHECK(reply.json() == nlohmann::json{{"paused_ms", 1500}});
        CHECK(s.log->paused() == 1500ms);
    }
}
