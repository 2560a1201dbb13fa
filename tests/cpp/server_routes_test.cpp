// The server's routes, through HTTP, against a server started in-process on port 0.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "mux.hpp"
#include "server_support.hpp"

using namespace test;
using ssebus::server::Config;

TEST_CASE("service routes") {
    TestServer s;

    SECTION("GET /healthz answers ok") {
        const auto r = get(s.port(), "/healthz");
        CHECK(r.status == 200);
        CHECK(r.json()["status"] == "ok");
    }
    SECTION("GET /metrics is Prometheus text") {
        publish(s.port(), {{"event", "video:created"}, {"data", {{"videoId", "v1"}}}});
        const auto r = get(s.port(), "/metrics");
        CHECK(r.status == 200);
        CHECK(r.header("Content-Type").rfind("text/plain", 0) == 0);
        CHECK(r.body.find("# TYPE ssebus_active_clients gauge\nssebus_active_clients 0\n") != std::string::npos);
        CHECK(r.body.find("ssebus_events_published_total 1\n") != std::string::npos);
        CHECK(r.body.find("ssebus_slow_clients_disconnected_total 0\n") != std::string::npos);
    }
    SECTION("GET /api/events/stats counts clients and events") {
        SseClient c(s.port(), "/api/events");
        publish(s.port(), {{"event", "a"}});
        publish(s.port(), {{"event", "b"}});
        const auto stats = get(s.port(), "/api/events/stats").json();
        CHECK(stats["active_clients"] == 1);
        CHECK(stats["total_events_broadcast"] == 2);
    }
    SECTION("an unknown route is 404 with a JSON error") {
        const auto r = get(s.port(), "/api/nothing");
        CHECK(r.status == 404);
        CHECK(r.header("Content-Type") == "application/json");
        CHECK(r.json()["error"] == "no route /api/nothing");
    }
    SECTION("a wrong method is 405 with a JSON error") {
        const auto r = request(s.port(), http::verb::delete_, "/api/events");
        CHECK(r.status == 405);
        CHECK(r.json()["error"] == "use GET, POST on /api/events");
    }
    SECTION("without a static directory, / is the built-in page") {
        const auto r = get(s.port(), "/");
        CHECK(r.status == 200);
        CHECK(r.header("Content-Type") == "text/html; charset=utf-8");
        CHECK(r.body.find("new EventSource") != std::string::npos);
    }
}

TEST_CASE("the route table: the first pattern that matches decides, its methods or 405") {
    TestServer plain;
    auto c = test_config();
    c.demo = true;
    TestServer demo(c);
    auto status = [](const TestServer& s, http::verb method, const std::string& target) {
        return request(s.port(), method, target).status;
    };
    auto error = [](const TestServer& s, http::verb method, const std::string& target) {
        return request(s.port(), method, target).json()["error"].get<std::string>();
    };
    CHECK(error(plain, http::verb::get, "/videos/v1/process") == "use POST on /videos/v1/process");
    CHECK(error(plain, http::verb::post, "/healthz") == "use GET, HEAD on /healthz");
    CHECK(error(plain, http::verb::put, "/api/sse-test") == "use GET, POST on /api/sse-test");
    CHECK(error(plain, http::verb::delete_, "/api/v1/events/stream/a/start") == "use POST on /api/v1/events/stream/a/start");
    // Parameters are whole segments: one more or one fewer is another route.
    CHECK(error(plain, http::verb::get, "/api/v1/events/stream/a/b/c") == "no route /api/v1/events/stream/a/b/c");
    CHECK(error(plain, http::verb::post, "/api/v1/events") == "no route /api/v1/events");
    // Demo routes do not exist without --demo, whatever the method.
    CHECK(status(plain, http::verb::get, "/api/login") == 404);
    CHECK(status(plain, http::verb::post, "/api/demo/config") == 404);
    CHECK(error(demo, http::verb::get, "/api/login") == "use POST on /api/login");
    CHECK(status(demo, http::verb::get, "/api/demo/config") == 200);
    // Under /api/ an unknown path is 404 for every method; elsewhere it is the web demo's.
    CHECK(status(plain, http::verb::delete_, "/api") == 404);
    CHECK(status(plain, http::verb::post, "/api/") == 404);
    CHECK(error(plain, http::verb::post, "/videos/v1") == "use GET, HEAD on /videos/v1");
    CHECK(status(plain, http::verb::get, "/videos/v1/process/more") == 404);  // no file, no built-in page
}

TEST_CASE("static files of the web demo") {
    namespace fs = std::filesystem;
    const auto root = fs::temp_directory_path() / ("ssebus-static-" + std::to_string(::getpid()));
    fs::create_directories(root / "assets");
    std::ofstream(root / "index.html") << "<!doctype html><title>demo</title>";
    std::ofstream(root / "assets" / "app-1234.js") << "console.log(1)";
    std::ofstream(root.parent_path() / "ssebus-secret.txt") << "secret";
    auto c = test_config();
    c.static_dir = root.string();
    TestServer s(c);

    SECTION("files are served with their MIME type") {
        const auto r = get(s.port(), "/assets/app-1234.js");
        CHECK(r.status == 200);
        CHECK(r.header("Content-Type") == "text/javascript; charset=utf-8");
        CHECK(r.header("Cache-Control").find("immutable") != std::string::npos);
        CHECK(r.body == "console.log(1)");
    }
    SECTION("/ is index.html, and so is a client-side route") {
        CHECK(get(s.port(), "/").body == "<!doctype html><title>demo</title>");
        CHECK(get(s.port(), "/videos/list").body == "<!doctype html><title>demo</title>");
    }
    SECTION("a missing asset is 404") {
        CHECK(get(s.port(), "/assets/missing.js").status == 404);
    }
    SECTION("a path that escapes the root is 404") {
        CHECK(get(s.port(), "/../ssebus-secret.txt").status == 404);
        CHECK(get(s.port(), "/%2e%2e/ssebus-secret.txt").status == 404);
        CHECK(get(s.port(), "/assets/%2e%2e/%2e%2e/ssebus-secret.txt").status == 404);
        CHECK(get(s.port(), "/%2e%2e%2fssebus-secret.txt").status == 404);
    }
    SECTION("regression: a symlink out of the root is not followed through a missing directory") {
        // weakly_canonical() resolved links only in the existing part of the path, so
        // "missing/../out" was left as the link and served what it points to.
        fs::create_directories(root.parent_path() / ("ssebus-outside-" + std::to_string(::getpid())));
        std::ofstream(root.parent_path() / ("ssebus-outside-" + std::to_string(::getpid())) / "index.html") << "outside";
        fs::create_directory_symlink(root.parent_path() / ("ssebus-outside-" + std::to_string(::getpid())), root / "out");
        fs::create_symlink(root.parent_path() / "ssebus-secret.txt", root / "assets" / "secret.js");
        CHECK(get(s.port(), "/missing/../out/index.html").status == 404);
        CHECK(get(s.port(), "/missing/%2e%2e/out/index.html").status == 404);
        CHECK(get(s.port(), "/out/").body == "<!doctype html><title>demo</title>");  // the app's route, not the link
        CHECK(get(s.port(), "/assets/secret.js").status == 404);
        fs::remove_all(root.parent_path() / ("ssebus-outside-" + std::to_string(::getpid())));
    }
    fs::remove_all(root);
    fs::remove(root.parent_path() / "ssebus-secret.txt");
}

TEST_CASE("a Server-Sent Events stream") {
    auto c = test_config();
    c.heartbeat = 100ms;
    c.retry_ms = 1234;
    TestServer s(c);

    SECTION("has the headers proxies and browsers need") {
        SseClient client(s.port(), "/api/events");
        CHECK(client.status() == 200);
        CHECK(client.header("Content-Type") == "text/event-stream");
        CHECK(client.header("Cache-Control") == "no-cache");
        CHECK(client.header("X-Accel-Buffering") == "no");
    }
    SECTION("starts with retry: and a comment, then sends heartbeat comments") {
        SseClient client(s.port(), "/api/events");
        client.drain(350ms);
        CHECK(client.retry() == 1234);
        CHECK(client.raw().rfind("retry: 1234\n: ssebus stream open\n\n", 0) == 0);
        CHECK(std::count(client.comments().begin(), client.comments().end(), "heartbeat") >= 2);
    }
    SECTION("frames each event as id, event and one line of JSON") {
        SseClient client(s.port(), "/api/events");
        const auto r = publish(s.port(), {{"event", "video:created"}, {"data", {{"videoId", "v1"}, {"title", "a\nb"}}}});
        REQUIRE(r.status == 202);
        const auto id = r.json()["id"].get<std::uint64_t>();
        CHECK(r.json()["delivered"] == 1);
        const auto e = client.next();
        REQUIRE(e);
        CHECK(e->id == std::to_string(id));
        CHECK(e->name == "video:created");
        CHECK(e->json() == nlohmann::json{{"videoId", "v1"}, {"title", "a\nb"}});
        CHECK(client.raw().find("data: {\"title\":\"a\\nb\",\"videoId\":\"v1\"}\n\n") != std::string::npos);
    }
    SECTION("ids strictly increase and start above the clock in microseconds") {
        using namespace std::chrono;
        const auto before = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
        SseClient client(s.port(), "/api/events");
        std::uint64_t last = 0;
        for (int i = 0; i < 20; ++i) publish(s.port(), {{"event", "tick"}, {"data", i}});
        for (int i = 0; i < 20; ++i) {
            const auto e = client.next();
            REQUIRE(e);
            const auto id = std::stoull(e->id);
            CHECK(id > last);
            CHECK(e->data == std::to_string(i));
            last = id;
        }
        CHECK(last > static_cast<std::uint64_t>(before) - 60'000'000);  // seeded from the clock at start
    }
    SECTION("a per-event retry travels with the event") {
        SseClient client(s.port(), "/api/events");
        publish(s.port(), {{"event", "x"}, {"retry", 5000}});
        REQUIRE(client.next());
        CHECK(client.retry() == 5000);
    }
    SECTION("?streams= selects named streams; global events reach everyone") {
        SseClient global(s.port(), "/api/events");
        SseClient alpha(s.port(), "/api/events?streams=alpha");
        publish(s.port(), {{"event", "in-alpha"}, {"stream", "alpha"}});
        publish(s.port(), {{"event", "in-beta"}, {"stream", "beta"}});
        publish(s.port(), {{"event", "everyone"}});
        const auto a1 = alpha.next(), a2 = alpha.next();
        REQUIRE(a1);
        REQUIRE(a2);
        CHECK(a1->name == "in-alpha");
        CHECK(a2->name == "everyone");
        const auto g = global.next();
        REQUIRE(g);
        CHECK(g->name == "everyone");
        CHECK_FALSE(global.next(100ms));
    }
}

TEST_CASE("the compatible stream shapes") {
    auto c = test_config();
    TestServer s(c);

    SECTION("/api/events/stream frames {type, data, timestamp} and starts with the latest of each type") {
        publish(s.port(), {{"event", "video:created"}, {"data", 1}});
        publish(s.port(), {{"event", "video:created"}, {"data", 2}});
        publish(s.port(), {{"event", "video:updated"}, {"data", 3}});
        SseClient client(s.port(), "/api/events/stream");
        const auto first = client.next(), second = client.next();
        REQUIRE(first);
        REQUIRE(second);
        CHECK(first->name == "message");
        CHECK(first->json()["type"] == "video:created");
        CHECK(first->json()["data"] == 2);
        CHECK(second->json()["type"] == "video:updated");
        CHECK(second->json()["timestamp"].get<std::string>().size() == 24);  // 2026-11-22T21:30:00.123Z
        publish(s.port(), {{"event", "live"}, {"data", {{"k", "v"}}}});
        const auto live = client.next();
        REQUIRE(live);
        CHECK(live->json()["type"] == "live");
        CHECK(live->json()["data"]["k"] == "v");
    }
    SECTION("/api/v1/events/stream/{id} frames {id, type, message, data, timestamp, stream_id}") {
        SseClient alerts(s.port(), "/api/v1/events/stream/alerts");
        SseClient other(s.port(), "/api/v1/events/stream/other");
        auto r = publish(s.port(), {{"type", "alert"}, {"message", "disk full"}, {"data", {{"pct", 99}}}, {"stream_id", "alerts"}},
                         publisher_key, "/api/v1/events/broadcast");
        REQUIRE(r.status == 202);
        const auto e = alerts.next();
        REQUIRE(e);
        const auto j = e->json();
        CHECK(j["id"] == e->id);
        CHECK(j["type"] == "alert");
        CHECK(j["message"] == "disk full");
        CHECK(j["data"]["pct"] == 99);
        CHECK(j["stream_id"] == "alerts");
        CHECK_FALSE(other.next(100ms));
        // An empty stream_id reaches every stream.
        publish(s.port(), {{"type", "all"}, {"message", "hello"}}, publisher_key, "/api/v1/events/broadcast");
        CHECK(alerts.next()->json()["type"] == "all");
        CHECK(other.next()->json()["type"] == "all");
    }
    SECTION("demo streams start, pause, resume and stop") {
        auto control = [&](const std::string& id, const std::string& action, const std::string& key = publisher_key) {
            return request(s.port(), http::verb::post, "/api/v1/events/stream/" + id + "/" + action, "",
                           {{"Authorization", "Bearer " + key}});
        };
        const auto list = get(s.port(), "/api/v1/events/streams").json()["streams"];
        REQUIRE(list.size() == 4);
        CHECK(list[0]["id"] == "default");
        CHECK(list[0]["status"] == "stopped");
        CHECK(control("system", "start").json()["status"] == "running");
        CHECK(control("system", "pause").json()["status"] == "paused");
        CHECK(control("system", "resume").json()["status"] == "running");
        CHECK(control("system", "stop").json()["status"] == "stopped");
        CHECK(control("system", "start", "wrong").status == 401);
        CHECK(control("nope", "start").status == 404);
        CHECK(control("system", "explode").status == 400);
    }
}

TEST_CASE("a running demo stream publishes to its subscribers") {
    auto c = test_config();
    TestServer s(c);
    SseClient client(s.port(), "/api/v1/events/stream/default");
    request(s.port(), http::verb::post, "/api/v1/events/stream/default/start", "", {{"Authorization", "Bearer " + publisher_key}});
    const auto e = client.next(4000ms);
    REQUIRE(e);
    CHECK(e->json()["stream_id"] == "default");
    CHECK(e->json()["type"] == "tick");
}

TEST_CASE("the video pipeline") {
    TestServer s;
    // A video in the list, as a publisher adds one.
    auto add_video = [&](const std::string& id) {
        REQUIRE(publish(s.port(), {{"event", "video:created"}, {"data", {{"videoId", id}}}}).status == 202);
    };

    SECTION("streams video_update events through every stage to ready") {
        add_video("v42");
        SseClient status(s.port(), "/videos/v42/status");
        SseClient all(s.port(), "/api/events");
        const auto r = request(s.port(), http::verb::post, "/videos/v42/process");
        REQUIRE(r.status == 202);
        std::vector<std::string> types;
        int last_progress = -1;
        std::string last_type;
        while (auto e = status.next(3000ms)) {
            CHECK(e->name == "video_update");
            const auto j = e->json();
            CHECK(j["videoId"] == "v42");
            const auto type = j["eventType"].get<std::string>();
            if (types.empty() || types.back() != type) types.push_back(type);
            if (type == last_type) CHECK(j["progress"].get<int>() > last_progress);
            last_type = type;
            last_progress = j["progress"].get<int>();
            if (type == "video_status_update") {
                CHECK(j["status"] == "ready");
                CHECK(j["progress"] == 100);
                break;
            }
        }
        CHECK(types == std::vector<std::string>{"video_downloading", "video_transcoding", "video_uploading",
                                                "video_status_update"});
        const auto ready = all.next();
        REQUIRE(ready);
        CHECK(ready->name == "video:status:ready");
        CHECK(all.next()->name == "video:updated");
        CHECK(request(s.port(), http::verb::post, "/videos/v42/process").status == 202);  // done: may run again
    }
    SECTION("a failing stage ends in video_error") {
        add_video("v7");
        SseClient status(s.port(), "/videos/v7/status");
        request(s.port(), http::verb::post, "/videos/v7/process?fail=transcoding");
        std::string type;
        while (auto e = status.next(3000ms)) {
            type = e->json()["eventType"];
            if (type == "video_error") break;
        }
        CHECK(type == "video_error");
    }
    SECTION("a video already in the pipeline is 409") {
        add_video("v9");
        REQUIRE(request(s.port(), http::verb::post, "/videos/v9/process").status == 202);
        CHECK(request(s.port(), http::verb::post, "/videos/v9/process").status == 409);
    }
    SECTION("regression: an unknown video is 404, and no pipeline runs for it") {
        // It was 202, and a pipeline ran (and created a record) for a video nobody had.
        SseClient status(s.port(), "/videos/does-not-exist/status");
        const auto r = request(s.port(), http::verb::post, "/videos/does-not-exist/process");
        CHECK(r.status == 404);
        CHECK(r.json()["error"] == "no video does-not-exist (GET /api/videos lists them)");
        CHECK(get(s.port(), "/api/videos").json()["videos"].empty());
        CHECK(s.server.hub().stats().events_published == 0);
        CHECK_FALSE(status.next(100ms));  // a pipeline steps every 5 ms here
    }
    SECTION("an uploaded video can be processed") {
        const auto upload = request(s.port(), http::verb::post, "/api/uploads", R"({"filename":"cat.mp4"})");
        REQUIRE(upload.status == 202);
        nlohmann::json videos;
        REQUIRE(eventually([&] {
            videos = get(s.port(), "/api/videos").json()["videos"];
            return videos.size() == 1;
        }));
        const auto id = videos[0]["videoId"].get<std::string>();
        CHECK(request(s.port(), http::verb::post, "/videos/" + id + "/process").status == 202);
    }
}

TEST_CASE("simulated uploads report progress") {
    TestServer s;
    SseClient client(s.port(), "/api/events");
    const auto r = request(s.port(), http::verb::post, "/api/uploads", R"({"filename":"cat.mp4"})");
    REQUIRE(r.status == 202);
    const auto upload = r.json()["uploadId"];
    std::vector<int> progress;
    std::string video_id;
    bool started = false, created = false;
    while (auto e = client.next(3000ms)) {
        const auto j = e->json();
        if (e->name == "video:upload:started") started = j["uploadId"] == upload;
        if (e->name == "video:upload:progress") progress.push_back(j["progress"]);
        if (e->name == "video:upload:completed") video_id = j["videoId"];
        if (e->name == "video:created") {
            created = j["videoId"] == video_id;
            break;
        }
    }
    CHECK(started);
    CHECK(created);
    REQUIRE_FALSE(progress.empty());
    CHECK(std::is_sorted(progress.begin(), progress.end()));
    CHECK(progress.back() == 100);
    const auto videos = get(s.port(), "/api/videos").json()["videos"];
    REQUIRE(videos.size() == 1);
    CHECK(videos[0]["videoId"] == video_id);
}

TEST_CASE("Mux webhooks") {
    TestServer s;
    auto webhook = [&](const nlohmann::json& body, std::optional<std::int64_t> at = {}) {
        const auto raw = body.dump();
        const auto t = at.value_or(std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
        return request(s.port(), http::verb::post, "/api/webhooks/mux", raw,
                       {{"Mux-Signature", ssebus::server::mux::sign_header(mux_secret, raw, t)}});
    };
    const nlohmann::json created{{"type", "video.asset.created"}, {"id", "wh-1"},
                                 {"data", {{"id", "asset-1"}, {"status", "preparing"}}}};
    const nlohmann::json ready{{"type", "video.asset.ready"}, {"id", "wh-2"},
                               {"data", {{"id", "asset-1"}, {"status", "ready"},
                                         {"playback_ids", {{{"id", "pb-1"}, {"policy", "public"}}}}}}};

    SECTION("a signed webhook becomes server events and a video record") {
        SseClient client(s.port(), "/api/events");
        REQUIRE(webhook(created).status == 200);
        REQUIRE(webhook(ready).status == 200);
        std::vector<std::string> names;
        for (int i = 0; i < 3; ++i) {
            auto e = client.next();
            REQUIRE(e);
            names.push_back(e->name);
            CHECK(e->json()["videoId"] == "asset-1");
        }
        CHECK(names == std::vector<std::string>{"video:created", "video:status:ready", "video:updated"});
        const auto videos = get(s.port(), "/api/videos").json()["videos"];
        REQUIRE(videos.size() == 1);
        CHECK(videos[0]["status"] == "ready");
        CHECK(videos[0]["playbackId"] == "pb-1");
    }
    SECTION("a replayed webhook (a webhook id seen before) is 200, duplicate, and changes nothing") {
        SseClient client(s.port(), "/api/events");
        const auto raw = created.dump();
        const auto signature = ssebus::server::mux::sign_header(mux_secret, raw, std::time(nullptr));
        auto send = [&] {
            return request(s.port(), http::verb::post, "/api/webhooks/mux", raw, {{"Mux-Signature", signature}});
        };
        REQUIRE(send().status == 200);
        const auto record = get(s.port(), "/api/videos").json()["videos"];
        // The very same request again, as a retrying sender or an eavesdropper would send it.
        const auto again = send();
        CHECK(again.status == 200);
        CHECK(again.json()["duplicate"] == true);
        CHECK(again.json()["events"] == 0);
        // A new signature, or another body, under the same webhook id.
        CHECK(webhook(created).json()["duplicate"] == true);
        nlohmann::json ready_as_wh1 = ready;
        ready_as_wh1["id"] = "wh-1";
        CHECK(webhook(ready_as_wh1).json()["duplicate"] == true);
        CHECK(get(s.port(), "/api/videos").json()["videos"] == record);
        // One event reached the stream, then the marker: nothing came of the replays.
        const auto first = client.next();
        REQUIRE(first);
        CHECK(first->name == "video:created");
        publish(s.port(), {{"event", "marker"}});
        const auto next = client.next();
        REQUIRE(next);
        CHECK(next->name == "marker");
    }
    SECTION("a bad or stale signature is 401, and nothing is published") {
        SseClient client(s.port(), "/api/events");
        const auto raw = created.dump();
        const auto now = std::time(nullptr);
        auto send = [&](const std::string& body, const std::string& signature) {
            return request(s.port(), http::verb::post, "/api/webhooks/mux", body, {{"Mux-Signature", signature}});
        };
        auto r = send(raw, ssebus::server::mux::sign_header("wrong-secret", raw, now));
        CHECK(r.status == 401);
        CHECK(r.json()["error"] == "webhook refused: bad signature");
        // A genuine request captured long ago, replayed now.
        CHECK(send(raw, ssebus::server::mux::sign_header(mux_secret, raw, now - 3600)).json()["error"] ==
              "webhook refused: stale timestamp");
        // One from the future is no better.
        CHECK(send(raw, ssebus::server::mux::sign_header(mux_secret, raw, now + 3600)).status == 401);
        // A genuine signature of one body on another body.
        CHECK(send(ready.dump(), ssebus::server::mux::sign_header(mux_secret, raw, now)).json()["error"] ==
              "webhook refused: bad signature");
        // A genuine signature with its timestamp moved into the window.
        auto moved = ssebus::server::mux::sign_header(mux_secret, raw, now - 3600);
        moved.replace(2, std::to_string(now - 3600).size(), std::to_string(now));
        CHECK(send(raw, moved).json()["error"] == "webhook refused: bad signature");
        CHECK(request(s.port(), http::verb::post, "/api/webhooks/mux", raw).json()["error"] ==
              "webhook refused: missing signature");
        CHECK(get(s.port(), "/api/videos").json()["videos"].empty());
        publish(s.port(), {{"event", "marker"}});
        const auto e = client.next();
        REQUIRE(e);
        CHECK(e->name == "marker");
    }
}

TEST_CASE("CORS follows the allow-list") {
    auto c = test_config();
    c.cors_origins = {"https://app.example"};
    TestServer s(c);

    SECTION("a listed origin is granted, with credentials") {
        const auto r = get(s.port(), "/healthz", {{"Origin", "https://app.example"}});
        CHECK(r.header("Access-Control-Allow-Origin") == "https://app.example");
        CHECK(r.header("Access-Control-Allow-Credentials") == "true");
        SseClient client(s.port(), "/api/events", {{"Origin", "https://app.example"}});
        CHECK(client.header("Access-Control-Allow-Origin") == "https://app.example");
    }
    SECTION("another origin gets no grant: not on a response, an error, a preflight or a stream head") {
        // Look-alikes of the listed origin are other origins too.
        for (const std::string origin : {"https://evil.example", "https://app.example.evil.example", "http://app.example",
                                         "https://app.example:8443", "https://APP.example", "null"}) {
            INFO("Origin: " << origin);
            const auto r = get(s.port(), "/healthz", {{"Origin", origin}});
            CHECK(r.status == 200);
            CHECK(r.headers.count("Access-Control-Allow-Origin") == 0);
            CHECK(r.headers.count("Access-Control-Allow-Credentials") == 0);
            const auto refused = request(s.port(), http::verb::post, "/api/events", R"({"event":"x"})", {{"Origin", origin}});
            CHECK(refused.status == 401);
            CHECK(refused.headers.count("Access-Control-Allow-Origin") == 0);
            const auto pre = request(s.port(), http::verb::options, "/api/events", "",
                                     {{"Origin", origin}, {"Access-Control-Request-Method", "POST"},
                                      {"Access-Control-Request-Headers", "Authorization"}});
            CHECK(pre.headers.count("Access-Control-Allow-Origin") == 0);
            CHECK(pre.headers.count("Access-Control-Allow-Methods") == 0);
            CHECK(pre.headers.count("Access-Control-Allow-Headers") == 0);
            CHECK(pre.headers.count("Access-Control-Allow-Credentials") == 0);
            SseClient client(s.port(), "/api/events", {{"Origin", origin}});
            CHECK(client.status() == 200);
            CHECK(client.head().find("Access-Control-") == std::string::npos);
        }
    }
    SECTION("a preflight is answered") {
        const auto r = request(s.port(), http::verb::options, "/api/events", "",
                               {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"}});
        CHECK(r.status == 204);
        CHECK(r.header("Access-Control-Allow-Methods") == "GET, POST, OPTIONS");
        CHECK(r.header("Access-Control-Allow-Headers").find("Last-Event-ID") != std::string::npos);
    }
}

TEST_CASE("CORS '*' never grants credentials") {
    auto c = test_config();
    c.cors_origins = {"*"};
    TestServer s(c);
    const auto r = get(s.port(), "/healthz", {{"Origin", "https://any.example"}});
    CHECK(r.header("Access-Control-Allow-Origin") == "*");
    CHECK(r.headers.count("Access-Control-Allow-Credentials") == 0);
}

TEST_CASE("the demo's simulated Mux webhook goes through the signed path") {
    auto c = test_config();
    c.demo = true;
    TestServer s(c);
    const auto simulate = [&](const nlohmann::json& body) {
        return request(s.port(), http::verb::post, "/api/demo/mux-webhook", body.dump());
    };

    SECTION("created, then ready: the events and the record of a real webhook") {
        SseClient client(s.port(), "/api/events");
        REQUIRE(simulate({{"type", "video.asset.created"}, {"assetId", "demo-1"}}).status == 200);
        REQUIRE(simulate({{"type", "video.asset.ready"}, {"assetId", "demo-1"}}).status == 200);
        std::vector<std::string> names;
        for (int i = 0; i < 3; ++i) {
            auto e = client.next();
            REQUIRE(e);
            names.push_back(e->name);
            CHECK(e->json()["videoId"] == "demo-1");
        }
        CHECK(names == std::vector<std::string>{"video:created", "video:status:ready", "video:updated"});
        const auto videos = get(s.port(), "/api/videos").json()["videos"];
        REQUIRE(videos.size() == 1);
        CHECK(videos[0]["status"] == "ready");
    }
    SECTION("a type that is not a Mux asset event is refused") {
        const auto r = simulate({{"type", "video.upload.created"}});
        CHECK(r.status == 400);
        CHECK(r.json()["error"].get<std::string>().find("video.asset.") != std::string::npos);
    }
    SECTION("without --demo the route does not exist") {
        TestServer plain;
        CHECK(request(plain.port(), http::verb::post, "/api/demo/mux-webhook",
                      R"({"type":"video.asset.created"})").status == 404);
    }
}
