// Publishing, shared by every route that publishes: one parser for a publish body, and one
// way to hand events to the hub and answer once they are committed.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "routes/context.hpp"

namespace ssebus::server::routes {

// How a route spells a publish body and what it fills in for absent fields. Every route
// reads `data`, `target` and `message` the same way.
struct PublishShape {
    std::vector<const char*> name_fields;  // the first one present names the event
    const char* default_name = nullptr;    // nullptr: the name is required
    const char* stream_field = nullptr;    // nullptr: the route takes no stream
    const char* absent_stream = "";        // "" global, "*" every named stream
    const char* default_message = "";
    bool data_defaults_to_message = false; // absent data: {"message": message}
    bool takes_retry = false;
};

// POST /api/events: {event, data?, stream?, target?, retry?, message?}
extern const PublishShape events_body;
// POST /api/v1/events/broadcast: {type (or event)?, message?, data?, stream_id?, target?}
extern const PublishShape broadcast_body;
// POST /api/sse-test: {event?, message?, data?, target?}
extern const PublishShape sse_test_body;

// The event a publish body describes, or 400 saying which field is wrong.
Event parse_publish(const nlohmann::json& body, const PublishShape& shape);

// Publishes `event` and answers 202 {"id", "delivered"} once it is committed, or 503
// {"error"} with Retry-After when the store refused it. Returns `deferred`.
Outcome publish_and_answer(Context& ctx, Event event);

// Publishes `events` one after another, each once the one before is committed, then calls
// `done` once: with nothing when all were committed, else with the first refusal (the
// events after it are not published).
void publish_in_order(App& app, std::vector<Event> events, std::function<void(std::optional<Published>)> done);

// An untargeted `video:created` whose data is a record ({"videoId": <plain id>, ...}) is
// kept in the video list (GET /api/videos), before it is published. Returns what to
// restore() if the event is then refused.
struct VideoChange {
    std::string id;
    std::optional<nlohmann::json> previous;
};
std::optional<VideoChange> keep_video_record(mux::VideoStore& videos, const Event& event);

}  // namespace ssebus::server::routes
