// The HTTP routes: every one a thin view over the hub (or the demo publishers). The table
// that names them is routes/table.cpp; each family of routes has a file in routes/.
#pragma once

#include <atomic>
#include <functional>
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
    StreamTicket ticket;          // the user's place for one more stream, taken by the route
    std::optional<std::uint64_t> last_event_id;
    std::string head;             // the HTTP response header and the stream's first bytes
    std::vector<Frame> preamble;  // frames before the replay (e.g. `connected`)
};

// A request answered later: the response goes to the ResponseSink given with it.
struct Deferred {};

using Outcome = std::variant<Response, SseStart, Deferred>;

// Takes a deferred response. Called exactly once per deferred request, from any thread:
// the HTTP session posts it to its own strand and writes it there.
using ResponseSink = std::function<void(Response)>;

// How the routes publish: the hub's asynchronous publish unless replaced.
using Publisher = std::function<void(Event, PublishDone)>;

// Everything the routes work with. Owned by the Server.
struct App {
    Config config;
    Hub& hub;
    mux::VideoStore& videos;
    StreamGenerators& generators;
    Pipeline& pipeline;
    Uploads& uploads;
    std::atomic<std::uint64_t> responses_2xx{0}, responses_4xx{0}, responses_5xx{0};
    // Empty: hub.publish(event, done). Set it to put something between the routes and the
    // hub (a test holds commits back with it); `done` may then run later, on any thread.
    Publisher publisher{};

    void publish(Event event, PublishDone done) {
        if (publisher) publisher(std::move(event), std::move(done));
        else hub.publish(std::move(event), std::move(done));
    }
};

class Router {
public:
    explicit Router(App& app) : app_(app) {}
    // The answer to one request: a response now, a stream to open, or Deferred, when the
    // response will reach `sink` later (exactly once, from any thread). Never throws.
    Outcome handle(Request& req, const std::string& remote, ResponseSink sink);
    // Counts a response by status class, for /metrics.
    void count(http::status status);

private:
    App& app_;
};

}  // namespace ssebus::server
