// Bad input, limits, slow clients and shutdown: clear errors, never a crash or a hang.
#include <catch2/catch.hpp>

#include "server_support.hpp"

using namespace test;

namespace {

// Sends raw bytes and returns what comes back until the server closes (or 5 s pass).
std::string raw_exchange(unsigned short port, const std::string& bytes, std::chrono::milliseconds wait = 5000ms) {
    net::io_context ioc;
    tcp::socket socket(ioc);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    net::write(socket, net::buffer(bytes));
    std::string out;
    net::steady_timer timer(ioc);
    timer.expires_after(wait);
    timer.async_wait([&](beast::error_code ec) {
        if (!ec) socket.close();
    });
    std::array<char, 4096> buf;
    std::function<void()> read = [&] {
        socket.async_read_some(net::buffer(buf), [&](beast::error_code ec, std::size_t n) {
            out.append(buf.data(), n);
            if (ec) return (void)timer.cancel();
            read();
        });
    };
    read();
    ioc.run();
    return out;
}

// Opens a stream and checks that the first event it gets is one published after it opened:
// no replay, no gap notice.
void check_opens_live(unsigned short port, const std::string& target,
                      const std::map<std::string, std::string>& headers = {}) {
    SseClient client(port, target, headers);
    REQUIRE(client.status() == 200);
    const auto live = publish(port, {{"event", "live"}}).json()["id"].get<std::uint64_t>();
    const auto e = client.next();
    REQUIRE(e);
    CHECK(e->name == "live");
    CHECK(e->id == std::to_string(live));
}

}  // namespace

TEST_CASE("publishing takes the key in either header, and needs a valid body") {
    TestServer s;

    // Without the key, or with a wrong one: server_security_test.cpp, for every publishing route.
    SECTION("the X-Publisher-Key header works as well as Bearer") {
        CHECK(request(s.port(), http::verb::post, "/api/events", R"({"event":"x"})", {{"X-Publisher-Key", publisher_key}}).status == 202);
    }
    SECTION("invalid JSON is 400") {
        const auto r = request(s.port(), http::verb::post, "/api/events", "{not json", {{"Authorization", "Bearer " + publisher_key}});
        CHECK(r.status == 400);
        CHECK(r.json()["error"] == "the body is not valid JSON");
    }
    SECTION("invalid UTF-8 in JSON is 400") {
        const std::string body = "{\"event\":\"x\",\"data\":\"\xff\xfe\"}";
        CHECK(request(s.port(), http::verb::post, "/api/events", body, {{"Authorization", "Bearer " + publisher_key}}).status == 400);
    }
    SECTION("bad fields are 400 and say which") {
        auto err = [&](const nlohmann::json& body) {
            const auto r = publish(s.port(), body);
            CHECK(r.status == 400);
            return r.json()["error"].get<std::string>();
        };
        CHECK(err({{"data", 1}}) == "\"event\" is required");
        CHECK(err({{"event", 5}}) == "\"event\" must be a string");
        CHECK(err({{"event", "a\nb"}}).find("without line breaks") != std::string::npos);
        CHECK(err({{"event", "ssebus:gap"}}).find("reserved") != std::string::npos);
        CHECK(err({{"event", "x"}, {"target", {{"type", "user"}}}}) == "target.id is required for target.type user");
        CHECK(err({{"event", "x"}, {"target", {{"type", "everyone"}}}}).find("target.type must be") == 0);
        CHECK(err({{"event", "x"}, {"retry", -5}}).find("\"retry\"") == 0);
        CHECK(err({{"event", "x"}, {"stream", "a b"}}).find("\"stream\"") == 0);
        const auto array = request(s.port(), http::verb::post, "/api/events", "[1,2]", {{"Authorization", "Bearer " + publisher_key}});
        CHECK(array.status == 400);
    }
}

TEST_CASE("requests past the limits are refused") {
    auto c = test_config();
    c.body_limit = 1024;
    c.header_timeout = 300ms;
    TestServer s(c);

    SECTION("a body over the limit is 413") {
        const auto r = request(s.port(), http::verb::post, "/api/events", std::string(4096, 'x'),
                               {{"Authorization", "Bearer " + publisher_key}});
        CHECK(r.status == 413);
        CHECK(r.json()["error"] == "the request body is larger than 1024 bytes");
    }
    SECTION("a huge header is 431") {
        const auto reply = raw_exchange(s.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(32 * 1024, 'a') + "\r\n\r\n");
        CHECK(reply.rfind("HTTP/1.1 431", 0) == 0);
    }
    SECTION("a malformed request is 400") {
        const auto reply = raw_exchange(s.port(), "GARBAGE\r\n\r\n");
        CHECK(reply.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(reply.find("{\"error\":\"malformed HTTP request") != std::string::npos);
    }
    SECTION("malformed chunked encoding is 400") {
        const auto reply = raw_exchange(s.port(), "POST /api/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
        CHECK(reply.rfind("HTTP/1.1 400", 0) == 0);
    }
    SECTION("a client that trickles its header (slowloris) is dropped") {
        const auto start = std::chrono::steady_clock::now();
        const auto reply = raw_exchange(s.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n");
        CHECK(reply.empty());
        CHECK(std::chrono::steady_clock::now() - start < 10s);  // dropped, not left hanging
    }
    SECTION("the server keeps serving others meanwhile") {
        std::thread slow([&] { raw_exchange(s.port(), "GET /healthz HTTP/1.1\r\n"); });
        CHECK(get(s.port(), "/healthz").status == 200);
        slow.join();
    }
}

TEST_CASE("hostile Last-Event-ID values: never a crash, never a replay of what was not asked for") {
    TestServer s;
    for (int i = 0; i < 3; ++i) publish(s.port(), {{"event", "earlier"}, {"data", i}});

    SECTION("a Last-Event-ID over the 16 KiB header limit is 431 with a JSON error") {
        const auto reply = raw_exchange(s.port(), "GET /api/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: " +
                                                      std::string(17 * 1024, '9') + "\r\n\r\n");
        CHECK(reply.rfind("HTTP/1.1 431", 0) == 0);
        CHECK(reply.find("Content-Type: application/json") != std::string::npos);
        CHECK(reply.find("\r\n\r\n{\"error\":\"the request header is too large\"}") != std::string::npos);
        CHECK(get(s.port(), "/healthz").status == 200);
    }
    SECTION("a 12 KiB Last-Event-ID, under the header limit, counts as no id") {
        check_opens_live(s.port(), "/api/events", {{"Last-Event-ID", std::string(12 * 1024, '9')}});
        check_opens_live(s.port(), "/api/events?lastEventId=" + std::string(12 * 1024, '1'));
    }
    SECTION("an id past uint64 counts as no id") {
        for (const std::string id : {"999999999999999999999999999999", "18446744073709551616", "36893488147419103232"}) {
            INFO("Last-Event-ID: " << id);
            check_opens_live(s.port(), "/api/events", {{"Last-Event-ID", id}});
            check_opens_live(s.port(), "/api/events?lastEventId=" + id);
        }
    }
    CHECK(s.server.hub().stats().gaps_reported == 0);
}

TEST_CASE("a Last-Event-ID this server never issued gets ssebus:gap and then live events") {
    // Another server's id, or 2^64-1: nothing can be said of what the client missed.
    TestServer s;
    publish(s.port(), {{"event", "earlier"}});
    const auto next = s.server.hub().stats().last_id + 1;
    for (const auto future : {next, next + 1'000'000, std::uint64_t{18446744073709551615u}}) {
        INFO("Last-Event-ID: " << future);
        SseClient client(s.port(), "/api/events", {{"Last-Event-ID", std::to_string(future)}});
        const auto gap = client.next();
        REQUIRE(gap);
        CHECK(gap->name == "ssebus:gap");
        CHECK(gap->json()["requested"].get<std::uint64_t>() == future);
        const auto live = publish(s.port(), {{"event", "live"}}).json()["id"].get<std::uint64_t>();
        const auto e = client.next();
        REQUIRE(e);
        CHECK(e->id == std::to_string(live));
    }
}

TEST_CASE("thousands of streams from one user: the limit holds, everyone else is served, no place leaks") {
    constexpr std::size_t flood = 2'000;
    constexpr std::size_t max_streams = 5;  // the default
    // Each connection costs a descriptor on both ends.
    REQUIRE(raise_open_files_limit(2 * flood + 512) >= 2 * flood + 512);
    TestServer s;
    REQUIRE(s.server.config().max_streams_per_user == max_streams);
    auto& hub = s.server.hub();
    const auto mallory = client_token("mallory", "s-m");
    auto stats = [&] { return get(s.port(), "/api/events/stats").json(); };

    // Every connection at once, while another user and an anonymous client connect.
    Crowd crowd(s.port(), "/api/events?token=" + mallory, flood);
    std::thread flooding([&] { crowd.run(30s); });
    SseClient bob(s.port(), "/api/events?token=" + client_token("bob", "s-b"));
    SseClient anonymous(s.port(), "/api/events");
    CHECK(bob.status() == 200);
    CHECK(anonymous.status() == 200);
    CHECK(get(s.port(), "/healthz").status == 200);
    flooding.join();

    REQUIRE(crowd.answered() == flood);
    CHECK(crowd.with_status(200) == max_streams);
    CHECK(crowd.with_status(429) == flood - max_streams);
    for (const auto& m : crowd.members()) {
        if (m->status != 429) continue;
        CHECK(m->content_type == "application/json");
        CHECK(m->body == "{\"error\":\"this user already has 5 open streams; close one first\"}\n");
    }
    CHECK(stats()["streams_refused"] == flood - max_streams);

    // With the refused connections still open: the five streams are live, and so are the others.
    CHECK(get(s.port(), "/healthz").status == 200);
    const auto to_mallory = publish(s.port(), {{"event", "to-mallory"}, {"target", {{"type", "user"}, {"id", "mallory"}}}});
    CHECK(to_mallory.json()["delivered"] == max_streams);
    const auto r = publish(s.port(), {{"event", "to-all"}});
    CHECK(r.json()["delivered"] == max_streams + 2);
    const auto to_all = std::to_string(r.json()["id"].get<std::uint64_t>());
    for (auto* client : {&bob, &anonymous}) {
        const auto e = client->next();
        REQUIRE(e);
        CHECK(e->id == to_all);
    }

    // Once the five close, their places are free again: five more, and not one more.
    crowd.close();
    REQUIRE(eventually([&] { return hub.subscriber_count() == 2; }));
    std::vector<std::unique_ptr<SseClient>> again;
    for (std::size_t i = 0; i < max_streams; ++i) {
        again.push_back(std::make_unique<SseClient>(s.port(), "/api/events?token=" + mallory));
        CHECK(again.back()->status() == 200);
    }
    CHECK(get(s.port(), "/api/events?token=" + mallory).status == 429);
    CHECK(stats()["streams_refused"] == flood - max_streams + 1);
}

TEST_CASE("a slow client is disconnected and never slows the others") {
    auto c = test_config();
    c.queue_max_bytes = 256 * 1024;
    c.queue_max_events = 100'000;
    TestServer s(c);
    auto& hub = s.server.hub();

    // A client that never reads, and one that does.
    net::io_context ioc;
    tcp::socket stuck(ioc);
    stuck.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), s.port()));
    const std::string req = "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n";
    net::write(stuck, net::buffer(req));
    SseClient healthy(s.port(), "/api/events");
    REQUIRE(eventually([&] { return hub.subscriber_count() == 2; }));

    // The healthy client reads on its own thread until the marker event arrives.
    std::string marker_id;
    std::thread reader([&] {
        while (auto e = healthy.next(5000ms)) {
            if (e->name == "after") {
                marker_id = e->id;
                return;
            }
        }
    });
    const nlohmann::json big = std::string(16 * 1024, 'x');
    for (int i = 0; i < 4000 && hub.stats().slow_clients_disconnected == 0; ++i) {
        hub.notify_all("big", big);
        if (i % 2 == 0) std::this_thread::sleep_for(1ms);  // a pace a reading client keeps up with
    }
    CHECK(hub.stats().slow_clients_disconnected == 1);
    CHECK(hub.stats().closed_by_reason.at("slow_client") == 1);
    CHECK(eventually([&] { return hub.subscriber_count() == 1; }));
    // The healthy client still gets everything, up to the last event.
    const auto last = hub.notify_all("after", 1);
    reader.join();
    CHECK(marker_id == std::to_string(last->id()));
    CHECK(get(s.port(), "/metrics").body.find("ssebus_slow_clients_disconnected_total 1\n") != std::string::npos);
}

TEST_CASE("graceful shutdown: a final comment, streams closed, quickly") {
    auto c = test_config();
    auto server = std::make_unique<ssebus::server::Server>(c);
    server->start();
    SseClient a(server->port(), "/api/events");
    SseClient b(server->port(), "/api/v1/events/stream/default");
    // An idle keep-alive connection must not hold the shutdown either.
    net::io_context ioc;
    tcp::socket idle(ioc);
    idle.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server->port()));
    REQUIRE(eventually([&] { return server->hub().subscriber_count() == 2; }));

    const auto port = server->port();
    const auto start = std::chrono::steady_clock::now();
    server->stop();
    CHECK(std::chrono::steady_clock::now() - start < 10s);  // a hang guard; stop() itself gives up after 1.5 s
    CHECK(a.closed_by_server());
    CHECK(b.closed_by_server());
    CHECK(a.raw().find("\n: server shutting down\n\n") != std::string::npos);
    CHECK(server->hub().stats().closed_by_reason.at("shutdown") == 2);
    // Nothing listens any more.
    tcp::socket late(ioc);
    beast::error_code ec;
    late.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
    CHECK(ec == net::error::connection_refused);
    server.reset();
}

TEST_CASE("streams that end are counted by their reason") {
    auto c = test_config();
    c.stream_max_age = 50ms;
    TestServer rotating(c);
    {
        SseClient client(rotating.port(), "/api/events");
        REQUIRE(client.status() == 200);
        CHECK(client.closed_by_server());
    }
    CHECK(eventually([&] { return rotating.server.hub().stats().closed_by_reason.at("rotated") == 1; }));

    TestServer s;
    {
        SseClient client(s.port(), "/api/events");
        REQUIRE(eventually([&] { return s.server.hub().subscriber_count() == 1; }));
        client.close();
    }
    CHECK(eventually([&] { return s.server.hub().stats().closed_by_reason.at("client_gone") == 1; }));
    CHECK(s.server.hub().stats().to_json()["closed_by_reason"]["client_gone"] == 1);
}

TEST_CASE("a port in use fails loudly") {
    TestServer first;
    auto c = test_config();
    c.port = first.port();
    ssebus::server::Server second(c);
    CHECK_THROWS_WITH(second.start(), Catch::Contains("cannot listen on 127.0.0.1:" + std::to_string(first.port())));
}

TEST_CASE("regression: a request path that is not UTF-8 no longer stops the server") {
    // The 405 quoting the decoded path threw from JSON serialisation inside the router's
    // error handler, and the exception ended the I/O thread: std::terminate.
    TestServer s;
    const auto r = request(s.port(), http::verb::post, "/%FF%FE");
    CHECK(r.status == 405);
    CHECK(r.json()["error"].get<std::string>().find("use GET, HEAD") == 0);
    CHECK(get(s.port(), "/healthz").status == 200);
}

TEST_CASE("regression: an answer to HEAD has no body, so keep-alive stays in step") {
    TestServer s;
    const auto all = raw_exchange(s.port(), "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                            "HEAD /nowhere/api HTTP/1.1\r\nHost: x\r\n\r\n"
                                            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    // Three responses, each right after the previous header: HEAD's Content-Length is the
    // GET's, but no body follows it.
    std::vector<std::string> statuses;
    for (std::size_t at = 0; at < all.size();) {
        statuses.push_back(all.substr(at, 12));
        const auto end = all.find("\r\n\r\n", at);
        REQUIRE(end != std::string::npos);
        at = end + 4;
        if (statuses.size() == 3) at += std::string_view(R"({"status":"ok"})" "\n").size();
    }
    CHECK(statuses == std::vector<std::string>{"HTTP/1.1 200", "HTTP/1.1 404", "HTTP/1.1 200"});
}

TEST_CASE("regression: the Bearer scheme is matched without regard to case") {
    TestServer s;
    for (const std::string scheme : {"Bearer", "bearer", "BEARER"}) {
        const auto r = request(s.port(), http::verb::post, "/api/events", R"({"event":"x"})",
                               {{"Authorization", scheme + " " + publisher_key}});
        CHECK(r.status == 202);
    }
}
