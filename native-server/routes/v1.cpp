// /api/v1/events/...: named streams framed {id, type, message, data, timestamp, stream_id},
// a broadcast to them, and the demo generators that feed them.
#include "routes/handlers.hpp"
#include "routes/publish.hpp"

namespace ssebus::server::routes::v1 {

// GET /api/v1/events/streams: the demo streams and their status.
Outcome streams(Context& ctx) {
    return ctx.json(Status::ok, {{"streams", ctx.app.generators.list()}});
}

// POST /api/v1/events/broadcast (publisher key): an empty stream_id reaches every stream.
Outcome broadcast(Context& ctx) {
    ctx.require_key();
    return publish_and_answer(ctx, parse_publish(ctx.json_body(), broadcast_body));
}

// GET /api/v1/events/stream/{id}
Outcome stream(Context& ctx) {
    const auto& id = ctx.param("id");
    if (!plain_id(id)) throw HttpError{Status::bad_request, "stream ids are 1-64 of [A-Za-z0-9_.:-]"};
    Filter filter{.global = false, .streams = {id}};
    return ctx.open_stream(ctx.identify("/api/v1/events/stream"), std::move(filter), Framing::stream);
}

// POST /api/v1/events/stream/{id}/start|stop|pause|resume (publisher key)
Outcome control(Context& ctx) {
    ctx.require_key();
    const auto& id = ctx.param("id");
    std::string error;
    const auto status = ctx.app.generators.control(id, ctx.param("action"), error);
    if (!status) throw HttpError{StreamGenerators::known(id) ? Status::bad_request : Status::not_found, error};
    return ctx.json(Status::ok, {{"stream_id", id}, {"status", *status}});
}

}  // namespace ssebus::server::routes::v1
