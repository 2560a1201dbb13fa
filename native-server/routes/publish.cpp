#include "routes/publish.hpp"

#include <memory>

#include "log.hpp"
#include "ssebus/sse_writer.hpp"

namespace ssebus::server::routes {

const PublishShape events_body{.name_fields = {"event"}, .stream_field = "stream", .takes_retry = true};
const PublishShape broadcast_body{.name_fields = {"type", "event"}, .default_name = "broadcast",
                                  .stream_field = "stream_id", .absent_stream = "*"};
const PublishShape sse_test_body{.name_fields = {"event"}, .default_name = "test", .default_message = "Test event",
                                 .data_defaults_to_message = true};

namespace {

constexpr std::size_t max_name_length = 256;

void check_event_name(const std::string& name) {
    if (!sse::valid_event_name(name) || name.size() > max_name_length)
        throw HttpError{Status::bad_request, "\"event\" must be a non-empty name of at most 256 characters "
                                             "without line breaks"};
    if (name.starts_with("ssebus:"))
        throw HttpError{Status::bad_request, "event names starting with \"ssebus:\" are reserved for the bridge"};
}

std::optional<std::uint32_t> parse_retry(const nlohmann::json& body) {
    const auto it = body.find("retry");
    if (it == body.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > 86'400'000)
        throw HttpError{Status::bad_request, "\"retry\" must be a whole number of milliseconds (at most a day)"};
    return it->get<std::uint32_t>();
}

std::string event_name(const nlohmann::json& body, const PublishShape& shape) {
    for (const char* field : shape.name_fields) {
        // Only the last name field may be required: "type" falls back to "event".
        auto name = string_field(body, field, !shape.default_name && field == shape.name_fields.back());
        if (!name.empty()) return name;
    }
    return shape.default_name ? shape.default_name : "";
}

void log_refused(const std::string& name, const Published& p) {
    SSEBUS_LOG(warn, "publish refused by the store", {"name", name}, {"error", p.error},
               {"retry_after_s", p.retry_after_s});
}

// A store that refuses without saying why still gets a message to the client.
std::string refusal_message(const Published& p) {
    return p.error.empty() ? std::string("the event store could not commit the event; try again") : p.error;
}

}  // namespace

Event parse_publish(const nlohmann::json& body, const PublishShape& shape) {
    Event e;
    e.name = event_name(body, shape);
    check_event_name(e.name);
    e.message = string_field(body, "message", false);
    if (e.message.empty()) e.message = shape.default_message;
    const auto data = body.find("data");
    if (data != body.end()) e.data = data->dump();
    else if (shape.data_defaults_to_message) e.data = nlohmann::json{{"message", e.message}}.dump();
    if (shape.stream_field) {
        e.stream = string_field(body, shape.stream_field, false);
        if (e.stream.empty()) e.stream = shape.absent_stream;
        else require_plain_id(e.stream, "\"" + std::string(shape.stream_field) + "\"");
    }
    e.target = parse_target(body);
    if (shape.takes_retry) e.retry_ms = parse_retry(body);
    return e;
}

std::optional<VideoChange> keep_video_record(mux::VideoStore& videos, const Event& event) {
    // Only an event everyone may see: the list is public.
    if (event.name != "video:created" || event.target.kind != Target::Kind::all) return std::nullopt;
    auto data = nlohmann::json::parse(event.data, nullptr, false);
    if (!data.is_object()) return std::nullopt;
    const auto id = data.find("videoId");
    if (id == data.end() || !id->is_string() || !plain_id(id->get_ref<const std::string&>())) return std::nullopt;
    VideoChange change{id->get<std::string>(), videos.get(id->get<std::string>())};
    videos.upsert(change.id, data);
    return change;
}

Outcome publish_and_answer(Context& ctx, Event event) {
    // Kept first, so that a client that lists the videos on this event finds it there;
    // put back as it was if the event is not published.
    auto change = keep_video_record(ctx.app.videos, event);
    auto respond = ctx.defer();
    const std::string name = event.name;
    auto& videos = ctx.app.videos;
    ctx.app.publish(std::move(event), [respond, name, &videos, change = std::move(change)](Published p) {
        if (!p.ok()) {
            log_refused(name, p);
            if (change) videos.restore(change->id, change->previous);
            return respond.unavailable(refusal_message(p), p.retry_after_s);
        }
        respond.json(Status::accepted, {{"id", p.event->id()}, {"delivered", p.delivered}});
    });
    return deferred;
}

namespace {

// The events of publish_in_order still to go.
struct Chain : std::enable_shared_from_this<Chain> {
    App& app;
    std::vector<Event> events;
    std::function<void(std::optional<Published>)> done;
    std::size_t next = 0;

    Chain(App& app, std::vector<Event> events, std::function<void(std::optional<Published>)> done)
        : app(app), events(std::move(events)), done(std::move(done)) {}

    void step() {
        if (next == events.size()) return done(std::nullopt);
        auto& event = events[next++];
        const std::string name = event.name;
        app.publish(std::move(event), [self = shared_from_this(), name](Published p) {
            if (!p.ok()) {
                log_refused(name, p);
                return self->done(std::move(p));
            }
            self->step();
        });
    }
};

}  // namespace

void publish_in_order(App& app, std::vector<Event> events, std::function<void(std::optional<Published>)> done) {
    std::make_shared<Chain>(app, std::move(events), std::move(done))->step();
}

}  // namespace ssebus::server::routes
