// Parsing Server-Sent Events (WHATWG HTML, "Event stream interpretation"): the client's
// side of the wire format, shared by the bridge (through WebAssembly) and native clients.
//
// Bytes go in as they arrive, cut anywhere; an event comes out at the blank line that
// ends it. Feeding a stream whole, byte by byte or in any other cut gives the same events.
//
// The stream is UTF-8, and the parser works on its bytes without decoding them. That is
// exact: every byte the rules act on (CR, LF, ':', ' ', NUL and the BOM) is ASCII or the
// BOM, and a UTF-8 decoder never folds an ASCII byte into a malformed sequence, so
// decoding each field afterwards (TextDecoder replaces malformed bytes with U+FFFD) gives
// what decoding the whole stream first would have.
//
// Memory is bounded by Limits::max_event_bytes. A non-comment line longer than that, or
// an event whose data grows past it, drops the event: nothing is dispatched for it, it
// is counted by dropped(), and parsing goes on with the next event. The dropped event's
// `id` still becomes the last event ID at its blank line, so a reconnect resumes after
// it instead of receiving it (and dropping it) again. Comment lines of any length are
// skipped without being stored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ssebus::sse {

struct Limits {
    // The longest line and the most data one event may carry, in bytes.
    std::size_t max_event_bytes = std::size_t{16} << 20;
};

// A dispatched event. The views point into the parser: they are valid only during the
// callback that receives them.
struct Event {
    std::string_view type;  // empty for an unnamed event, which EventSource calls "message"
    std::string_view data;  // the data lines joined by LF
    std::string_view id;    // the last event ID string when the event was dispatched
};

class Parser {
public:
    explicit Parser(Limits limits = {});

    // Parses the next bytes of the stream, calling `on_event(const Event&)` for each event
    // they complete, in order. Returns how many. The callback must not call back into this
    // parser.
    template <class OnEvent>
    std::size_t feed(std::string_view bytes, OnEvent&& on_event) {
        using Target = std::remove_reference_t<OnEvent>;
        return feed(
            bytes, [](void* target, const Event& event) { (*static_cast<Target*>(target))(event); },
            const_cast<void*>(static_cast<const void*>(std::addressof(on_event))));
    }
    using Callback = void (*)(void* context, const Event& event);
    std::size_t feed(std::string_view bytes, Callback on_event, void* context);

    // The stream ended: an event without its blank line is dropped, and with it the id it
    // may have set. The parser is then ready for a new stream that resumes from
    // last_event_id(); this is reset(last_event_id()).
    void finish();
    // Starts a new stream (a new connection) whose last event ID starts as `last_event_id`,
    // as Chromium seeds a reconnection's parser with its EventSource's last event ID.
    // Keeps retry_ms() and dropped(): they belong to the event source, not to one stream.
    void reset(std::string_view last_event_id);

    // The last event ID string: set at each blank line, even one that dispatches nothing.
    std::string_view last_event_id() const noexcept { return {last_id_.data(), last_id_.size()}; }
    // The latest `retry` value seen, in milliseconds. A value that does not fit in 64 bits
    // is ignored, as Chromium ignores it.
    std::optional<std::uint64_t> retry_ms() const noexcept { return retry_ms_; }
    // How many events were dropped for going past Limits::max_event_bytes.
    std::uint64_t dropped() const noexcept { return dropped_; }
    const Limits& limits() const noexcept { return limits_; }

private:
    struct Output;
    std::size_t skip_bom(std::string_view bytes);
    void keep_partial_line(std::string_view bytes);
    void end_line(std::string_view bytes, Output& out);
    void process_line(std::string_view line, Output& out);
    void dispatch(Output& out);
    void drop_event();

    // Vectors, not std::string: the string's members are compiled into libc++ itself (an
    // explicit instantiation), which the WebAssembly build links at -Oz, and calls into
    // them took half the parse time there. A vector's are instantiated here, and inline.
    using Buffer = std::vector<char>;
    Limits limits_;
    Buffer line_;     // the start of a line cut by the end of a chunk
    Buffer data_;     // the data buffer
    Buffer type_;     // the event type buffer
    Buffer id_;       // the last event ID buffer
    Buffer last_id_;  // the last event ID string
    std::optional<std::uint64_t> retry_ms_;
    std::uint64_t dropped_ = 0;
    std::uint8_t bom_ = 0;     // BOM bytes matched so far; 3 once the BOM question is settled
    bool after_cr_ = false;    // the last chunk ended with CR: an LF starting this one is its pair
    bool skip_line_ = false;   // ignoring the rest of a comment or an over-long line
    bool dropping_ = false;    // the current event went past the limit
};

}  // namespace ssebus::sse
