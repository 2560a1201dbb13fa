// Who may read what, and who may publish: every identity against every target, live and on
// replay; the publisher key and client tokens are never interchangeable.
#include <iostream>
#include <sstream>

#include <catch2/catch.hpp>

#include "log.hpp"
#include "server_support.hpp"

using namespace test;

namespace {

using Headers = std::map<std::string, std::string>;

// "a?b" + "c=d": a query string that may already have begun.
std::string with_param(const std::string& target, const std::string& param) {
    return target + (target.find('?') == std::string::npos ? "?" : "&") + param;
}

Headers merged(Headers a, const Headers& b) {
    a.insert(b.begin(), b.end());
    return a;
}

// The server's log at debug, kept in memory while the capture lives. Read text() only once
// the server has stopped (its threads write to std::clog).
class LogCapture {
public:
    LogCapture() : level_(ssebus::server::log::level()), saved_(std::clog.rdbuf(out_.rdbuf())) {
        ssebus::server::log::set_level(ssebus::server::log::Level::debug);
    }
    ~LogCapture() {
        std::clog.rdbuf(saved_);
        ssebus::server::log::set_level(level_);
    }
    std::string text() const { return out_.str(); }

private:
    std::ostringstream out_;
    ssebus::server::log::Level level_;
    std::streambuf* saved_;
};

// No secret, key or token in the log: the values the tests use, and any JWT (each one
// starts with the base64url of `{"`).
void check_no_secret_in(const std::string& log) {
    for (const auto& secret : {publisher_key, jwt_secret, mux_secret}) {
        INFO("secret: " << secret);
        CHECK(log.find(secret) == std::string::npos);
    }
    CHECK(log.find("eyJ") == std::string::npos);
}

}  // namespace

TEST_CASE("security matrix: every identity receives exactly the events addressed to it, live, on replay and in the latest-of-each-type snapshot") {
    LogCapture log;  // at debug: no secret may reach it
    TestServer s;
    auto& hub = s.server.hub();
    const auto alice_1 = client_token("alice", "s-a1");
    const auto alice_2 = client_token("alice", "s-a2");
    const auto bob = client_token("bob", "s-b1");

    // The publisher key is not a client token: presented as one, it is refused.
    for (const std::string route : {"/api/events", "/api/sse"}) {
        const auto r = get(s.port(), route + "?token=" + publisher_key);
        CHECK(r.status == 401);
        CHECK(r.json()["error"] == "invalid token: not a JWT (expected three parts)");
    }

    // The columns: one event per target.
    struct Addressee {
        std::string type, id;
    };
    const std::vector<Addressee> targets = {
        {"all", ""},           {"broadcast", ""},       {"user", "alice"},     {"user", "bob"},
        {"session", "s-a1"},   {"session", "s-a2"},     {"client", "client-x"},
        // Ids that belong to nobody, then ids of one kind used as another kind.
        {"user", "mallory"},   {"session", "s-nobody"}, {"client", "c-nobody"},
        {"user", "client-x"},  {"user", "s-a1"},        {"session", "alice"},  {"client", "alice"},
    };
    // The rows: which columns reach an identity ('x': it arrives; '.': it must not), and who
    // the identity is.
    struct Row {
        std::string expected;
        std::string who;
        std::string query;  // on the stream's URL
        Headers headers;
    };
    const std::vector<Row> rows = {
        //  all
        //  | broadcast
        //  | | user alice
        //  | | | user bob
        //  | | | | session s-a1
        //  | | | | | session s-a2
        //  | | | | | | client client-x
        //  | | | | | | | user mallory, session s-nobody, client c-nobody
        //  | | | | | | | | | | user client-x, user s-a1, session alice, client alice
        //  | | | | | | | | | | | | | |
        {  "x . . . . . . . . . . . . .", "anonymous", "", {}},
        {  "x x x . x . . . . . . . . .", "user A, session 1 (?token=)", "token=" + alice_1, {}},
        {  "x x . x . . . . . . . . . .", "user B (?token=)", "token=" + bob, {}},
        {  "x x x . . x . . . . . . . .", "user A, session 2 (cookie)", "", {{"Cookie", "ssebus_token=" + alice_2}}},
        {  "x . . . . . x . . . . . . .", "client X (?clientId=)", "clientId=client-x", {}},
        {  "x . . . . . . . . . . . . .", "the publisher (Bearer key)", "", {{"Authorization", "Bearer " + publisher_key}}},
        {  "x . . . . . . . . . . . . .", "the publisher (X-Publisher-Key)", "", {{"X-Publisher-Key", publisher_key}}},
    };
    const std::vector<std::string> routes = {"/api/events", "/api/sse"};
    auto event_name = [](const Addressee& t) { return "to:" + t.type + (t.id.empty() ? "" : ":" + t.id); };
    auto column = [](std::size_t j) { return 2 * j; };  // of a target in a row's string

    // One stream per identity and route, all open at once.
    struct Listener {
        const Row* row;
        std::string route;
        std::unique_ptr<SseClient> client;
    };
    auto open_all = [&](const Headers& extra) {
        std::vector<Listener> out;
        for (const auto& row : rows) {
            for (const auto& route : routes) {
                const auto target = row.query.empty() ? route : with_param(route, row.query);
                auto client = std::make_unique<SseClient>(s.port(), target, merged(row.headers, extra));
                INFO(row.who << " on " << route);
                REQUIRE(client->status() == 200);
                if (route == "/api/sse") {
                    // It says who the server takes it for.
                    const auto hello = client->next();
                    REQUIRE(hello);
                    REQUIRE(hello->name == "connected");
                    CHECK(hello->json()["authenticated"] == (row.expected[column(1)] == 'x'));
                }
                out.push_back({&row, route, std::move(client)});
            }
        }
        REQUIRE(eventually([&] { return hub.subscriber_count() == out.size(); }));
        return out;
    };
    // Everything a stream receives up to the end marker (which every stream receives).
    auto received = [](SseClient& client) {
        std::vector<std::string> events;  // "id name"
        while (auto e = client.next()) {
            if (e->name == "matrix:end") return events;
            events.push_back(e->id + " " + e->name);
        }
        FAIL("the stream ended before the end marker");
        return events;
    };
    // The row string a stream's events spell.
    auto observed = [&](const std::vector<std::string>& events) {
        std::string row;
        for (const auto& t : targets) {
            const auto n = std::count_if(events.begin(), events.end(),
                                         [&](const std::string& e) { return e.substr(e.find(' ') + 1) == event_name(t); });
            row += std::string(row.empty() ? "" : " ") + (n == 0 ? "." : n == 1 ? "x" : std::to_string(n));
        }
        return row;
    };

    auto live = open_all({});
    const auto start = publish(s.port(), {{"event", "matrix:start"}}).json()["id"].get<std::uint64_t>();
    for (std::size_t j = 0; j < targets.size(); ++j) {
        nlohmann::json target{{"type", targets[j].type}};
        if (!targets[j].id.empty()) target["id"] = targets[j].id;
        const auto r = publish(s.port(), {{"event", event_name(targets[j])}, {"target", target}});
        REQUIRE(r.status == 202);
        // The server's own count agrees with the column.
        const auto column_count =
            std::count_if(rows.begin(), rows.end(), [&](const Row& row) { return row.expected[column(j)] == 'x'; });
        INFO("target " << event_name(targets[j]));
        CHECK(r.json()["delivered"] == column_count * static_cast<long>(routes.size()));
    }
    publish(s.port(), {{"event", "matrix:end"}});

    std::map<const Listener*, std::vector<std::string>> live_events;
    for (auto& l : live) {
        INFO(l.row->who << " on " << l.route << ", live");
        auto events = received(*l.client);
        REQUIRE_FALSE(events.empty());
        CHECK(events.front().ends_with(" matrix:start"));
        events.erase(events.begin());
        CHECK(observed(events) == l.row->expected);
        live_events[&l] = std::move(events);
    }

    // Replay: each identity comes back with the id it saw before the publishes, and gets
    // the same events again, with the same ids, in the same order.
    for (auto& l : live) l.client->close();
    REQUIRE(eventually([&] { return hub.subscriber_count() == 0; }));
    auto again = open_all({{"Last-Event-ID", std::to_string(start)}});
    for (std::size_t i = 0; i < again.size(); ++i) {
        INFO(again[i].row->who << " on " << again[i].route << ", replayed");
        const auto events = received(*again[i].client);
        CHECK(observed(events) == again[i].row->expected);
        CHECK(events == live_events[&live[i]]);
    }
    CHECK(hub.stats().gaps_reported == 0);

    // A new client of /api/events/stream first gets the latest event of each type: of these,
    // again only the ones addressed to it.
    for (auto& l : again) l.client->close();
    REQUIRE(eventually([&] { return hub.subscriber_count() == 0; }));
    for (const auto& row : rows) {
        INFO(row.who << " on /api/events/stream, latest of each type");
        SseClient client(s.port(), row.query.empty() ? "/api/events/stream" : with_param("/api/events/stream", row.query),
                         row.headers);
        REQUIRE(client.status() == 200);
        std::vector<std::string> events;
        while (auto e = client.next()) {
            const auto type = e->json()["type"].get<std::string>();
            if (type == "matrix:end") break;
            if (type != "matrix:start") events.push_back(e->id + " " + type);
        }
        CHECK(observed(events) == row.expected);
    }
    s.server.stop();
    const auto text = log.text();
    CHECK(text.find("stream opened") != std::string::npos);  // it did log at debug
    CHECK(text.find("published") != std::string::npos);
    check_no_secret_in(text);
}

TEST_CASE("publishing and stream control need the publisher key; a client token is not a key") {
    LogCapture log;  // at debug: no secret may reach it, not even a wrong key's near miss
    TestServer s;
    const auto client = client_token("alice", "s-a1");
    const std::string needs_key = "this route needs the publisher key (Authorization: Bearer <key>)";
    const std::string wrong_key = "wrong publisher key";

    // In an order in which each succeeds with the key.
    struct Route {
        std::string target, body;
    };
    const std::vector<Route> routes = {
        {"/api/events", R"({"event":"x"})"},
        {"/api/sse-test", R"({"message":"x"})"},
        {"/api/v1/events/broadcast", R"({"type":"x"})"},
        {"/api/v1/events/stream/default/start", ""},
        {"/api/v1/events/stream/default/pause", ""},
        {"/api/v1/events/stream/default/resume", ""},
        {"/api/v1/events/stream/default/stop", ""},
    };
    struct Credential {
        std::string what;
        std::string query;
        Headers headers;
        std::string error;
    };
    const std::string key_but_last = publisher_key.substr(0, publisher_key.size() - 1);
    const std::vector<Credential> refused = {
        {"nothing", "", {}, needs_key},
        {"a wrong key (Bearer)", "", {{"Authorization", "Bearer wrong-key"}}, wrong_key},
        {"a wrong key (X-Publisher-Key)", "", {{"X-Publisher-Key", "wrong-key"}}, wrong_key},
        {"the key but its last character", "", {{"Authorization", "Bearer " + key_but_last}}, wrong_key},
        {"the key and one more character", "", {{"Authorization", "Bearer " + publisher_key + "x"}}, wrong_key},
        {"the key with a different last character", "", {{"Authorization", "Bearer " + key_but_last + "?"}}, wrong_key},
        {"an empty Bearer", "", {{"Authorization", "Bearer "}}, needs_key},
        {"a client token (Bearer)", "", {{"Authorization", "Bearer " + client}}, wrong_key},
        {"a client token (X-Publisher-Key)", "", {{"X-Publisher-Key", client}}, wrong_key},
        {"a client token (?token=)", "token=" + client, {}, needs_key},
        {"a client token (cookie)", "", {{"Cookie", "ssebus_token=" + client}}, needs_key},
        {"the key in ?token=", "token=" + publisher_key, {}, needs_key},
        {"the key in the cookie", "", {{"Cookie", "ssebus_token=" + publisher_key}}, needs_key},
        {"a token signed with the key", "", {{"Authorization", "Bearer " + client_token("alice", "s-a1", publisher_key)}},
         wrong_key},
    };
    for (const auto& route : routes) {
        for (const auto& credential : refused) {
            INFO("POST " << route.target << " with " << credential.what);
            const auto target = credential.query.empty() ? route.target : with_param(route.target, credential.query);
            const auto r = request(s.port(), http::verb::post, target, route.body, credential.headers);
            CHECK(r.status == 401);
            CHECK(r.json()["error"] == credential.error);
        }
    }
    // Nothing was published, no demo stream moved.
    CHECK(s.server.hub().stats().events_published == 0);
    const auto streams = get(s.port(), "/api/v1/events/streams").json()["streams"];
    for (const auto& stream : streams) CHECK(stream["status"] == "stopped");

    // The key itself opens every route.
    for (const auto& route : routes) {
        INFO("POST " << route.target << " with the key");
        const auto r = request(s.port(), http::verb::post, route.target, route.body,
                               {{"Authorization", "Bearer " + publisher_key}});
        CHECK((r.status == 200 || r.status == 202));
    }
    s.server.stop();
    check_no_secret_in(log.text());
}

TEST_CASE("regression: anyone could send a simulated upload's events into another user's stream") {
    // POST /api/uploads needs no key (the page's own uploads report to its connection), but
    // its target let an anonymous caller address any user or session.
    TestServer s;
    SseClient alice(s.port(), "/api/events?token=" + client_token("alice", "s-a1"));
    const auto upload = [&](const std::string& target, const Headers& headers = {}) {
        return request(s.port(), http::verb::post, "/api/uploads",
                       R"({"filename":"x.mp4","target":)" + target + "}", headers);
    };

    SECTION("another user or session is refused with 403, and nothing reaches them") {
        const auto bob = "Bearer " + client_token("bob", "s-b1");
        for (const auto& [target, headers] : std::vector<std::pair<std::string, Headers>>{
                 {R"({"type":"user","id":"alice"})", {}},
                 {R"({"type":"session","id":"s-a1"})", {}},
                 {R"({"type":"user","id":"alice"})", {{"Cookie", "ssebus_token=" + client_token("bob", "s-b1")}}},
                 {R"({"type":"session","id":"s-a1"})", {{"Authorization", bob}}},
             }) {
            const auto r = upload(target, headers);
            CHECK(r.status == 403);
            CHECK(r.json()["error"].get<std::string>().find("publisher key") != std::string::npos);
        }
        publish(s.port(), {{"event", "marker"}});
        const auto e = alice.next();
        REQUIRE(e);
        CHECK(e->name == "marker");
    }
    SECTION("the caller's own user or session, a client id, or the publisher key are accepted") {
        const Headers own{{"Cookie", "ssebus_token=" + client_token("alice", "s-a2")}};
        CHECK(upload(R"({"type":"user","id":"alice"})", own).status == 202);
        CHECK(upload(R"({"type":"session","id":"s-a2"})", own).status == 202);
        CHECK(upload(R"({"type":"client","id":"c-1"})").status == 202);
        CHECK(upload(R"({"type":"session","id":"s-a1"})", {{"Authorization", "Bearer " + publisher_key}}).status == 202);
        const auto e = alice.next();
        REQUIRE(e);
        CHECK(e->name == "video:upload:started");
    }
}
