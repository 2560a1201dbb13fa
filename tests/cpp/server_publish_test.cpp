// Publishing through HTTP: which bodies are accepted, the README's own example, and answers
// that wait for the event to be committed (acknowledged means durable).
#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "http_session.hpp"
#include "listener.hpp"
#include "mux.hpp"
#include "server_support.hpp"

using namespace test;
namespace server = ssebus::server;

namespace {

using Headers = std::map<std::string, std::string>;

std::string signed_at_now(const std::string& raw) {
    return server::mux::sign_header(mux_secret, raw, std::time(nullptr));
}

// Commits held back until the test lets them go, then made on a thread of their own, as an
// asynchronous store would: the routes must answer from there.
class HeldCommits {
public:
    void hold(server::Event event, server::PublishDone done) {
        std::lock_guard lock(mutex_);
        held_.emplace_back(std::move(event), std::move(done));
        changed_.notify_all();
    }
    // Waits until `n` commits are held (or 10 s passed).
    bool wait_for(std::size_t n) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, 10s, [&] { return held_.size() >= n; });
    }
    std::size_t held() {
        std::lock_guard lock(mutex_);
        return held_.size();
    }
    std::string held_name(std::size_t i) {
        std::lock_guard lock(mutex_);
        return held_.at(i).first.name;
    }
    // The oldest held event, committed to the hub on another thread.
    void commit(server::Hub& hub) {
        auto [event, done] = take();
        std::thread([&hub, event = std::move(event), done = std::move(done)]() mutable {
            hub.publish(std::move(event), std::move(done));
        }).join();
    }
    // The oldest held event, refused on another thread.
    void refuse(std::string error, std::uint32_t retry_after_s) {
        auto [event, done] = take();
        std::thread([&, done = std::move(done)] {
            done(server::Published{.error = error, .retry_after_s = retry_after_s});
        }).join();
    }
    // The oldest held event, dropped on another thread without an answer (a bug in a store).
    void drop() {
        auto held = std::make_unique<std::pair<server::Event, server::PublishDone>>(take());
        std::thread([held = std::move(held)]() mutable { held.reset(); }).join();
    }

private:
    std::pair<server::Event, server::PublishDone> take() {
        std::lock_guard lock(mutex_);
        auto front = std::move(held_.front());
        held_.pop_front();
        return front;
    }
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<std::pair<server::Event, server::PublishDone>> held_;
};

// The server's parts wired as server.cpp wires them, with HeldCommits between the routes
// and the hub.
struct HeldServer {
    explicit HeldServer(server::Config c = test_config())
        : hub(server::HubOptions{.history_size = c.history_size, .max_streams_per_user = c.max_streams_per_user}),
          generators(ioc.get_executor(), hub),
          pipeline(ioc.get_executor(), hub, videos, c.demo_step),
          uploads(ioc.get_executor(), hub, videos, c.demo_step),
          app{.config = std::move(c), .hub = hub, .videos = videos, .generators = generators, .pipeline = pipeline,
              .uploads = uploads,
              .publisher = [this](server::Event e, server::PublishDone done) { commits.hold(std::move(e), std::move(done)); }},
          router(app) {
        listener = std::make_shared<server::Listener>(
            ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0), [this](tcp::socket&& socket) {
                std::make_shared<server::HttpSession>(std::move(socket), router, hub, app.config)->run();
            });
        listener->run();
        for (int i = 0; i < 2; ++i) threads.emplace_back([this] { ioc.run(); });
    }
    ~HeldServer() {
        listener->stop();
        generators.stop_all();
        pipeline.stop_all();
        uploads.stop_all();
        hub.close_all("test over");
        eventually([&] { return hub.subscriber_count() == 0; }, 2s);
        work.reset();
        ioc.stop();
        for (auto& t : threads) t.join();
    }
    unsigned short port() const { return listener->local_endpoint().port(); }

    HeldCommits commits;
    net::io_context ioc{2};
    net::executor_work_guard<net::io_context::executor_type> work{net::make_work_guard(ioc)};
    server::Hub hub;
    server::mux::VideoStore videos;
    server::StreamGenerators generators;
    server::Pipeline pipeline;
    server::Uploads uploads;
    server::App app;
    server::Router router;
    std::shared_ptr<server::Listener> listener;
    std::vector<std::thread> threads;
};

// A request on a thread of its own, for an answer that comes later.
std::future<Reply> later(unsigned short port, const std::string& target, const std::string& body,
                         const Headers& headers = {{"Authorization", "Bearer " + publisher_key}}) {
    return std::async(std::launch::async, [=] { return request(port, http::verb::post, target, body, headers); });
}

}  // namespace

TEST_CASE("a JSON body needs a JSON Content-Type") {
    auto c = test_config();
    c.demo = true;
    TestServer s(c);
    const Headers key{{"Authorization", "Bearer " + publisher_key}};
    auto with_type = [](Headers h, const std::string& type) {
        h["Content-Type"] = type;
        return h;
    };

    SECTION("regression: another type is 415 with a JSON error, and nothing is published") {
        // text/xml used to get 202.
        for (const std::string type : {"text/xml", "text/plain", "application/jsonx", "multipart/form-data",
                                       "application/json-seq", ""}) {
            INFO("Content-Type: " << type);
            const auto r = request(s.port(), http::verb::post, "/api/events", R"({"event":"x"})", with_type(key, type));
            CHECK(r.status == 415);
            CHECK(r.header("Content-Type") == "application/json");
            CHECK(r.json()["error"].get<std::string>().find("Content-Type: application/json") != std::string::npos);
        }
        CHECK(request(s.port(), http::verb::post, "/api/events", R"({"event":"x"})", with_type(key, "text/xml"))
                  .json()["error"] == "the body must be JSON, sent with Content-Type: application/json (got \"text/xml\")");
        CHECK(s.server.hub().stats().events_published == 0);
    }
    SECTION("every route that reads a JSON body says so") {
        const std::vector<std::pair<std::string, std::string>> routes = {
            {"/api/events", R"({"event":"x"})"},       {"/api/v1/events/broadcast", R"({"type":"x"})"},
            {"/api/sse-test", R"({"message":"x"})"},    {"/api/uploads", R"({"filename":"a.mp4"})"},
            {"/api/login", R"({"user":"alice"})"},      {"/api/demo/mux-webhook", R"({"type":"video.asset.created"})"},
            {"/api/webhooks/mux", R"({"type":"video.asset.created","id":"wh-1","data":{"id":"a1"}})"},
        };
        for (const auto& [target, body] : routes) {
            INFO("POST " << target);
            auto headers = with_type(key, "text/xml");
            headers["Mux-Signature"] = signed_at_now(body);
            CHECK(request(s.port(), http::verb::post, target, body, headers).status == 415);
        }
        CHECK(s.server.hub().stats().events_published == 0);
        CHECK(get(s.port(), "/api/videos").json()["videos"].empty());
    }
    SECTION("application/json, with a charset or in capitals, and curl's default for -d are accepted") {
        for (const std::string type : {"application/json", "application/json; charset=utf-8", "Application/JSON",
                                       "application/json;charset=UTF-8", "application/x-www-form-urlencoded"}) {
            INFO("Content-Type: " << type);
            CHECK(request(s.port(), http::verb::post, "/api/events", R"({"event":"x"})", with_type(key, type)).status == 202);
        }
    }
    SECTION("a form-encoded body is still read as JSON") {
        const auto r = request(s.port(), http::verb::post, "/api/events", "event=x",
                               with_type(key, "application/x-www-form-urlencoded"));
        CHECK(r.status == 400);
        CHECK(r.json()["error"] == "the body is not valid JSON");
    }
}

TEST_CASE("the README's example: a published video:created shows in the video list") {
    // The server section's curl line, run as written against this server: the React example
    // above it lists /api/videos on the refresh:list:view that follows video:created.
    namespace fs = std::filesystem;
    std::ifstream readme(fs::path(__FILE__).parent_path() / ".." / ".." / "README.md");
    REQUIRE(readme);
    std::stringstream text;
    text << readme.rdbuf();
    const auto all = text.str();
    const auto at = all.find("curl -X POST http://127.0.0.1:8080/api/events");
    REQUIRE(at != std::string::npos);
    // The command with its continuation line, up to its comment.
    const auto end = all.find('#', all.find('\n', at) + 1);
    auto command = all.substr(at, end - at);
    const std::string host = "http://127.0.0.1:8080";
    REQUIRE(command.find(host) != std::string::npos);
    REQUIRE(command.find("Bearer secret") != std::string::npos);
    REQUIRE(command.find("-H 'Content-Type") == std::string::npos);  // as a user types it: curl's default type

    auto c = test_config();
    c.publisher_key = "secret";
    TestServer s(c);
    SseClient stream(s.port(), "/api/events");
    command.replace(command.find(host), host.size(), "http://127.0.0.1:" + std::to_string(s.port()));
    FILE* out = ::popen(("curl -sS " + command.substr(5) + " 2>&1").c_str(), "r");
    REQUIRE(out);
    std::string answer;
    for (char buf[512]; const auto n = std::fread(buf, 1, sizeof buf, out);) answer.append(buf, n);
    REQUIRE(::pclose(out) == 0);
    INFO("curl answered: " << answer);
    const auto reply = nlohmann::json::parse(answer);
    CHECK(reply["delivered"] == 1);

    const auto e = stream.next();
    REQUIRE(e);
    CHECK(e->name == "video:created");
    CHECK(e->id == std::to_string(reply["id"].get<std::uint64_t>()));
    // What the example's refresh:list:view handler then fetches.
    const auto videos = get(s.port(), "/api/videos").json()["videos"];
    REQUIRE(videos.size() == 1);
    CHECK(videos[0]["videoId"] == "v1");
}

TEST_CASE("a published video:created is kept in the video list only when everyone may see it") {
    TestServer s;
    publish(s.port(), {{"event", "video:created"}, {"data", {{"videoId", "v1"}, {"title", "Launch"}}}});
    publish(s.port(), {{"event", "video:created"}, {"data", {{"videoId", "v1"}, {"status", "ready"}}}});
    publish(s.port(), {{"event", "video:created"}, {"data", {{"videoId", "secret"}}},
                       {"target", {{"type", "user"}, {"id", "alice"}}}});
    publish(s.port(), {{"event", "video:created"}, {"data", {{"videoId", "b"}}}, {"target", {{"type", "broadcast"}}}});
    publish(s.port(), {{"event", "video:created"}, {"data", 1}});
    publish(s.port(), {{"event", "video:created"}, {"data", {{"videoId", "not a plain id"}}}});
    publish(s.port(), {{"event", "video:updated"}, {"data", {{"videoId", "v2"}}}});
    const auto videos = get(s.port(), "/api/videos").json()["videos"];
    REQUIRE(videos.size() == 1);
    CHECK(videos[0]["videoId"] == "v1");
    CHECK(videos[0]["title"] == "Launch");
    CHECK(videos[0]["status"] == "ready");
    // And a listed video can run the pipeline.
    CHECK(request(s.port(), http::verb::post, "/videos/v1/process").status == 202);
}

TEST_CASE("webhooks without a Mux secret are 503, not a bad signature") {
    // A correctly signed webhook got 401 "webhook refused: bad signature", which sent the
    // operator looking for the wrong fault.
    auto c = test_config();
    c.mux_secret.clear();
    TestServer s(c);
    const std::string raw = R"({"type":"video.asset.created","id":"wh-1","data":{"id":"a1"}})";
    const auto r = request(s.port(), http::verb::post, "/api/webhooks/mux", raw, {{"Mux-Signature", signed_at_now(raw)}});
    CHECK(r.status == 503);
    CHECK(r.json()["error"] == "no Mux secret configured (--mux-secret)");
    CHECK(get(s.port(), "/api/videos").json()["videos"].empty());
}

TEST_CASE("publish answers wait for the commit, which may come from another thread") {
    auto c = test_config();
    c.demo = true;
    HeldServer s(c);

    SECTION("202 {id, delivered} once the event is committed, and not before") {
        SseClient stream(s.port(), "/api/events");
        REQUIRE(eventually([&] { return s.hub.subscriber_count() == 1; }));
        auto reply = later(s.port(), "/api/events", R"({"event":"video:created","data":{"videoId":"v1"}})");
        REQUIRE(s.commits.wait_for(1));
        CHECK(s.hub.stats().events_published == 0);
        CHECK(reply.wait_for(0s) == std::future_status::timeout);
        s.commits.commit(s.hub);
        const auto r = reply.get();
        REQUIRE(r.status == 202);
        CHECK(r.json()["delivered"] == 1);
        const auto e = stream.next();
        REQUIRE(e);
        CHECK(e->id == std::to_string(r.json()["id"].get<std::uint64_t>()));
    }
    SECTION("a refused commit is 503 with Retry-After on every publishing route") {
        const std::string webhook = R"({"type":"video.asset.created","id":"wh-9","data":{"id":"a9"}})";
        const std::vector<std::tuple<std::string, std::string, Headers>> routes = {
            {"/api/events", R"({"event":"x"})", {{"Authorization", "Bearer " + publisher_key}}},
            {"/api/v1/events/broadcast", R"({"type":"x"})", {{"Authorization", "Bearer " + publisher_key}}},
            {"/api/sse-test", R"({"message":"x"})", {{"Authorization", "Bearer " + publisher_key}}},
            {"/api/webhooks/mux", webhook, {{"Mux-Signature", signed_at_now(webhook)}}},
            {"/api/demo/mux-webhook", R"({"type":"video.asset.created"})", {}},
        };
        for (const auto& [target, body, headers] : routes) {
            INFO("POST " << target);
            auto reply = later(s.port(), target, body, headers);
            REQUIRE(s.commits.wait_for(1));
            s.commits.refuse("the event store is full", 7);
            const auto r = reply.get();
            CHECK(r.status == 503);
            CHECK(r.header("Retry-After") == "7");
            CHECK(r.json()["error"] == "the event store is full");
        }
        CHECK(s.hub.stats().events_published == 0);
    }
    SECTION("regression: a refused video:created leaves the video list as it was") {
        auto publish_video = [&](const std::string& title) {
            return later(s.port(), "/api/events",
                         R"({"event":"video:created","data":{"videoId":"v1","title":")" + title + R"("}})",
                         {{"Authorization", "Bearer " + publisher_key}});
        };
        auto refused = publish_video("first");
        REQUIRE(s.commits.wait_for(1));
        s.commits.refuse("the event store is full", 1);
        REQUIRE(refused.get().status == 503);
        CHECK(get(s.port(), "/api/videos").json()["videos"].empty());

        auto kept = publish_video("kept");
        REQUIRE(s.commits.wait_for(1));
        s.commits.commit(s.hub);
        REQUIRE(kept.get().status == 202);
        auto changed = publish_video("changed");
        REQUIRE(s.commits.wait_for(1));
        s.commits.refuse("the event store is full", 1);
        REQUIRE(changed.get().status == 503);
        const auto videos = get(s.port(), "/api/videos").json()["videos"];
        REQUIRE(videos.size() == 1);
        CHECK(videos[0]["title"] == "kept");
    }
    SECTION("a webhook whose events were refused is applied again when Mux retries it") {
        const std::string webhook = R"({"type":"video.asset.created","id":"wh-retry","data":{"id":"a7"}})";
        auto send = [&] { return later(s.port(), "/api/webhooks/mux", webhook, {{"Mux-Signature", signed_at_now(webhook)}}); };
        auto first = send();
        REQUIRE(s.commits.wait_for(1));
        s.commits.refuse("the event store is full", 1);
        REQUIRE(first.get().status == 503);
        auto retry = send();
        REQUIRE(s.commits.wait_for(1));  // not taken for a duplicate
        s.commits.commit(s.hub);
        const auto r = retry.get();
        CHECK(r.status == 200);
        CHECK(r.json()["duplicate"] == false);
        CHECK(r.json()["events"] == 1);
        // Once published, it is a duplicate.
        const auto again = request(s.port(), http::verb::post, "/api/webhooks/mux", webhook,
                                   {{"Mux-Signature", signed_at_now(webhook)}});
        CHECK(again.json()["duplicate"] == true);
    }
    SECTION("a webhook's events are committed one after another, then it is answered") {
        auto reply = later(s.port(), "/api/demo/mux-webhook", R"({"type":"video.asset.ready","assetId":"a1"})", {});
        REQUIRE(s.commits.wait_for(1));
        CHECK(s.commits.held() == 1);  // the second waits for the first
        CHECK(s.commits.held_name(0) == "video:status:ready");
        s.commits.commit(s.hub);
        REQUIRE(s.commits.wait_for(1));
        CHECK(s.commits.held_name(0) == "video:updated");
        CHECK(reply.wait_for(0s) == std::future_status::timeout);
        s.commits.commit(s.hub);
        const auto r = reply.get();
        CHECK(r.status == 200);
        CHECK(r.json()["events"] == 2);
        CHECK(s.hub.stats().events_published == 2);
    }
    SECTION("pipelined requests on one connection are answered in order") {
        net::io_context ioc;
        tcp::socket socket(ioc);
        socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), s.port()));
        const std::string body = R"({"event":"x"})";
        net::write(socket, net::buffer("POST /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + publisher_key +
                                       "\r\nContent-Type: application/json\r\nContent-Length: " +
                                       std::to_string(body.size()) + "\r\n\r\n" + body +
                                       "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        REQUIRE(s.commits.wait_for(1));
        s.commits.commit(s.hub);
        std::string all;
        beast::error_code ec;
        for (char buf[4096]; !ec;) all.append(buf, socket.read_some(net::buffer(buf), ec));
        const auto first = all.find("HTTP/1.1 "), second = all.find("HTTP/1.1 ", first + 1);
        REQUIRE(second != std::string::npos);
        CHECK(all.substr(first, 12) == "HTTP/1.1 202");
        CHECK(all.substr(second, 12) == "HTTP/1.1 200");
    }
    SECTION("a commit that is dropped unanswered is a 500, not a hang") {
        auto reply = later(s.port(), "/api/events", R"({"event":"x"})");
        REQUIRE(s.commits.wait_for(1));
        s.commits.drop();
        const auto r = reply.get();
        CHECK(r.status == 500);
        CHECK(r.json()["error"] == "internal error: the request was dropped unanswered");
    }
}

TEST_CASE("a commit slower than the header timeout is still answered") {
    // The read's deadline must not run on while the answer waits.
    auto c = test_config();
    c.header_timeout = 200ms;
    HeldServer s(c);
    auto reply = later(s.port(), "/api/events", R"({"event":"x"})");
    REQUIRE(s.commits.wait_for(1));
    std::this_thread::sleep_for(500ms);  // past the header timeout, with the answer pending
    s.commits.commit(s.hub);
    CHECK(reply.get().status == 202);
}
