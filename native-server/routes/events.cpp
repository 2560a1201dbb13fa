// /api/events: the canonical stream and its publish; /api/events/stream, the same events
// framed {type, data, timestamp}.
#include <sstream>

#include "routes/handlers.hpp"
#include "routes/publish.hpp"

namespace ssebus::server::routes::events {

namespace {
constexpr std::size_t max_streams_per_request = 16;
}  // namespace

// GET /api/events[?streams=a,b]: global events, plus those of the named streams.
Outcome stream(Context& ctx) {
    Filter filter;
    if (const auto streams = query_param(ctx.req, "streams")) {
        std::stringstream list(*streams);
        for (std::string s; std::getline(list, s, ',');) {
            if (!plain_id(s)) throw HttpError{Status::bad_request, "?streams= takes names of [A-Za-z0-9_.:-], comma-separated"};
            filter.streams.insert(s);
        }
        if (filter.streams.size() > max_streams_per_request)
            throw HttpError{Status::bad_request, "at most 16 streams per connection"};
    }
    return ctx.open_stream(ctx.identify("/api/events"), std::move(filter), Framing::named);
}

// POST /api/events (publisher key): {event, data?, stream?, target?, retry?, message?}.
Outcome publish(Context& ctx) {
    ctx.require_key();
    return publish_and_answer(ctx, parse_publish(ctx.json_body(), events_body));
}

// GET /api/events/stream: unnamed {type, data, timestamp} events, starting with the latest
// event of each type.
Outcome envelope_stream(Context& ctx) {
    return ctx.open_stream(ctx.identify("/api/events/stream"), Filter{}, Framing::envelope, /*latest_per_type=*/true);
}

}  // namespace ssebus::server::routes::events
