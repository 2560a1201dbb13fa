#include "event.hpp"

#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>

#include "ssebus/sse_writer.hpp"

namespace ssebus::server {

std::optional<Target::Kind> Target::parse_kind(std::string_view text) {
    if (text == "all") return Kind::all;
    if (text == "broadcast") return Kind::broadcast;
    if (text == "user") return Kind::user;
    if (text == "session") return Kind::session;
    if (text == "client") return Kind::client;
    return std::nullopt;
}

std::string_view Target::kind_name(Kind kind) noexcept {
    switch (kind) {
        case Kind::all: return "all";
        case Kind::broadcast: return "broadcast";
        case Kind::user: return "user";
        case Kind::session: return "session";
        case Kind::client: return "client";
    }
    return "?";
}

PublishedEvent::PublishedEvent(std::uint64_t id, Event event, std::int64_t timestamp_ms, SteadyTime published_at)
    : id_(id), event_(std::move(event)), timestamp_ms_(timestamp_ms), published_at_(published_at) {}

const Frame& PublishedEvent::frame(Framing framing) const {
    const auto i = static_cast<std::size_t>(framing);
    std::call_once(built_[i], [&] {
        const std::string id = std::to_string(id_);
        std::string out;
        switch (framing) {
            case Framing::named:
                out = sse::frame({.id = id, .name = event_.name, .data = event_.data,
                                  .retry_ms = event_.retry_ms});
                break;
            case Framing::envelope: {
                // The data is already JSON text: splice it in rather than parse it again.
                std::string body = R"({"type":)" + nlohmann::json(event_.name).dump() +
                                   R"(,"data":)" + event_.data +
                                   R"(,"timestamp":)" + nlohmann::json(iso8601(timestamp_ms_)).dump() + "}";
                out = sse::frame({.id = id, .data = body, .retry_ms = event_.retry_ms});
                break;
            }
            case Framing::stream: {
                const std::string stream = event_.stream == "*" ? "" : event_.stream;
                std::string body = R"({"id":)" + nlohmann::json(id).dump() +
                                   R"(,"type":)" + nlohmann::json(event_.name).dump() +
                                   R"(,"message":)" + nlohmann::json(event_.message).dump() +
                                   R"(,"data":)" + event_.data +
                                   R"(,"timestamp":)" + nlohmann::json(iso8601(timestamp_ms_)).dump() +
                                   R"(,"stream_id":)" + nlohmann::json(stream).dump() + "}";
                out = sse::frame({.id = id, .data = body, .retry_ms = event_.retry_ms});
                break;
            }
        }
        frames_[i] = std::make_shared<const std::string>(std::move(out));
    });
    return frames_[i];
}

std::string iso8601(std::int64_t unix_ms) {
    const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buf,
                  static_cast<int>(unix_ms % 1000));
    return out;
}

std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace ssebus::server
