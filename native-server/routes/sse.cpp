// /api/sse: a user- and session-aware stream that greets its client; /api/sse-test: its
// stats, and a test event to a target.
#include "routes/handlers.hpp"
#include "routes/publish.hpp"
#include "ssebus/sse_writer.hpp"

namespace ssebus::server::routes::sse {

namespace {
nlohmann::json or_null(const std::string& s) {
    return s.empty() ? nlohmann::json() : nlohmann::json(s);
}
}  // namespace

// GET /api/sse: first a `connected` event saying who the server takes the client for.
Outcome stream(Context& ctx) {
    auto start = ctx.open_stream(ctx.identify("/api/sse"), Filter{}, Framing::named);
    const auto& c = start.subscription->client;
    const nlohmann::json hello{{"clientId", c.client_id}, {"userId", or_null(c.user)},
                               {"sessionId", or_null(c.session)}, {"authenticated", c.authenticated()}};
    start.preamble.push_back(
        std::make_shared<const std::string>(ssebus::sse::frame({.name = "connected", .data = hello.dump()})));
    return start;
}

// GET /api/sse-test: the hub's stats and the clients of /api/sse.
Outcome stats(Context& ctx) {
    auto stats = ctx.app.hub.stats().to_json();
    stats["route_clients"] = ctx.app.hub.count_clients([](const Subscription& s) { return s.client.route == "/api/sse"; });
    return ctx.json(Status::ok, stats);
}

// POST /api/sse-test (publisher key): {event?, message?, data?, target?}.
Outcome test_event(Context& ctx) {
    ctx.require_key();
    return publish_and_answer(ctx, parse_publish(ctx.json_body(), sse_test_body));
}

}  // namespace ssebus::server::routes::sse
