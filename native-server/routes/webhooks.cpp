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

// A string member of the webhook for the log, cut short: it is the sender's text.
std::string member(const nlohmann::json& body, const char* name) {
    const auto it = body.find(name);
    if (it == body.end() || !it->is_string()) return "";
    return it->get_ref<const std::string&>().substr(0, 64);
}
std::string webhook_label(const nlohmann::json& body) { return member(body, "type"); }
std::string webhook_id(const nlohmann::json& body) { return member(body, "id"); }

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
    SSEBUS_LOG(info, "mux webhook", {"outcome", outcome}, {"type", webhook_label(body)},
               {"webhook_id", webhook_id(body)}, {"events", applied.events.size()});
    std::vector<Event> events;
    for (auto& e : applied.events) events.push_back({.name = std::move(e.name), .data = e.data.dump()});
    auto respond = ctx.defer();
    publish_in_order(ctx.app, std::move(events), [respond, applied = std::move(applied)](std::optional<Published> refusal) {
        answer(respond, applied, std::move(refusal));
    });
    return deferred;
}

}  // namespace ssebus::server::routes::webhooks
