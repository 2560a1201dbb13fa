// The Redis log beyond the contract every log keeps: one sequence across servers, the
// previous-id chain, Redis going away and coming back, a lagging server, and --store URLs.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "config.hpp"
#include "redis_server.hpp"
#include "server_support.hpp"
#include "store/event_log.hpp"

using namespace ssebus::server;
using namespace ssebus::server::store;
using namespace test;

namespace {

// A started Redis log that records what it applies and what it was told was lost.
struct Instance {
    explicit Instance(RedisOptions options) : log(make_redis_log(std::move(options))) {
        log->start({.apply =
                        [this](const EventPtr& e) {
                            std::lock_guard lock(mutex);
                            applied.push_back(e);
                            return std::size_t{1};
                        },
                    .lost =
                        [this](std::uint64_t requested, std::uint64_t earliest) {
                            std::lock_guard lock(mutex);
                            lost.emplace_back(requested, earliest);
                        }});
    }
    ~Instance() { log->stop(); }

    struct Result {
        EventPtr event;
        std::size_t delivered = 0;
        std::string error;
    };
    std::future<Result> append_async(std::string name, std::string data = "null") {
        auto p = std::make_shared<std::promise<Result>>();
        auto f = p->get_future();
        log->append({.name = std::move(name), .data = std::move(data)}, std::chrono::steady_clock::now(),
                    [p](EventPtr e, std::size_t delivered, const std::string& error) {
                        p->set_value({std::move(e), delivered, error});
                    });
        return f;
    }
    Result append(std::string name, std::string data = "null") { return append_async(std::move(name), std::move(data)).get(); }

    std::vector<std::uint64_t> applied_ids() {
        std::lock_guard lock(mutex);
        std::vector<std::uint64_t> out;
        for (auto& e : applied) out.push_back(e->id());
        return out;
    }
    std::size_t applied_count() {
        std::lock_guard lock(mutex);
        return applied.size();
    }

    std::unique_ptr<Log> log;
    std::mutex mutex;
    std::vector<EventPtr> applied;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> lost;
};

std::vector<std::uint64_t> ids_of(const std::vector<EventPtr>& events) {
    std::vector<std::uint64_t> out;
    for (auto& e : events) out.push_back(e->id());
    return out;
}

}  // namespace

TEST_CASE("redis: two servers appending at once apply the same events, in the same order, with the same ids",
          "[store][redis]") {
    RedisServer redis;
    Instance a(redis.options()), b(redis.options());
    auto publish = [](Instance& on, std::string name, std::vector<std::uint64_t>& acked) {
        std::vector<std::future<Instance::Result>> waits;
        for (int i = 0; i < 500; ++i) waits.push_back(on.append_async(name, std::to_string(i)));
        // No Catch2 macro on these threads: a refused append is an id of 0, checked below.
        for (auto& w : waits) {
            auto r = w.get();
            acked.push_back(r.event ? r.event->id() : 0);
        }
    };
    std::vector<std::uint64_t> acked_a, acked_b;
    std::thread ta([&] { publish(a, "from-a", acked_a); });
    std::thread tb([&] { publish(b, "from-b", acked_b); });
    ta.join();
    tb.join();
    REQUIRE(std::count(acked_a.begin(), acked_a.end(), 0u) == 0);
    REQUIRE(std::count(acked_b.begin(), acked_b.end(), 0u) == 0);
    REQUIRE(eventually([&] { return a.applied_count() == 1'000 && b.applied_count() == 1'000; }, 10s));
    const auto ids = a.applied_ids();
    CHECK(ids == b.applied_ids());
    for (std::size_t i = 1; i < ids.size(); ++i) REQUIRE(ids[i] > ids[i - 1]);
    // Each server's acknowledged ids are among them, and it applied its own events in order.
    CHECK(std::is_sorted(acked_a.begin(), acked_a.end()));
    CHECK(std::is_sorted(acked_b.begin(), acked_b.end()));
    for (auto id : acked_a) REQUIRE(std::binary_search(ids.begin(), ids.end(), id));
    for (auto id : acked_b) REQUIRE(std::binary_search(ids.begin(), ids.end(), id));
    std::lock_guard la(a.mutex), lb(b.mutex);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        REQUIRE(a.applied[i]->event().name == b.applied[i]->event().name);
        REQUIRE(a.applied[i]->event().data == b.applied[i]->event().data);
        REQUIRE(a.applied[i]->timestamp_ms() == b.applied[i]->timestamp_ms());
    }
    CHECK(a.lost.empty());
    CHECK(b.lost.empty());
}

TEST_CASE("redis: an acknowledged append has been applied, and reports how many streams got it", "[store][redis]") {
    RedisServer redis;
    Instance a(redis.options());
    const auto r = a.append("e", R"({"k":"v"})");
    REQUIRE(r.event);
    CHECK(r.delivered == 1);
    CHECK(r.event->event().data == R"({"k":"v"})");
    CHECK(a.applied_ids() == std::vector<std::uint64_t>{r.event->id()});
    CHECK(a.log->kind() == "redis");
    CHECK(a.log->shared());
    CHECK(a.log->durability() == "none");
    CHECK(a.log->stats().events_committed == 1);
}

TEST_CASE("redis: with appendonly yes and appendfsync always, a commit survives a power loss", "[store][redis]") {
    RedisServer redis(true);
    Instance a(redis.options());
    CHECK(a.log->durability() == "power loss");
}

TEST_CASE("redis: FLUSHALL while running breaks the previous-id chain: lost() is called", "[store][redis]") {
    RedisServer redis;
    Instance a(redis.options());
    const auto first = a.append("before");
    REQUIRE(first.event);
    REQUIRE(redis.cli("FLUSHALL") == "OK");
    const auto second = a.append("after");
    REQUIRE(second.event);
    REQUIRE(eventually([&] {
        std::lock_guard lock(a.mutex);
        return !a.lost.empty();
    }));
    std::lock_guard lock(a.mutex);
    REQUIRE(a.lost.size() == 1);
    CHECK(a.lost[0].first == first.event->id());
    CHECK(a.lost[0].second == second.event->id());
    CHECK(a.applied.back()->id() == second.event->id());
}

TEST_CASE("redis: killed, appends are refused and health says why; restarted with AOF, nothing acknowledged is lost",
          "[store][redis]") {
    RedisServer redis(true);
    Instance a(redis.options());
    std::vector<std::uint64_t> acked;
    for (int i = 0; i < 50; ++i) {
        auto r = a.append("e", std::to_string(i));
        REQUIRE(r.event);
        acked.push_back(r.event->id());
    }
    redis.kill();
    REQUIRE(eventually([&] { return !a.log->health().ready; }));
    CHECK(a.log->health().reason.rfind("redis: ", 0) == 0);
    const auto refused = a.append("while-down");
    CHECK_FALSE(refused.event);
    CHECK(refused.error.rfind("redis: ", 0) == 0);
    CHECK(a.log->stats().failed_writes >= 1);

    redis.start();
    REQUIRE(eventually([&] { return a.log->health().ready; }, 10s));
    const auto after = a.append("after");
    REQUIRE(after.event);
    CHECK(after.event->id() > acked.back());
    acked.push_back(after.event->id());
    CHECK(ids_of(a.log->read_after(0, 1'000)) == acked);
    std::lock_guard lock(a.mutex);
    CHECK(a.lost.empty());
}

TEST_CASE("redis: Redis unreachable at start is a ConfigError naming the address", "[store][redis]") {
    unsigned short port;
    {
        RedisServer redis;
        port = redis.port();
    }
    try {
        make_redis_log({.host = "127.0.0.1", .port = port});
        FAIL("make_redis_log did not throw");
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        CHECK(what.find("cannot reach Redis at 127.0.0.1:" + std::to_string(port)) != std::string::npos);
        CHECK(what.find("start redis-server or fix --store") != std::string::npos);
    }
}

TEST_CASE("redis: a server whose applying is paused applies others' events only after the pause", "[store][redis]") {
    RedisServer redis;
    Instance lagging(redis.options()), other(redis.options());
    lagging.log->pause_applying(3s);
    const auto r = other.append("e");
    REQUIRE(r.event);
    // The other server acknowledged it, so it is in Redis; the paused one has not applied it.
    CHECK(lagging.applied_count() == 0);
    REQUIRE(eventually([&] { return lagging.applied_count() == 1; }, 10s));
    CHECK(lagging.applied_ids() == std::vector<std::uint64_t>{r.event->id()});
}

TEST_CASE("redis: a lagging server's window knows the newest id another server issued", "[store][redis]") {
    RedisServer redis;
    Instance lagging(redis.options()), other(redis.options());
    lagging.log->pause_applying(60s);
    const auto r = other.append("e");
    REQUIRE(r.event);
    CHECK(other.log->window().issued >= r.event->id());
    REQUIRE(eventually([&] { return lagging.log->window().issued >= r.event->id(); }));
    CHECK(lagging.log->window().newest < r.event->id());
    CHECK(lagging.applied_count() == 0);
}

TEST_CASE("redis: read_issued asks Redis for the newest id issued, which the window may not know yet", "[store][redis]") {
    RedisServer redis;
    Instance lagging(redis.options()), other(redis.options());
    lagging.log->pause_applying(60s);
    const auto before = lagging.log->window().issued;
    const auto r = other.append("e");
    REQUIRE(r.event);
    const auto read = [&](Log& log) {
        auto p = std::make_shared<std::promise<std::uint64_t>>();
        auto f = p->get_future();
        log.read_issued([p](std::uint64_t issued) { p->set_value(issued); });
        REQUIRE(f.wait_for(5s) == std::future_status::ready);
        return f.get();
    };
    CHECK(read(*lagging.log) == r.event->id());
    CHECK(lagging.log->window().issued >= r.event->id());
    CHECK(lagging.log->window().newest < r.event->id());
    CHECK(before < r.event->id());

    SECTION("stopped, it cannot tell: 0, at once") {
        lagging.log->stop();
        std::uint64_t issued = 1;
        lagging.log->read_issued([&](std::uint64_t i) { issued = i; });
        CHECK(issued == 0);
    }
}

TEST_CASE("redis: appends committed and not applied count as pending, and are acknowledged at stop", "[store][redis]") {
    RedisServer redis;
    auto options = redis.options();
    options.max_pending = 10;
    Instance a(options);
    a.log->pause_applying(60s);
    std::vector<std::future<Instance::Result>> waits;
    for (int i = 0; i < 10; ++i) waits.push_back(a.append_async("e", std::to_string(i)));
    REQUIRE(eventually([&] { return a.log->stats().events_committed == 10; }));
    CHECK(redis.cli("XLEN ssebus:test") == "10");
    // Committed, none is answered while applying is paused: the next is refused at once (inline).
    auto over = a.append_async("over");
    REQUIRE(over.wait_for(0s) == std::future_status::ready);
    const auto refused = over.get();
    CHECK_FALSE(refused.event);
    CHECK(refused.error.find("behind") != std::string::npos);
    CHECK(a.applied_count() == 0);
    // Redis committed them: stopping acknowledges them (applied nowhere), never refuses them
    // (a publisher would send them again).
    a.log->stop();
    for (int i = 0; i < 10; ++i) {
        const auto r = waits[static_cast<std::size_t>(i)].get();
        REQUIRE(r.error.empty());
        REQUIRE(r.event);
        CHECK(r.delivered == 0);
        CHECK(r.event->event().data == std::to_string(i));
    }
}

TEST_CASE("redis: restarted without its data, the history a server applied is reported lost", "[store][redis]") {
    RedisServer redis;  // no AOF, no snapshots: a restart starts empty
    Instance a(redis.options());
    const auto first = a.append("before");
    REQUIRE(first.event);
    redis.kill();
    REQUIRE(eventually([&] { return !a.log->health().ready; }));
    redis.start();
    REQUIRE(eventually([&] { return a.log->health().ready; }, 10s));
    {
        std::lock_guard lock(a.mutex);
        REQUIRE(a.lost.size() == 1);
        CHECK(a.lost[0].first == first.event->id());
        CHECK(a.lost[0].second > first.event->id());
    }
    const auto after = a.append("after");
    REQUIRE(after.event);
    CHECK(after.event->id() > first.event->id());
    std::lock_guard lock(a.mutex);
    CHECK(a.lost.size() == 1);
}

TEST_CASE("redis: read_page after stop answers with an error", "[store][redis]") {
    RedisServer redis;
    Instance a(redis.options());
    a.log->stop();
    std::promise<Page> p;
    auto f = p.get_future();
    a.log->read_page(0, 10, [&](Page page) { p.set_value(std::move(page)); });
    REQUIRE(f.wait_for(0s) == std::future_status::ready);
    CHECK_FALSE(f.get().error.empty());
}

TEST_CASE("redis: read_page over a trimmed history reports what was dropped", "[store][redis]") {
    RedisServer redis;
    auto options = redis.options();
    options.retention.max_events = 5;
    Instance a(options);
    std::vector<std::future<Instance::Result>> waits;
    for (int i = 0; i < 400; ++i) waits.push_back(a.append_async("e"));
    // More in flight than retention keeps: some are trimmed before the loop reads them, and
    // still acknowledged (they were committed).
    std::vector<std::uint64_t> ids;
    for (auto& w : waits) {
        const auto r = w.get();
        REQUIRE(r.event);
        ids.push_back(r.event->id());
    }
    REQUIRE(eventually([&] { return a.log->window().earliest > ids.front(); }));
    auto read_page = [&](std::uint64_t after) {
        std::promise<Page> p;
        auto f = p.get_future();
        a.log->read_page(after, 10, [&](Page page) { p.set_value(std::move(page)); });
        return f.get();
    };
    const auto trimmed = read_page(ids.front());
    REQUIRE(trimmed.error.empty());
    REQUIRE_FALSE(trimmed.events.empty());
    CHECK(trimmed.window.dropped_up_to > ids.front());
    CHECK(trimmed.events.front()->id() == a.log->window().earliest);
    const auto newest = read_page(ids.back());
    CHECK(newest.error.empty());
    CHECK(newest.events.empty());
    CHECK(newest.window.dropped_up_to < ids.back());
    const auto last_two = read_page(ids[ids.size() - 3]);
    CHECK(ids_of(last_two.events) == std::vector<std::uint64_t>(ids.end() - 2, ids.end()));
    CHECK(last_two.window.dropped_up_to < ids[ids.size() - 3]);
}

TEST_CASE("redis: records put on one server reach the others' watchers", "[store][redis]") {
    RedisServer redis;
    Instance a(redis.options()), b(redis.options());
    std::mutex mutex;
    Log::Records seen;
    a.log->watch_records("video", [&](Log::Records records) {
        std::lock_guard lock(mutex);
        seen = std::move(records);
    });
    b.log->put_record("video", "v1", R"({"videoId":"v1"})");
    b.log->put_record("video", "v2", R"({"videoId":"v2"})");
    b.log->put_record("video", "v1", R"({"videoId":"v1","status":"ready"})");
    const Log::Records expected{{"v1", R"({"videoId":"v1","status":"ready"})"}, {"v2", R"({"videoId":"v2"})"}};
    REQUIRE(eventually([&] {
        std::lock_guard lock(mutex);
        return seen == expected;
    }));
    CHECK(a.log->records("video") == expected);
    b.log->put_record("video", "v2", std::nullopt);
    REQUIRE(eventually([&] {
        std::lock_guard lock(mutex);
        return seen.size() == 1;
    }));
}

TEST_CASE("redis: --store URLs", "[store][redis][config]") {
    SECTION("host and port, database and key") {
        const auto o = parse_redis_url("redis://10.0.0.5:6380/2?key=app:events");
        CHECK(o.host == "10.0.0.5");
        CHECK(o.port == 6380);
        CHECK(o.db == 2);
        CHECK(o.key == "app:events");
    }
    SECTION("defaults: port 6379, database 0, key ssebus:events") {
        const auto o = parse_redis_url("redis://localhost");
        CHECK(o.host == "localhost");
        CHECK(o.port == 6379);
        CHECK(o.db == 0);
        CHECK(o.key == "ssebus:events");
        CHECK(parse_redis_url("redis://127.0.0.1:6379/").db == 0);
    }
    SECTION("what is wrong is named, with an example") {
        auto error_of = [](std::string_view url) {
            try {
                parse_redis_url(url);
            } catch (const ConfigError& e) {
                return std::string(e.what());
            }
            return std::string("no error");
        };
        CHECK(error_of("http://127.0.0.1:6379").find("scheme") != std::string::npos);
        CHECK(error_of("redis://127.0.0.1:99999").find("port") != std::string::npos);
        CHECK(error_of("redis://127.0.0.1:0").find("port") != std::string::npos);
        CHECK(error_of("redis://127.0.0.1:6379/x").find("database number") != std::string::npos);
        CHECK(error_of("redis://127.0.0.1:6379/1/2").find("database number") != std::string::npos);
        CHECK(error_of("redis://127.0.0.1:6379?key=").find("key=") != std::string::npos);
        CHECK(error_of("redis://127.0.0.1:6379?db=1").find("unknown parameter 'db'") != std::string::npos);
        CHECK(error_of("redis://:6379").find("host") != std::string::npos);
        CHECK(error_of("redis://127.0.0.1:6379").find("e.g. redis://") == std::string::npos);
        CHECK(error_of("redis://127.0.0.1:6379/x").find("e.g. redis://127.0.0.1:6379/0?key=ssebus:events") !=
              std::string::npos);
    }
}
