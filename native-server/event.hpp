// Events as the hub keeps them: published once, framed once per wire shape, shared by every
// subscriber and by the history.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace ssebus::server {

// Who an event is for.
struct Target {
    enum class Kind { all, broadcast, user, session, client };
    Kind kind = Kind::all;  // broadcast: every authenticated client; all: every client
    std::string id;         // the user, session or client id

    static std::optional<Kind> parse_kind(std::string_view text);
    static std::string_view kind_name(Kind kind) noexcept;  // parse_kind's inverse
};

// Which streams an event belongs to.
//   ""   global: every client of the canonical routes
//   "*"  every named stream (the compatible routes' broadcast with an empty stream_id)
//   "x"  the clients of stream x
struct Event {
    std::string name;          // "video:created"
    std::string data = "null"; // JSON text on one line
    std::string stream;
    Target target;
    std::optional<std::uint32_t> retry_ms;
    std::string message;       // a human sentence, for the {id, type, message, ...} shape
};

// The wire shapes a route can frame events in.
enum class Framing {
    named,     // id: n / event: name / data: json            (/api/events, /api/sse, /videos/*/status)
    envelope,  // id: n / data: {"type","data","timestamp"}   (/api/events/stream)
    stream,    // id: n / data: {"id","type","message","data","timestamp","stream_id"} (/api/v1/...)
};
inline constexpr std::size_t framing_count = 3;

using Frame = std::shared_ptr<const std::string>;

// A moment on the steady clock: what latencies are measured with.
using SteadyTime = std::chrono::steady_clock::time_point;

class PublishedEvent {
public:
    PublishedEvent(std::uint64_t id, Event event, std::int64_t timestamp_ms,
                   SteadyTime published_at = std::chrono::steady_clock::now());

    std::uint64_t id() const noexcept { return id_; }
    const Event& event() const noexcept { return event_; }
    std::int64_t timestamp_ms() const noexcept { return timestamp_ms_; }
    // When the hub numbered it, on the steady clock (timestamp_ms is the wall clock's).
    SteadyTime published_at() const noexcept { return published_at_; }

    // The event's bytes in `framing`, built on first use and then shared. Thread-safe.
    const Frame& frame(Framing framing) const;

private:
    std::uint64_t id_;
    Event event_;
    std::int64_t timestamp_ms_;
    SteadyTime published_at_;
    mutable std::array<std::once_flag, framing_count> built_;
    mutable std::array<Frame, framing_count> frames_;
};

using EventPtr = std::shared_ptr<const PublishedEvent>;

// ISO-8601 UTC with milliseconds: "2026-11-22T21:30:00.123Z".
std::string iso8601(std::int64_t unix_ms);
inline std::string iso8601(std::chrono::system_clock::time_point t) {
    return iso8601(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}
std::int64_t now_ms();

}  // namespace ssebus::server
