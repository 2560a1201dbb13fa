// Identity and targets: a targeted event reaches only its target; tokens are verified.
#include <catch2/catch.hpp>

#include "jwt.hpp"
#include "server_support.hpp"

using namespace test;
using ssebus::server::Identity;

namespace {

std::string token(const std::string& user, const std::string& session, const std::string& secret = jwt_secret) {
    return ssebus::server::sign_jwt(secret, Identity{user, session}, std::chrono::hours(1));
}

}  // namespace

TEST_CASE("targeted events reach only their target") {
    TestServer s;
    SseClient anon(s.port(), "/api/events?clientId=anon-1");
    SseClient alice(s.port(), "/api/events?clientId=alice-tab&token=" + token("alice", "s-a1"));
    SseClient alice_other(s.port(), "/api/events", {{"Cookie", "ssebus_token=" + token("alice", "s-a2")}});
    SseClient bob(s.port(), "/api/events?token=" + token("bob", "s-b1"));
    REQUIRE(eventually([&] { return s.server.hub().subscriber_count() == 4; }));

    auto send = [&](const std::string& type, const std::string& id) {
        nlohmann::json body{{"event", "to-" + type + "-" + id}, {"target", {{"type", type}}}};
        if (!id.empty()) body["target"]["id"] = id;
        const auto r = publish(s.port(), body);
        REQUIRE(r.status == 202);
        return r.json()["delivered"].get<int>();
    };
    auto names = [](SseClient& c) {
        std::vector<std::string> out;
        for (auto& e : c.drain(150ms)) out.push_back(e.name);
        return out;
    };

    CHECK(send("all", "") == 4);
    CHECK(send("broadcast", "") == 3);
    CHECK(send("user", "alice") == 2);
    CHECK(send("session", "s-a2") == 1);
    CHECK(send("client", "anon-1") == 1);
    CHECK(send("user", "nobody") == 0);

    CHECK(names(anon) == std::vector<std::string>{"to-all-", "to-client-anon-1"});
    CHECK(names(alice) == std::vector<std::string>{"to-all-", "to-broadcast-", "to-user-alice"});
    CHECK(names(alice_other) == std::vector<std::string>{"to-all-", "to-broadcast-", "to-user-alice", "to-session-s-a2"});
    CHECK(names(bob) == std::vector<std::string>{"to-all-", "to-broadcast-"});
}

TEST_CASE("the in-process API targets the same way") {
    TestServer s;
    auto& hub = s.server.hub();
    SseClient anon(s.port(), "/api/events?clientId=c1");
    SseClient carol(s.port(), "/api/events?token=" + token("carol", "s-c"));
    REQUIRE(eventually([&] { return hub.subscriber_count() == 2; }));

    hub.notify_all("all", {{"n", 1}});
    hub.broadcast("members", {{"n", 2}}, 7000);
    hub.notify_user("carol", "user", {{"n", 3}});
    hub.notify_session("s-c", "session", {{"n", 4}});
    hub.notify_client("c1", "client", {{"n", 5}});

    std::vector<std::string> a, c;
    for (auto& e : anon.drain(150ms)) a.push_back(e.name);
    for (auto& e : carol.drain(150ms)) c.push_back(e.name);
    CHECK(a == std::vector<std::string>{"all", "client"});
    CHECK(c == std::vector<std::string>{"all", "members", "user", "session"});
    CHECK(carol.retry() == 7000);
}

TEST_CASE("lifecycle hooks see connects, heartbeats and disconnects") {
    auto c = test_config();
    c.heartbeat = 30ms;
    ssebus::server::Server server(c);
    std::atomic<int> connects{0}, disconnects{0}, heartbeats{0};
    server.hub().on_connect = [&](const ssebus::server::ClientInfo& who) {
        if (who.client_id == "hooked") ++connects;
    };
    server.hub().on_disconnect = [&](const ssebus::server::ClientInfo&) { ++disconnects; };
    server.hub().on_heartbeat = [&](const ssebus::server::ClientInfo&) { ++heartbeats; };
    server.start();
    {
        SseClient client(server.port(), "/api/events?clientId=hooked");
        CHECK(eventually([&] { return heartbeats >= 2; }));
    }
    CHECK(eventually([&] { return disconnects == 1; }));
    CHECK(connects == 1);
    server.stop();
}

TEST_CASE("tokens are verified") {
    TestServer s;

    SECTION("every stream route refuses a bad token with 401, from ?token= or the cookie, and says why") {
        const auto expired = ssebus::server::sign_jwt(jwt_secret, Identity{"alice", "s"}, std::chrono::seconds(60),
                                                      std::chrono::system_clock::now() - std::chrono::hours(2));
        const auto none = ssebus::server::base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." +
                          ssebus::server::base64url_encode(R"({"sub":"alice","sid":"s","exp":9999999999})") + ".";
        const auto genuine = token("alice", "s");
        const auto tampered = genuine.substr(0, genuine.size() - 2) + (genuine[genuine.size() - 2] == 'A' ? "Bw" : "Aw");
        struct Bad {
            std::string what, token, why;
        };
        const std::vector<Bad> bad = {
            {"a forged signature (another secret)", token("alice", "s", "not-the-secret"), "bad signature"},
            {"a tampered signature", tampered, "bad signature"},
            {"an expired token", expired, "token expired"},
            {"alg: none", none, "alg must be HS256"},
            {"a token signed with the publisher key", token("alice", "s", publisher_key), "bad signature"},
            {"the publisher key itself", publisher_key, "not a JWT (expected three parts)"},
        };
        for (const std::string route : {"/api/events", "/api/sse", "/api/events/stream", "/api/v1/events/stream/default",
                                        "/videos/v1/status"}) {
            for (const auto& b : bad) {
                INFO(route << " with " << b.what);
                const auto by_query = get(s.port(), route + "?token=" + b.token);
                CHECK(by_query.status == 401);
                CHECK(by_query.json()["error"] == "invalid token: " + b.why);
                const auto by_cookie = get(s.port(), route, {{"Cookie", "ssebus_token=" + b.token}});
                CHECK(by_cookie.status == 401);
                CHECK(by_cookie.json()["error"] == "invalid token: " + b.why);
            }
        }
        CHECK(s.server.hub().stats().connections_total == 0);
    }
    SECTION("a malformed clientId is 400") {
        CHECK(get(s.port(), "/api/events?clientId=a%20b").status == 400);
    }
}

TEST_CASE("a user may hold a limited number of streams") {
    auto c = test_config();
    c.max_streams_per_user = 2;
    TestServer s(c);
    const auto t = token("dave", "s-d");
    {
        SseClient one(s.port(), "/api/events?token=" + t);
        SseClient two(s.port(), "/api/sse?token=" + t);
        CHECK(one.status() == 200);
        CHECK(two.status() == 200);
        const auto third = get(s.port(), "/api/events?token=" + t);
        CHECK(third.status == 429);
        CHECK(third.json()["error"].get<std::string>().find("2 open streams") != std::string::npos);
        SseClient other_user(s.port(), "/api/events?token=" + token("erin", "s-e"));
        CHECK(other_user.status() == 200);
        SseClient anonymous(s.port(), "/api/events");
        CHECK(anonymous.status() == 200);
    }
    // Closed streams free their places.
    CHECK(eventually([&] { return get(s.port(), "/api/events/stats").json()["active_clients"] == 0; }));
    SseClient again(s.port(), "/api/events?token=" + t);
    CHECK(again.status() == 200);
    CHECK(get(s.port(), "/metrics").body.find("ssebus_streams_refused_total 1\n") != std::string::npos);
}

TEST_CASE("/api/sse greets the client with who it is") {
    TestServer s;
    SseClient client(s.port(), "/api/sse?clientId=tab-9&token=" + token("frank", "s-f"));
    const auto hello = client.next();
    REQUIRE(hello);
    CHECK(hello->name == "connected");
    CHECK(hello->json() == nlohmann::json{{"clientId", "tab-9"}, {"userId", "frank"}, {"sessionId", "s-f"},
                                          {"authenticated", true}});
    const auto r = publish(s.port(), {{"target", {{"type", "client"}, {"id", "tab-9"}}}, {"message", "hi"}},
                           publisher_key, "/api/sse-test");
    REQUIRE(r.status == 202);
    const auto e = client.next();
    REQUIRE(e);
    CHECK(e->name == "test");
    CHECK(e->json()["message"] == "hi");
    CHECK(get(s.port(), "/api/sse-test").json()["route_clients"] == 1);
}

TEST_CASE("demo login issues a token the server accepts") {
    auto c = test_config();
    c.demo = true;
    TestServer s(c);
    const auto r = request(s.port(), http::verb::post, "/api/login", R"({"user":"gina"})");
    REQUIRE(r.status == 200);
    CHECK(r.header("Set-Cookie").find("ssebus_token=") == 0);
    CHECK(r.header("Set-Cookie").find("HttpOnly") != std::string::npos);
    SseClient client(s.port(), "/api/sse?token=" + r.json()["token"].get<std::string>());
    CHECK(client.next()->json()["userId"] == "gina");
}

TEST_CASE("without --demo there is no login") {
    TestServer s;
    CHECK(request(s.port(), http::verb::post, "/api/login", R"({"user":"gina"})").status == 404);
    CHECK(get(s.port(), "/api/demo/config").status == 404);
}
