#include "routes/context.hpp"

#include <atomic>

#include "crypto.hpp"
#include "jwt.hpp"
#include "log.hpp"
#include "ssebus/sse_writer.hpp"

namespace ssebus::server::routes {

namespace {


// The media type of a Content-Type value, lower-cased, without parameters or spaces.
std::string media_type(std::string_view value) {
    value = value.substr(0, value.find(';'));
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    std::string out(value);
    for (auto& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return out;
}

}  // namespace

void count_response(App& app, Status status) {
    const auto code = static_cast<unsigned>(status);
    if (code >= 500) ++app.responses_5xx;
    else if (code >= 400) ++app.responses_4xx;
    else ++app.responses_2xx;
}

void seal(App& app, const Request& req, Response& res) {
    if (res.find(http::field::access_control_allow_origin) == res.end()) apply_cors(res, req, app.config.cors_origins);
    count_response(app, res.result());
}

// ------------------------------------------------------------ Responder

struct Responder::State {
    State(App& app, const Request& req, ResponseSink sink) : app(app), sink(std::move(sink)) {
        head.base() = req.base();  // what a response needs of its request; the body stays behind
    }
    ~State() {
        if (answered.load()) return;
        auto res = json_error(head, Status::internal_server_error, "internal error: the request was dropped unanswered");
        seal(app, head, res);
        sink(std::move(res));
    }
    App& app;
    Request head;
    ResponseSink sink;
    std::atomic<bool> answered{false};
};

void Responder::send(Response res) const {
    if (state_->answered.exchange(true)) return;
    seal(state_->app, state_->head, res);
    state_->sink(std::move(res));
}

void Responder::json(Status status, const nlohmann::json& body) const {
    send(json_response(state_->head, status, body));
}

void Responder::unavailable(std::string_view message, std::uint32_t retry_after_s) const {
    auto res = json_error(state_->head, Status::service_unavailable, message);
    res.set(http::field::retry_after, std::to_string(retry_after_s));
    send(std::move(res));
}

// ------------------------------------------------------------ Context

const std::string& Context::param(std::string_view name) const {
    for (const auto& [key, value] : params)
        if (key == name) return value;
    throw std::logic_error("no parameter " + std::string(name) + " in the route of " + path);
}

bool Context::has_key() const {
    const auto key = bearer_or_key(req);
    return key && constant_time_equal(*key, config.publisher_key);
}

void Context::require_key() const {
    const auto key = bearer_or_key(req);
    if (!key) throw HttpError{Status::unauthorized, "this route needs the publisher key (Authorization: Bearer <key>)"};
    if (!constant_time_equal(*key, config.publisher_key)) throw HttpError{Status::unauthorized, "wrong publisher key"};
}

ClientInfo Context::identify(std::string route) const {
    ClientInfo client;
    client.route = std::move(route);
    client.remote = remote_;
    auto token = query_param(req, "token");
    if (!token) token = cookie(req, token_cookie);
    if (token && !token->empty()) {
        std::string why;
        const auto who = verify_jwt(*token, config.jwt_secret, std::chrono::system_clock::now(), &why);
        if (!who) throw HttpError{Status::unauthorized, "invalid token: " + why};
        client.user = who->user;
        client.session = who->session;
    }
    const auto id = query_param(req, "clientId");
    if (id && !plain_id(*id)) throw HttpError{Status::bad_request, "clientId must be 1-64 of [A-Za-z0-9_.:-]"};
    client.client_id = id ? *id : "c-" + random_hex(8);
    return client;
}

SseStart Context::open_stream(ClientInfo client, Filter filter, Framing framing, bool latest_per_type) const {
    auto ticket = app.hub.admit(client);
    if (!ticket) {
        SSEBUS_LOG(warn, "stream refused: too many streams", {"status", 429}, {"user", client.user},
                   {"route", client.route}, {"remote", client.remote}, {"limit", config.max_streams_per_user});
        throw HttpError{Status::too_many_requests, "this user already has " +
                                                       std::to_string(config.max_streams_per_user) +
                                                       " open streams; close one first"};
    }
    SseStart start;
    start.ticket = std::move(*ticket);
    auto sub = std::make_shared<Subscription>();
    sub->client = std::move(client);
    sub->filter = std::move(filter);
    sub->framing = framing;
    sub->latest_per_type = latest_per_type;
    start.subscription = std::move(sub);
    // Last-Event-ID, or ?lastEventId= for an EventSource that cannot set headers. A
    // malformed id counts as none.
    std::string last(req["Last-Event-ID"]);
    if (last.empty()) last = query_param(req, "lastEventId").value_or("");
    start.last_event_id = parse_u64(last);
    start.head = "HTTP/1.1 200 OK\r\n"
                 "Server: ssebus\r\n"
                 "Content-Type: text/event-stream\r\n"
                 "Cache-Control: no-cache\r\n"
                 "X-Accel-Buffering: no\r\n" +
                 cors_header_lines(req, config.cors_origins) + "\r\n" +
                 // The stream opens with retry: and a comment, so that proxies flush.
                 "retry: " + std::to_string(config.retry_ms) + "\n: ssebus stream open\n\n";
    return start;
}

nlohmann::json Context::json_body() const {
    if (req.body().empty()) throw HttpError{Status::bad_request, "the request needs a JSON body"};
    require_json_type();
    return parse_json_object(req.body());
}

void Context::require_json_type() const {
    const auto value = req[http::field::content_type];
    const auto type = media_type(value);
    // curl -d sends a JSON body as application/x-www-form-urlencoded unless told otherwise;
    // the body is still read as JSON, so that the README's curl lines work as written.
    if (type != "application/json" && type != "application/x-www-form-urlencoded")
        throw HttpError{Status::unsupported_media_type,
                        "the body must be JSON, sent with Content-Type: application/json (got " +
                            (value.empty() ? std::string("no Content-Type") : "\"" + std::string(value) + "\"") + ")"};
}

Responder Context::defer() {
    if (!answer_) answer_ = std::make_shared<Responder::State>(app, req, sink_);
    return Responder(answer_);
}

// ------------------------------------------------------------ body fields

bool plain_id(std::string_view s, std::size_t max) {
    if (s.empty() || s.size() > max) return false;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_' || c == '.' || c == ':';
        if (!ok) return false;
    }
    return true;
}

void require_plain_id(std::string_view value, std::string_view what) {
    if (!plain_id(value)) throw HttpError{Status::bad_request, std::string(what) + " must be 1-64 of [A-Za-z0-9_.:-]"};
}

nlohmann::json parse_json_object(std::string_view text) {
    auto body = nlohmann::json::parse(text, nullptr, false);
    if (body.is_discarded()) throw HttpError{Status::bad_request, "the body is not valid JSON"};
    if (!body.is_object()) throw HttpError{Status::bad_request, "the body must be a JSON object"};
    return body;
}

std::string string_field(const nlohmann::json& body, const char* name, bool required) {
    const auto it = body.find(name);
    if (it == body.end() || it->is_null()) {
        if (required) throw HttpError{Status::bad_request, std::string("\"") + name + "\" is required"};
        return {};
    }
    if (!it->is_string()) throw HttpError{Status::bad_request, std::string("\"") + name + "\" must be a string"};
    return it->get<std::string>();
}

Target parse_target(const nlohmann::json& body) {
    const auto it = body.find("target");
    if (it == body.end() || it->is_null()) return {};
    if (!it->is_object()) throw HttpError{Status::bad_request, "\"target\" must be an object {type, id}"};
    const auto type = string_field(*it, "type", true);
    const auto kind = Target::parse_kind(type);
    if (!kind) throw HttpError{Status::bad_request, "target.type must be all, broadcast, user, session or client"};
    Target t{*kind, string_field(*it, "id", false)};
    const bool needs_id = *kind == Target::Kind::user || *kind == Target::Kind::session || *kind == Target::Kind::client;
    if (needs_id && t.id.empty()) throw HttpError{Status::bad_request, "target.id is required for target.type " + type};
    return t;
}

}  // namespace ssebus::server::routes
