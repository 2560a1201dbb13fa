// The video records (GET /api/videos), simulated uploads, and the simulated processing
// pipeline of a listed video.
#include "routes/handlers.hpp"
#include "ssebus/sse_writer.hpp"

namespace ssebus::server::routes::videos {

// GET /api/videos: the records that webhooks, uploads and published video:created events describe.
Outcome list(Context& ctx) {
    return ctx.json(Status::ok, {{"videos", ctx.app.videos.list()}});
}

// POST /api/uploads: {filename, target?}. The page reports an upload to its own connection,
// so this route needs no key; but reporting to a user or a session needs the key or that
// identity's own token.
Outcome upload(Context& ctx) {
    const auto body = ctx.json_body();
    const auto filename = string_field(body, "filename", true);
    if (filename.empty() || filename.size() > 255) throw HttpError{Status::bad_request, "\"filename\" must be 1-255 characters"};
    auto target = parse_target(body);
    const bool personal = target.kind == Target::Kind::user || target.kind == Target::Kind::session;
    if (personal && !ctx.has_key()) {
        const auto caller = ctx.identify("/api/uploads");
        const bool own = target.kind == Target::Kind::user ? caller.user == target.id : caller.session == target.id;
        if (!own)
            throw HttpError{Status::forbidden, "an upload reports to another user or session only with the "
                                              "publisher key (Authorization: Bearer <key>)"};
    }
    const auto id = ctx.app.uploads.start(filename, std::move(target));
    return ctx.json(Status::accepted, {{"uploadId", id}});
}

// POST /videos/{id}/process[?fail=<stage>]: runs the pipeline of a video in the list.
Outcome process(Context& ctx) {
    const auto& id = ctx.param("id");
    if (!plain_id(id)) throw HttpError{Status::bad_request, "video ids are 1-64 of [A-Za-z0-9_.:-]"};
    if (!ctx.app.videos.get(id))
        throw HttpError{Status::not_found, "no video " + id + " (GET /api/videos lists them)"};
    const auto fail = query_param(ctx.req, "fail").value_or("");
    if (!ctx.app.pipeline.start(id, fail)) throw HttpError{Status::conflict, "video " + id + " is already being processed"};
    return ctx.json(Status::accepted, {{"videoId", id}, {"status", "processing"}, {"statusUrl", "/videos/" + id + "/status"}});
}

// GET /videos/{id}/status: the pipeline's video_update events, starting with the last one.
Outcome status(Context& ctx) {
    const auto& id = ctx.param("id");
    if (!plain_id(id)) throw HttpError{Status::bad_request, "video ids are 1-64 of [A-Za-z0-9_.:-]"};
    auto start = ctx.open_stream(ctx.identify("/videos/status"),
                                 Filter{.global = false, .streams = {Pipeline::stream_of(id)}}, Framing::named);
    if (const auto last = ctx.app.pipeline.last_update(id); last && !start.last_event_id)
        start.preamble.push_back(std::make_shared<const std::string>(
            ssebus::sse::frame({.name = "video_update", .data = last->dump()})));
    return start;
}

}  // namespace ssebus::server::routes::videos
