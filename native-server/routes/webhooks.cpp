// POST /api/webhooks/mux: Mux webhooks, verified over the raw body, kept as video records,
// and published as video:* events.
#include "log.hpp"
#include "routes/handlers.hpp"
#include "routes/publish.hpp"

namespace ssebus::server::routes::webhooks {

namespace {

// The answer once every event of the webhook is committed, or the first refusal.
void answer(const Responder& respond, const mux::VideoStore::Applied& applied, std::optional<Published> refusal) {
    if (refusal) {
        return respond.unavailable(refusal->error.empty() ? "the event store could not commit the webhook's events"
                                                          : refusal->error,
                                   refusal->retry_after_s);
    }
    respond.json(Status::ok, {{"received", true}, {"duplicate", applied.duplicate}, {"ignored", applied.ignored},
                              {"events", applied.events.size()}});
}

// A string member of the webhook ("" when it is not one).
std::string member(const nlohmann::json& body, const char* name) {
    const auto it = body.find(name);
    return it != body.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

Outcome mux(Context& ctx) {
    ctx.require_json_type();
    return accept_mux(ctx, ctx.req["Mux-Signature"], ctx.req.body());
}

// The signature over the raw body first, then the body.
Outcome accept_mux(Context& ctx, std::string_view signature, const std::string& raw_body) {
    if (ctx.config.mux_secret.empty()) {
        SSEBUS_LOG(info, "mux webhook refused", {"why", "no Mux secret configured (--mux-secret)"},
                   {"remote", ctx.remote()});
        throw HttpError{Status::service_unavailable, "no Mux secret configured (--mux-secret)"};
    }
    const auto verdict = mux::verify_signature(signature, raw_body, ctx.config.mux_secret, std::chrono::system_clock::now());
    if (verdict != mux::Verdict::ok) {
        SSEBUS_LOG(info, "mux webhook refused", {"why", mux::to_string(verdict)}, {"remote", ctx.remote()});
        throw HttpError{Status::unauthorized, "webhook refused: " + std::string(mux::to_string(verdict))};
    }
    const auto body = parse_json_object(raw_body);
    auto applied = ctx.app.videos.apply(body);
    const char* outcome = applied.duplicate ? "duplicate" : applied.ignored ? "ignored" : "verified";
    SSEBUS_LOG(info, "mux webhook", {"outcome", outcome}, {"type", member(body, "type").substr(0, 64)},
               {"webhook_id", member(body, "id").substr(0, 64)}, {"events", applied.events.size()});
    std::vector<Event> events;
    for (auto& e : applied.events) events.push_back({.name = std::move(e.name), .data = e.data.dump()});
    auto respond = ctx.defer();
    auto& videos = ctx.app.videos;
    auto on_done = [respond, &videos, id = member(body, "id"), applied = std::move(applied)](std::optional<Published> refusal) {
        // Not published, so not applied: the sender's retry of the 503 is applied again.
        if (refusal) videos.forget(id);
        answer(respond, applied, std::move(refusal));
    };
    publish_in_order(ctx.app, std::move(events), std::move(on_done));
    return deferred;
}

}  // namespace ssebus::server::routes::webhooks
