// Writing Server-Sent Events frames (WHATWG HTML, "Server-sent events"): the server's
// side of the wire format, shared by the native server and its tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ssebus::sse {

struct Fields {
    std::string_view id;    // empty: no id line
    std::string_view name;  // empty: an unnamed ("message") event
    std::string_view data;  // may hold line breaks: each line becomes its own data line
    std::optional<std::uint32_t> retry_ms;
};

// Appends one event, ended by a blank line. Line breaks in `id` and `name` would end the
// field early, so they are dropped; CR, LF and CRLF in `data` all split data lines.
void append(std::string& out, const Fields& fields);
std::string frame(const Fields& fields);

// ": text\n\n" (a comment: ignored by clients, but it keeps proxies and timers awake).
std::string comment(std::string_view text);
// "retry: ms\n\n"
std::string retry(std::uint32_t ms);

// True when `name` can travel as an event name: not empty, no CR, LF or NUL.
bool valid_event_name(std::string_view name) noexcept;

}  // namespace ssebus::sse
