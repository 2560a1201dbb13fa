// The HTTP routes: every one a thin view over the hub (or the demo publishers).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config.hpp"
#include "demo.hpp"
#include "http_util.hpp"
#include "hub.hpp"
#include "mux.hpp"

namespace ssebus::server {

// A request that becomes a Server-Sent Events stream.
struct SseStart {
    std::shared_ptr<const Subscription> subscription;
    std::optional<std::uint64_t> last_event_id;
    std::string head;             // the HTTP response header and the stream's first bytes
    std::vector<Frame> preamble;  // frames before the replay (e.g. `connected`)
};

using Outcome = std::variant<Response, SseStart>;

// Everything the routes work with. Owned by the Server.
struct App {
    Config config;
    Hub& hub;
    mux::VideoStore& videos;
    StreamGenerators& generators;
    Pipeline& pipeline;
    Uploads& uploads;
    std::atomic<std::uint64_t> responses_2xx{0}, responses_4xx{0}, responses_5xx{0};
};

class Router {
public:
    explicit Router(App& app) : app_(app) {}
    Outcome handle(Request& req, const std::string& remote);
    // The response for a stream refused because its user has too many (429).
    Response too_many_streams(const Request& req);
    // Counts a response by status class, for /metrics.
    void count(http::status status);

private:
    Outcome route(Request& req, const std::string& remote);
    App& app_;
};

}  // namespace ssebus::server
