// The event log behind the hub. One contract, run against every kind of store::Log (add a
// Kind to StoreKinds to run it against another): numbering, reads, the latest of each
// type, the window, retention by count and by age, and what survives a reopen. A shared
// log (Redis) numbers with its own clock and trims approximately: its ids increase without
// being dense, and its count may exceed the limit by `trim_slack`.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <atomic>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "config.hpp"
#include "hub.hpp"
#include "server.hpp"
#include "server_support.hpp"
#include "store/event_log.hpp"
#include "fault_vfs.hpp"
#include "redis_server.hpp"
#include "store/sqlite.hpp"

using namespace ssebus::server;
using namespace ssebus::server::store;
using namespace test;

namespace {

struct NoFixture {};

struct MemoryKind {
    static constexpr bool durable = false;
    static constexpr bool dense = true;        // ids are first_id, first_id + 1, ...
    static constexpr std::size_t trim_slack = 0;
    using Fixture = NoFixture;
    static std::unique_ptr<Log> open(const std::filesystem::path&, Retention retention,
                                      std::optional<std::uint64_t> first_id = {}) {
        return make_memory_log(retention, first_id);
    }
};

struct SqliteKind {
    static constexpr bool durable = true;
    static constexpr bool dense = true;
    static constexpr std::size_t trim_slack = 0;
    using Fixture = NoFixture;
    static std::unique_ptr<Log> open(const std::filesystem::path& dir, Retention retention,
                                      std::optional<std::uint64_t> first_id = {}) {
        return make_sqlite_log({.path = (dir / "events.db").string(), .retention = retention, .first_id = first_id});
    }
};

// A redis-server for each run of a test case; the logs of the run use it.
struct RedisKind {
    static constexpr bool durable = true;
    static constexpr bool dense = false;
    // XADD MAXLEN ~ removes whole stream nodes (stream-node-max-entries, 100 by default).
    static constexpr std::size_t trim_slack = 100;
    struct Fixture {
        Fixture() { current = &server; }
        ~Fixture() { current = nullptr; }
        RedisServer server;
    };
    static inline RedisServer* current = nullptr;
    static std::unique_ptr<Log> open(const std::filesystem::path&, Retention retention,
                                      std::optional<std::uint64_t> = {}) {
        auto options = current->options();
        options.retention = retention;
        return make_redis_log(options);
    }
};

// A started log that records what it applies.
struct Started {
    explicit Started(std::unique_ptr<Log> l) : log(std::move(l)) {
        log->start({[this](const EventPtr& e) {
            std::lock_guard lock(mutex);
            applied.push_back(e);
            return std::size_t{0};
        }});
    }
    ~Started() { log->stop(); }

    EventPtr append(std::string name, std::string data = "null") {
        std::promise<EventPtr> done;
        auto committed = done.get_future();
        log->append({.name = std::move(name), .data = std::move(data)}, std::chrono::steady_clock::now(),
                    [&](EventPtr e, std::size_t, const std::string&) { done.set_value(std::move(e)); });
        return committed.get();
    }
    std::vector<std::uint64_t> applied_ids() {
        std::lock_guard lock(mutex);
        std::vector<std::uint64_t> out;
        for (auto& e : applied) out.push_back(e->id());
        return out;
    }

    std::unique_ptr<Log> log;
    std::mutex mutex;
    std::vector<EventPtr> applied;
};

std::vector<std::uint64_t> ids_of(const std::vector<EventPtr>& events) {
    std::vector<std::uint64_t> out;
    for (auto& e : events) out.push_back(e->id());
    return out;
}

std::vector<std::string> names_of(const std::vector<EventPtr>& events) {
    std::vector<std::string> out;
    for (auto& e : events) out.push_back(e->event().name);
    return out;
}

}  // namespace

#define StoreKinds MemoryKind, SqliteKind, RedisKind

TEMPLATE_TEST_CASE("the Log contract", "[store]", StoreKinds) {
    TempDir dir;
    [[maybe_unused]] typename TestType::Fixture fixture;

    SECTION("append numbers events from the first id (a shared log: above it), and applies them in id order before done") {
        Started s(TestType::open(dir.path, {}, 100));
        const auto a = s.append("a", R"({"x":1})");
        const auto b = s.append("b");
        REQUIRE(a);
        REQUIRE(b);
        CHECK(a->id() >= 100);
        CHECK(b->id() > a->id());
        if constexpr (TestType::dense) {
            CHECK(a->id() == 100);
            CHECK(b->id() == 101);
        }
        CHECK(a->event().data == R"({"x":1})");
        CHECK(s.applied_ids() == std::vector<std::uint64_t>{a->id(), b->id()});
    }

    SECTION("appends from many threads: every one committed once, applied in strictly increasing order") {
        Started s(TestType::open(dir.path, {.max_events = 100'000}, 1));
        std::vector<std::thread> threads;
        std::atomic<int> committed{0};
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&] {
                std::vector<std::future<void>> waits;
                for (int i = 0; i < 250; ++i) {
                    auto p = std::make_shared<std::promise<void>>();
                    waits.push_back(p->get_future());
                    s.log->append({.name = "c"}, std::chrono::steady_clock::now(),
                                  [&, p](EventPtr e, std::size_t, const std::string&) {
                                      if (e) ++committed;
                                      p->set_value();
                                  });
                }
                for (auto& w : waits) w.get();
            });
        for (auto& t : threads) t.join();
        CHECK(committed == 1000);
        const auto ids = s.applied_ids();
        REQUIRE(ids.size() == 1000);
        for (std::size_t i = 1; i < ids.size(); ++i) REQUIRE(ids[i] > ids[i - 1]);
        if constexpr (TestType::dense) CHECK(ids.front() == 1);
        if constexpr (TestType::dense) CHECK(ids.back() == 1000);
        CHECK(ids_of(s.log->read_after(0, 2000)) == ids);
    }

    SECTION("read_after gives the events after an id, in order, at most max") {
        Started s(TestType::open(dir.path, {}, 1));
        std::vector<std::uint64_t> ids;
        for (int i = 0; i < 10; ++i) ids.push_back(s.append("e" + std::to_string(i))->id());
        CHECK(ids_of(s.log->read_after(0, 3)) == std::vector<std::uint64_t>(ids.begin(), ids.begin() + 3));
        CHECK(ids_of(s.log->read_after(ids[6], 100)) == std::vector<std::uint64_t>(ids.begin() + 7, ids.end()));
        CHECK(s.log->read_after(ids[9], 100).empty());
        CHECK(ids_of(s.log->newest(2)) == std::vector<std::uint64_t>(ids.begin() + 8, ids.end()));
        CHECK(s.log->read_after(std::numeric_limits<std::uint64_t>::max(), 10).empty());
    }

    SECTION("the window: earliest and newest id, and the count") {
        Started s(TestType::open(dir.path, {}, 50));
        auto w = s.log->window();
        CHECK(w.count == 0);
        CHECK(w.newest == 0);
        if constexpr (TestType::dense) CHECK(w.origin == 50);
        const auto a = s.append("a");
        const auto b = s.append("b");
        w = s.log->window();
        CHECK(w.origin > 0);
        CHECK(w.origin <= a->id());
        CHECK(w.earliest == a->id());
        CHECK(w.newest == b->id());
        CHECK(w.count == 2);
        CHECK(w.dropped_up_to == 0);
    }

    SECTION("the latest of each type, in id order, kept past retention") {
        Started s(TestType::open(dir.path, {.max_events = 2}, 1));
        s.append("a", "1");
        s.append("b", "2");
        s.append("a", "3");
        for (int i = 0; i < 5; ++i) s.append("c", std::to_string(10 + i));
        REQUIRE(eventually([&] { return s.log->window().count <= 2 + TestType::trim_slack; }));
        const auto latest = s.log->latest_per_type();
        CHECK(names_of(latest) == std::vector<std::string>{"b", "a", "c"});
        CHECK(latest[1]->event().data == "3");
        CHECK(latest[2]->event().data == "14");
    }

    SECTION("the latest of each type: at most 1,024 names, the most recent ones") {
        Started s(TestType::open(dir.path, {.max_events = 100'000}, 1));
        for (int i = 0; i < 1'030; ++i) s.append("n" + std::to_string(i));
        REQUIRE(eventually([&] { return s.log->latest_per_type().size() == max_latest_types; }));
        const auto latest = s.log->latest_per_type();
        CHECK(latest.front()->event().name == "n6");
        CHECK(latest.back()->event().name == "n1029");
    }

    SECTION("regression: more than 1,024 events of a few types keep every type's latest") {
        Started s(TestType::open(dir.path, {.max_events = 100'000}, 1));
        for (int i = 0; i < 1'100; ++i) s.append(i % 2 ? "odd" : "even", std::to_string(i));
        s.append("last");
        const auto latest = s.log->latest_per_type();
        CHECK(names_of(latest) == std::vector<std::string>{"even", "odd", "last"});
        CHECK(latest[1]->event().data == "1099");
    }

    SECTION("retention by count keeps the newest events and says what it dropped") {
        Started s(TestType::open(dir.path, {.max_events = 5}, 1));
        std::vector<std::uint64_t> ids;
        for (std::size_t i = 0; i < 12 + TestType::trim_slack; ++i) ids.push_back(s.append("e")->id());
        REQUIRE(eventually([&] {
            const auto w = s.log->window();
            return w.count >= 5 && w.count <= 5 + TestType::trim_slack && w.earliest == ids[ids.size() - w.count];
        }));
        const auto w = s.log->window();
        const auto kept = std::vector<std::uint64_t>(ids.end() - static_cast<std::ptrdiff_t>(w.count), ids.end());
        CHECK(w.newest == ids.back());
        CHECK(w.dropped_up_to == ids[ids.size() - w.count - 1]);
        CHECK(ids_of(s.log->read_after(0, 1'000)) == kept);
        if constexpr (TestType::trim_slack == 0) CHECK(w.count == 5);
    }

    SECTION("retention by age drops events older than the limit") {
        Started s(TestType::open(dir.path, {.max_events = 100, .max_age = std::chrono::seconds(1)}, 1));
        s.append("old");
        const auto old = s.append("old");
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));
        const auto young = s.append("new");
        REQUIRE(eventually([&] { return s.log->window().count == 1; }));
        const auto w = s.log->window();
        CHECK(w.earliest == young->id());
        CHECK(w.dropped_up_to == old->id());
        CHECK(ids_of(s.log->read_after(0, 100)) == std::vector<std::uint64_t>{young->id()});
    }

    SECTION("reopened, a log continues its ids; a durable one keeps its history") {
        std::uint64_t a = 0, b = 0;
        {
            Started s(TestType::open(dir.path, {}, 1));
            a = s.append("a", "1")->id();
            b = s.append("b", "2")->id();
            s.log->put_record("video", "v1", R"({"videoId":"v1"})");
            s.log->put_record("video", "v2", R"({"videoId":"v2"})");
            s.log->put_record("video", "v1", R"({"videoId":"v1","status":"ready"})");
            s.log->put_record("video", "v2", std::nullopt);
        }
        Started s(TestType::open(dir.path, {}));
        if constexpr (TestType::durable) {
            const auto w = s.log->window();
            CHECK(w.count == 2);
            CHECK(w.newest == b);
            CHECK(w.origin > 0);
            CHECK(w.origin <= a);
            if constexpr (TestType::dense) CHECK(w.origin == 1);
            CHECK(names_of(s.log->read_after(0, 10)) == std::vector<std::string>{"a", "b"});
            CHECK(names_of(s.log->latest_per_type()) == std::vector<std::string>{"a", "b"});
            CHECK(s.log->records("video") ==
                  std::vector<std::pair<std::string, std::string>>{{"v1", R"({"videoId":"v1","status":"ready"})"}});
            const auto c = s.append("c");
            CHECK(c->id() > b);
            CHECK(names_of(s.log->read_after(0, 10)) == std::vector<std::string>{"a", "b", "c"});
        } else {
            CHECK(s.log->window().count == 0);
            CHECK(s.log->records("video").empty());
        }
    }
}

TEMPLATE_TEST_CASE("the Log contract: stop() commits what was appended and runs every done", "[store]", StoreKinds) {
    TempDir dir;
    [[maybe_unused]] typename TestType::Fixture fixture;
    auto log = TestType::open(dir.path, {.max_events = 10'000});
    std::mutex mutex;
    std::vector<std::uint64_t> applied, done;
    log->start({[&](const EventPtr& e) {
        std::lock_guard lock(mutex);
        applied.push_back(e->id());
        return std::size_t{0};
    }});
    for (int i = 0; i < 500; ++i)
        log->append({.name = "e", .data = std::to_string(i)}, std::chrono::steady_clock::now(),
                    [&](EventPtr e, std::size_t, const std::string&) {
                        std::lock_guard lock(mutex);
                        if (e) done.push_back(e->id());
                    });
    log->stop();
    {
        // Not held across the append below: the log may call back under a lock of its own.
        std::lock_guard lock(mutex);
        CHECK(done.size() == 500);
        CHECK(done == applied);
        CHECK(std::is_sorted(done.begin(), done.end()));
        CHECK(std::adjacent_find(done.begin(), done.end()) == done.end());
    }
    // After stop, an append is refused at once, with a reason.
    std::string refusal;
    log->append({.name = "late"}, std::chrono::steady_clock::now(),
                [&](EventPtr e, std::size_t, const std::string& error) { refusal = e ? "accepted" : error; });
    CHECK(refusal == "the server is stopping");
}

TEST_CASE("the hub reads replays older than its ring from the log, page by page") {
    TempDir dir;
    for (const bool sqlite : {false, true}) {
        INFO((sqlite ? "sqlite" : "memory"));
        const Retention retention{.max_events = 100'000};
        std::filesystem::create_directories(dir.path / "p");
        Hub hub(HubOptions{.history_size = 100'000, .ring_size = 50, .first_id = 1},
                sqlite ? SqliteKind::open(dir.path / "p", retention, 1) : MemoryKind::open(dir.path, retention, 1));
        for (int i = 0; i < 3'000; ++i) hub.notify_all("e", i);
        struct Sink : Subscriber {
            void deliver(const Frame&, SteadyTime) override {}
            void close(const Frame&) override {}
        };
        auto sub = std::make_shared<Sink>();
        auto subscription = std::make_shared<Subscription>();
        auto replay = hub.replay_first(sub, subscription, 10, 1'000);
        std::vector<std::uint64_t> got;
        auto take = [&](const Replay& r) {
            CHECK(r.frames.size() <= 1'000);
            for (auto& f : r.frames) got.push_back(std::stoull(f->substr(4, f->find('\n') - 4)));
        };
        take(replay);
        int pages = 1;
        while (!replay.attached) {
            replay = hub.replay_more(sub, subscription, replay.after, 1'000);
            take(replay);
            ++pages;
        }
        CHECK(pages >= 3);
        REQUIRE(got.size() == 2'990);
        for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == 11 + i);
        CHECK(hub.stats().events_replayed == 2'990);
        hub.detach(sub.get());
    }
}

TEST_CASE("a replay that selects few events reads one page per call, frames or not") {
    TempDir dir;
    Hub hub(HubOptions{.history_size = 100'000, .ring_size = 10, .first_id = 1},
            SqliteKind::open(dir.path, {.max_events = 100'000}, 1));
    for (int i = 0; i < 3'000; ++i) hub.notify_all("e", i);
    hub.publish(Event{.name = "rare", .data = "1", .stream = "rare"});
    for (int i = 0; i < 100; ++i) hub.notify_all("e", i);
    struct Sink : Subscriber {
        void deliver(const Frame&, SteadyTime) override {}
        void close(const Frame&) override {}
    };
    auto sub = std::make_shared<Sink>();
    auto subscription = std::make_shared<Subscription>(Subscription{.filter = {.global = false, .streams = {"rare"}}});
    auto replay = hub.replay_first(sub, subscription, 0, 1'000);
    // The first page (ids 1..1000) selects nothing, and the call returns after it.
    CHECK(replay.frames.empty());
    CHECK_FALSE(replay.attached);
    CHECK(replay.after == 1'000);
    std::vector<std::string> got;
    int calls = 1;
    while (!replay.attached) {
        replay = hub.replay_more(sub, subscription, replay.after, 1'000);
        for (auto& f : replay.frames) got.push_back(*f);
        ++calls;
    }
    CHECK(calls >= 4);
    REQUIRE(got.size() == 1);
    CHECK(got[0].find("event: rare") != std::string::npos);
    hub.detach(sub.get());
}

TEST_CASE("a stream still catching up is counted, and closed with the others") {
    Hub hub(HubOptions{.history_size = 1'000, .ring_size = 10, .first_id = 1});
    for (int i = 0; i < 100; ++i) hub.notify_all("e", i);
    struct Closable : Subscriber {
        void deliver(const Frame&, SteadyTime) override {}
        void close(const Frame& f) override { closed_with = *f; }
        std::string closed_with;
    };
    auto sub = std::make_shared<Closable>();
    const auto replay = hub.replay_first(sub, std::make_shared<Subscription>(), 0, 10);
    REQUIRE_FALSE(replay.attached);
    CHECK(hub.stats().active_clients == 1);
    CHECK(hub.subscriber_count() == 1);
    hub.close_all("server shutting down");
    CHECK(sub->closed_with == ": server shutting down\n\n");
    hub.detach(sub.get());
    CHECK(hub.stats().active_clients == 0);
}

TEST_CASE("retention between the pages of a replay: the client is told of the gap, not skipped silently") {
    TempDir dir;
    for (const bool sqlite : {false, true}) {
        INFO((sqlite ? "sqlite" : "memory"));
        const Retention retention{.max_events = 20};
        std::filesystem::create_directories(dir.path / "p");
        Hub hub(HubOptions{.history_size = 20, .ring_size = 5, .first_id = 1},
                sqlite ? SqliteKind::open(dir.path / "p", retention, 1) : MemoryKind::open(dir.path, retention, 1));
        for (int i = 0; i < 20; ++i) hub.notify_all("e", i);
        struct Sink : Subscriber {
            void deliver(const Frame&, SteadyTime) override {}
            void close(const Frame&) override {}
        };
        auto sub = std::make_shared<Sink>();
        auto subscription = std::make_shared<Subscription>();
        const auto first = hub.replay_first(sub, subscription, 0, 5);
        REQUIRE_FALSE(first.attached);
        REQUIRE(first.after == 5);
        // Retention removes 1..20 while the client reads its first page.
        for (int i = 0; i < 20; ++i) hub.notify_all("e", i);
        REQUIRE(eventually([&] { return hub.log().window().dropped_up_to >= 20; }));
        const auto next = hub.replay_more(sub, subscription, first.after, 5);
        REQUIRE_FALSE(next.frames.empty());
        const auto& gap = *next.frames.front();
        CHECK(gap.find("event: ssebus:gap") != std::string::npos);
        CHECK(gap.find(R"("requested":5)") != std::string::npos);
        CHECK(gap.find(R"("earliest":21)") != std::string::npos);
        CHECK(hub.stats().gaps_reported == 1);
        hub.detach(sub.get());
    }
}

TEST_CASE("across a restart's id jump, a client that has every event gets no gap") {
    TempDir dir;
    const Retention retention{.max_events = 5};
    {
        Started run(SqliteKind::open(dir.path, retention, 1));
        for (int i = 0; i < 10; ++i) run.append("first-run");
        REQUIRE(eventually([&] { return run.log->window().earliest == 6; }));
    }
    // The next run numbers from 1,000: ids 11..999 were never issued.
    Hub hub(HubOptions{.history_size = 5, .ring_size = 2, .first_id = 1'000}, SqliteKind::open(dir.path, retention, 1'000));
    for (int i = 0; i < 5; ++i) hub.notify_all("second-run", i);
    REQUIRE(eventually([&] { return hub.log().window().earliest == 1'000; }));
    CHECK(hub.log().window().dropped_up_to == 10);
    struct Sink : Subscriber {
        void deliver(const Frame&, SteadyTime) override {}
        void close(const Frame&) override {}
    };
    auto sub = std::make_shared<Sink>();
    // The client saw 10, the last event of the first run: it missed nothing.
    const auto frames = hub.attach(sub, std::make_shared<Subscription>(), 10);
    REQUIRE(frames.size() == 5);
    for (const auto& f : frames) CHECK(f->find("ssebus:gap") == std::string::npos);
    CHECK(hub.stats().gaps_reported == 0);
    hub.detach(sub.get());
}

TEST_CASE("a writer that falls behind: appends past max_pending are refused at once, the others commit") {
    fault_vfs::install();
    TempDir dir;
    auto log = make_sqlite_log({.path = (dir.path / "events.db").string(), .retention = {.max_events = 1'000},
                                .first_id = 1, .batch_max = 1, .vfs = fault_vfs::name, .max_pending = 3});
    log->start({[](const EventPtr&) { return std::size_t{0}; }});
    fault_vfs::slow_writes(20ms);
    std::mutex mutex;
    std::vector<std::uint64_t> committed;
    std::vector<std::string> refused;
    for (int i = 0; i < 20; ++i)
        log->append({.name = "e", .data = "null"}, std::chrono::steady_clock::now(),
                    [&](EventPtr e, std::size_t, const std::string& error) {
                        std::lock_guard lock(mutex);
                        if (e) committed.push_back(e->id());
                        else refused.push_back(error);
                    });
    log->stop();
    fault_vfs::slow_writes(0ms);
    REQUIRE(committed.size() + refused.size() == 20);
    REQUIRE_FALSE(refused.empty());
    CHECK(refused.front().find("behind") != std::string::npos);
    CHECK(committed.size() >= 3);
    log.reset();
    auto reopened = make_sqlite_log({.path = (dir.path / "events.db").string(), .retention = {.max_events = 1'000}});
    CHECK(ids_of(reopened->read_after(0, 100)) == committed);
}

TEST_CASE("a record put in a batch that failed is written with the next batch, not dropped") {
    fault_vfs::install();
    TempDir dir;
    const auto path = (dir.path / "events.db").string();
    {
        Started run(make_sqlite_log({.path = path, .retention = {.max_events = 1'000}, .first_id = 1, .vfs = fault_vfs::name}));
        fault_vfs::arm(SQLITE_FULL);
        run.log->put_record("video", "v1", std::string(R"({"title":"kept"})"));
        CHECK_FALSE(run.append("refused"));
        fault_vfs::disarm();
        REQUIRE(eventually([&] { return run.log->health().ready; }));
        REQUIRE(run.append("accepted"));
    }
    auto reopened = make_sqlite_log({.path = path, .retention = {.max_events = 1'000}});
    const auto records = reopened->records("video");
    REQUIRE(records.size() == 1);
    CHECK(records[0].first == "v1");
    CHECK(records[0].second == R"({"title":"kept"})");
    CHECK(names_of(reopened->read_after(0, 10)) == std::vector<std::string>{"accepted"});
}

TEST_CASE("paged replays race publishing: no gap, no duplicate") {
    TempDir dir;
    Hub hub(HubOptions{.history_size = 100'000, .ring_size = 20, .first_id = 1},
            SqliteKind::open(dir.path, {.max_events = 100'000}, 1));
    for (int i = 0; i < 500; ++i) hub.notify_all("before", i);
    std::atomic<bool> stop{false};
    std::thread publisher([&] {
        while (!stop) hub.notify_all("during", 0);
    });
    struct Recorder : Subscriber {
        void deliver(const Frame& f, SteadyTime) override {
            std::lock_guard lock(mutex);
            frames.push_back(*f);
        }
        void close(const Frame&) override {}
        std::mutex mutex;
        std::vector<std::string> frames;
    };
    for (int round = 0; round < 10; ++round) {
        auto sub = std::make_shared<Recorder>();
        const std::uint64_t from = 1 + static_cast<std::uint64_t>(round) * 37;
        const auto replay = hub.attach(sub, std::make_shared<Subscription>(), from);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        hub.detach(sub.get());
        std::vector<std::uint64_t> got;
        for (auto& f : replay) got.push_back(std::stoull(f->substr(4, f->find('\n') - 4)));
        std::lock_guard lock(sub->mutex);
        for (auto& f : sub->frames) got.push_back(std::stoull(f.substr(4, f.find('\n') - 4)));
        REQUIRE(got.size() >= 500 - from);
        CHECK(got.front() == from + 1);
        for (std::size_t i = 1; i < got.size(); ++i) REQUIRE(got[i] == got[i - 1] + 1);
    }
    stop = true;
    publisher.join();
}
