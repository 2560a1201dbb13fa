// Service routes: liveness, Prometheus metrics, stats as JSON, and the test hook.
#include "log.hpp"
#include "metrics.hpp"
#include "routes/handlers.hpp"

namespace ssebus::server::routes::service {

// Ready while the event log can write; 503 with the reason when it cannot (publishing
// answers 503 then, and streams stay open).
Outcome health(Context& ctx) {
    const auto health = ctx.app.hub.log().health();
    if (!health.ready)
        return ctx.json(Status::service_unavailable,
                        {{"status", "not ready"}, {"store", ctx.app.hub.log().kind()}, {"reason", health.reason}});
    return ctx.json(Status::ok, {{"status", "ok"}});
}

Outcome metrics(Context& ctx) {
    const ResponseCounts responses{ctx.app.responses_2xx.load(), ctx.app.responses_4xx.load(),
                                   ctx.app.responses_5xx.load()};
    return text_response(ctx.req, Status::ok, prometheus_text(ctx.app.hub.stats(), responses),
                         "text/plain; version=0.0.4");
}

Outcome stats(Context& ctx) {
    return ctx.json(Status::ok, ctx.app.hub.stats().to_json());
}

Outcome pause_applying(Context& ctx) {
    ctx.require_key();
    const auto ms = parse_u64(query_param(ctx.req, "ms").value_or(""));
    if (!ms || *ms > 600'000) throw HttpError{Status::bad_request, "?ms= must be a number of milliseconds, 0-600000"};
    SSEBUS_LOG(warn, "test hook: the log applies nothing for a while", {"ms", *ms}, {"remote", ctx.remote()});
    ctx.app.hub.log().pause_applying(std::chrono::milliseconds(*ms));
    return ctx.json(Status::accepted, {{"paused_ms", *ms}});
}

}  // namespace ssebus::server::routes::service
