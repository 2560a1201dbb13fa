// What every route handler gets: the request, the App, the path's parameters, and the few
// steps handlers share (the publisher key, who is asking, opening a stream, a JSON body,
// answering later).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "routes.hpp"

namespace ssebus::server::routes {

using Status = http::status;
using json = nlohmann::json;

// A failure with its HTTP status, thrown by handlers and answered as {"error": message}.
struct HttpError {
    Status status;
    std::string message;
};

// Sets what every response gets on its way out (the CORS grant) and counts it.
void seal(App& app, const Request& req, Response& res);
// Counts a response by status class, for /metrics.
void count_response(App& app, Status status);

// Answers a deferred request, once, from any thread. A copy refers to the same answer; if
// every copy is gone unanswered, the client gets a 500 rather than silence.
// The cookie that carries a client's token (set by the demo's login).
inline constexpr std::string_view token_cookie = "ssebus_token";

class Responder {
public:
    void send(Response res) const;
    void json(Status status, const nlohmann::json& body) const;
    // 503 {"error"} with Retry-After: a store that could not commit.
    void unavailable(std::string_view message, std::uint32_t retry_after_s) const;

private:
    friend class Context;
    struct State;
    explicit Responder(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
};

// What a handler returns after defer(): its answer goes through the Responder.
inline constexpr Deferred deferred{};

class Context {
public:
    using Params = std::vector<std::pair<std::string_view, std::string>>;

    Context(App& app, Request& req, std::string path, const std::string& remote, ResponseSink sink)
        : app(app), config(app.config), req(req), path(std::move(path)), remote_(remote), sink_(std::move(sink)) {}

    App& app;
    const Config& config;
    Request& req;
    const std::string path;  // decoded
    Params params;           // the {name} segments of the route's pattern

    const std::string& param(std::string_view name) const;

    // 401 unless the request carries the publisher key (Bearer or X-Publisher-Key).
    void require_key() const;
    bool has_key() const;
    // Who is asking: a verified token from ?token= or the cookie (401 when it does not
    // verify), and ?clientId= (400 when malformed) or a new client id.
    ClientInfo identify(std::string route) const;
    // A stream for `client`: its subscription and head, with the user's place taken (429
    // when the user already has the maximum). Last-Event-ID or ?lastEventId= resumes it.
    SseStart open_stream(ClientInfo client, Filter filter, Framing framing, bool latest_per_type = false) const;
    // The body as a JSON object: 400 when it is missing or not one, 415 when the
    // Content-Type is not JSON (application/json; or curl's default for -d, see README).
    nlohmann::json json_body() const;
    // 415 unless the Content-Type is JSON (see json_body).
    void require_json_type() const;
    const std::string& remote() const noexcept { return remote_; }

    Response json(Status status, const nlohmann::json& body) const { return json_response(req, status, body); }
    // The handler answers later: it returns `deferred` and calls the Responder once.
    Responder defer();
    bool is_deferred() const noexcept { return answer_ != nullptr; }
    // After defer(): the same answer (for the router, when the handler failed after it).
    Responder responder() const { return Responder(answer_); }

private:
    const std::string& remote_;
    ResponseSink sink_;
    std::shared_ptr<Responder::State> answer_;
};

// --- body fields, shared by the handlers

// Names of streams, clients, videos: what is safe in a log line and a URL.
bool plain_id(std::string_view s, std::size_t max = 64);
// Throws 400 "<what> must be 1-64 of [A-Za-z0-9_.:-]" unless plain_id(value).
void require_plain_id(std::string_view value, std::string_view what);
// `body` as a JSON object, or 400 saying what is wrong with it.
nlohmann::json parse_json_object(std::string_view body);
// A string field: "" when absent or null (400 when required), 400 when not a string.
std::string string_field(const nlohmann::json& body, const char* name, bool required);
// {"type": all|broadcast|user|session|client, "id"?} from body["target"]; all when absent.
Target parse_target(const nlohmann::json& body);

}  // namespace ssebus::server::routes
