// The server on its SQLite store: what survives a restart, a store that cannot write
// (through the fault VFS, so SQLite's real error path runs), and the files it refuses.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

#include "server_support.hpp"
#include "fault_vfs.hpp"
#include "store/sqlite.hpp"

using namespace ssebus::server;
using namespace test;

namespace {

Config sqlite_config(const std::filesystem::path& dir) {
    auto c = test_config();
    c.store = "sqlite";
    c.data_dir = dir.string();
    return c;
}

std::string start_error(const Config& c) {
    try {
        Server server(c);
        server.start();
    } catch (const ConfigError& e) {
        return e.what();
    }
    return {};
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a restart on the sqlite store loses nothing: events, the latest of each type, videos") {
    TempDir dir;
    std::uint64_t last = 0;
    {
        TestServer s(sqlite_config(dir.path));
        for (int i = 0; i < 5; ++i) {
            const auto r = publish(s.port(), {{"event", "tick"}, {"data", i}});
            REQUIRE(r.status == 202);
            last = r.json()["id"].get<std::uint64_t>();
        }
        REQUIRE(publish(s.port(), {{"event", "video:created"}, {"data", {{"videoId", "v1"}, {"title", "kept"}}}}).status ==
                202);
        CHECK(get(s.port(), "/api/events/stats").json()["store"]["kind"] == "sqlite");
    }
    TestServer s(sqlite_config(dir.path));
    // A client that saw the third event resumes with no gap.
    const auto first = publish(s.port(), {{"event", "after"}, {"data", 0}}).json()["id"].get<std::uint64_t>();
    CHECK(first > last + 1);  // the video:created event came after `last`
    SseClient client(s.port(), "/api/events", {{"Last-Event-ID", std::to_string(last - 2)}});
    std::vector<std::string> names;
    for (int i = 0; i < 4; ++i) {
        const auto e = client.next();
        REQUIRE(e);
        names.push_back(e->name);
    }
    CHECK(names == std::vector<std::string>{"tick", "tick", "video:created", "after"});
    const auto videos = get(s.port(), "/api/videos").json()["videos"];
    REQUIRE(videos.size() == 1);
    CHECK(videos[0]["videoId"] == "v1");
    CHECK(videos[0]["title"] == "kept");
    const auto stats = get(s.port(), "/api/events/stats").json();
    CHECK(stats["store"]["retained"] == 7);
    CHECK(stats["store"]["newest_id"] == first);
    CHECK(stats["history_size"] == 7);
    // The latest of each type is rebuilt for /api/events/stream.
    SseClient latest(s.port(), "/api/events/stream");
    std::set<std::string> types;
    for (int i = 0; i < 3; ++i) {
        const auto e = latest.next();
        REQUIRE(e);
        types.insert(e->json()["type"].get<std::string>());
    }
    CHECK(types == std::set<std::string>{"tick", "video:created", "after"});
}

TEST_CASE("a store that cannot write: 503 with Retry-After, streams stay open, healthz not ready, then recovery") {
    store::fault_vfs::install();
    TempDir dir;
    auto c = sqlite_config(dir.path);
    c.store_vfs = store::fault_vfs::name;
    std::vector<std::uint64_t> acknowledged;
    {
        TestServer s(c);
        SseClient client(s.port(), "/api/events");
        auto ok = publish(s.port(), {{"event", "before"}});
        REQUIRE(ok.status == 202);
        acknowledged.push_back(ok.json()["id"].get<std::uint64_t>());
        REQUIRE(client.next()->name == "before");

        for (const int code : {SQLITE_FULL, SQLITE_IOERR}) {
            INFO(code);
            store::fault_vfs::arm(code);
            const auto refused = publish(s.port(), {{"event", "refused"}});
            CHECK(refused.status == 503);
            CHECK(!refused.header("Retry-After").empty());
            CHECK(refused.json().contains("error"));
            const auto health = get(s.port(), "/healthz");
            CHECK(health.status == 503);
            CHECK(contains(health.json()["reason"].get<std::string>(), "cannot write"));
            CHECK(s.server.hub().stats().store.failed_writes >= 1);
            store::fault_vfs::disarm();
            REQUIRE(eventually([&] { return get(s.port(), "/healthz").status == 200; }));
            const auto again = publish(s.port(), {{"event", "after"}});
            REQUIRE(again.status == 202);
            acknowledged.push_back(again.json()["id"].get<std::uint64_t>());
            // The stream stayed open and gets the next event, and never the refused one.
            const auto e = client.next();
            REQUIRE(e);
            CHECK(e->name == "after");
            CHECK(std::stoull(e->id) == acknowledged.back());
        }
        const auto metrics = get(s.port(), "/metrics").body;
        CHECK(contains(metrics, "ssebus_store_failed_writes_total 2"));
        CHECK(contains(metrics, "ssebus_store_ready 1"));
    }
    store::fault_vfs::disarm();
    // Everything acknowledged is there after a restart, and nothing refused.
    TestServer s(sqlite_config(dir.path));
    SseClient client(s.port(), "/api/events", {{"Last-Event-ID", std::to_string(acknowledged.front() - 1)}});
    for (const auto id : acknowledged) {
        const auto e = client.next();
        REQUIRE(e);
        CHECK(std::stoull(e->id) == id);
        CHECK(e->name != "refused");
    }
    // Nothing else comes before an event published now: no refused event was kept.
    REQUIRE(publish(s.port(), {{"event", "sentinel"}}).status == 202);
    const auto next = client.next();
    REQUIRE(next);
    CHECK(next->name == "sentinel");
}

TEST_CASE("stopping the server while publishers are in flight answers or refuses each of them, and loses no 202") {
    store::fault_vfs::install();
    TempDir dir;
    auto c = sqlite_config(dir.path);
    c.store_vfs = store::fault_vfs::name;
    c.demo = true;  // the demo chains publish too, and are stopped with the rest
    std::mutex mutex;
    std::vector<std::uint64_t> acknowledged;
    {
        TestServer s(c);
        // Slow commits, so that appends are still queued when stop() begins.
        store::fault_vfs::slow_writes(5ms);
        std::atomic<bool> running{true};
        std::atomic<int> answered{0};
        std::vector<std::thread> publishers;
        for (int p = 0; p < 8; ++p)
            publishers.emplace_back([&, p] {
                for (int i = 0; running.load(); ++i) {
                    try {
                        const auto r = publish(s.port(), {{"event", "burst"}, {"data", {{"p", p}, {"i", i}}}});
                        if (r.status == 202) {
                            std::lock_guard lock(mutex);
                            acknowledged.push_back(r.json()["id"].get<std::uint64_t>());
                        }
                        ++answered;
                    } catch (const std::exception&) {
                        // The server is gone: the connection was refused or closed.
                    }
                }
            });
        REQUIRE(eventually([&] { return answered.load() >= 16; }));
        s.server.stop();
        running = false;
        for (auto& t : publishers) t.join();
        store::fault_vfs::slow_writes(0ms);
    }
    REQUIRE_FALSE(acknowledged.empty());
    std::sort(acknowledged.begin(), acknowledged.end());
    TestServer s(sqlite_config(dir.path));
    std::set<std::uint64_t> retained;
    for (const auto& e : s.server.hub().log().read_after(acknowledged.front() - 1, 1'000'000)) retained.insert(e->id());
    for (const auto id : acknowledged) CHECK(retained.count(id) == 1);
}

TEST_CASE("bad files: each is a one-line start error naming the file and what to do") {
    TempDir dir;
    const auto db = dir.path / "events.db";

    SECTION("a data directory that cannot be created") {
        std::ofstream(dir.path / "a-file") << "x";
        const auto e = start_error(sqlite_config(dir.path / "a-file" / "data"));
        CHECK(contains(e, (dir.path / "a-file" / "data").string()));
        CHECK(e.find('\n') == std::string::npos);
    }
    SECTION("a corrupt events.db (garbage bytes)") {
        std::ofstream(db) << std::string(8192, 'g');
        const auto e = start_error(sqlite_config(dir.path));
        CHECK(contains(e, db.string()));
        CHECK(contains(e, "move"));
        CHECK(e.find('\n') == std::string::npos);
        CHECK(std::filesystem::file_size(db) == 8192);  // left as it was
    }
    SECTION("an events.db whose events table is damaged: found at open, not at the first read") {
        {
            TestServer s(sqlite_config(dir.path));
            for (int i = 0; i < 300; ++i)
                REQUIRE(publish(s.port(), {{"event", "tick"}, {"data", std::string(200, 'x')}}).status == 202);
        }
        REQUIRE(std::filesystem::file_size(db) > 8 * 4096);
        {
            // Garbage over pages 4 to 7: b-tree pages of the history, past the schema page.
            std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
            f.seekp(3 * 4096);
            const std::string garbage(4 * 4096, '\xa5');
            f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
        }
        const auto e = start_error(sqlite_config(dir.path));
        CHECK(contains(e, db.string()));
        INFO(e);
        CHECK(contains(e, "move it away"));
        CHECK(e.find('\n') == std::string::npos);
    }
    SECTION("a foreign events.db: a SQLite database of another application") {
        {
            sqlite::Database other(db.string());
            other.exec("CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT)");
        }
        const auto e = start_error(sqlite_config(dir.path));
        CHECK(contains(e, db.string()));
        CHECK(contains(e, "not an ssebus event log"));
    }
    SECTION("an ssebus events.db of another schema version") {
        { TestServer s(sqlite_config(dir.path)); }
        {
            sqlite::Database changed(db.string());
            changed.exec("PRAGMA user_version=99");
        }
        const auto e = start_error(sqlite_config(dir.path));
        CHECK(contains(e, db.string()));
        CHECK(contains(e, "version 99"));
    }
    SECTION("an events.db in use by another running server") {
        TestServer running(sqlite_config(dir.path));
        const auto e = start_error(sqlite_config(dir.path));
        CHECK(contains(e, "events.db.lock"));
        CHECK(contains(e, "another ssebus-server"));
        // The running one is unharmed.
        CHECK(publish(running.port(), {{"event", "still"}}).status == 202);
    }
    SECTION("redis:// with no Redis there: one line naming the flag, the address and what to do") {
        // A port that was free a moment ago: nothing listens on it.
        net::io_context ioc;
        tcp::acceptor probe(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        const auto port = std::to_string(probe.local_endpoint().port());
        probe.close();
        auto c = test_config();
        c.store = "redis://127.0.0.1:" + port;
        const auto e = start_error(c);
        CHECK(contains(e, "--store redis://127.0.0.1:" + port));
        CHECK(contains(e, "cannot reach Redis at 127.0.0.1:" + port));
        CHECK(contains(e, "start redis-server"));
        CHECK(e.find('\n') == std::string::npos);
    }
    SECTION("redis:// with a bad port or database: one line naming the part") {
        auto c = test_config();
        c.store = "redis://127.0.0.1:0";
        CHECK(contains(start_error(c), "the port must be"));
        c.store = "redis://127.0.0.1:6379/zero";
        CHECK(contains(start_error(c), "database number"));
    }
}
