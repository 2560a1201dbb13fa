#include "routes.hpp"

#include <random>
#include <sstream>

#include "builtin_page.hpp"
#include "crypto.hpp"
#include "jwt.hpp"
#include "metrics.hpp"
#include "ssebus/sse_writer.hpp"

namespace ssebus::server {

namespace {

constexpr std::string_view token_cookie = "ssebus_token";
constexpr std::size_t max_name_length = 256;
constexpr std::size_t max_streams_per_request = 16;

using Status = http::status;

// Names of streams, clients, videos: what is safe in a log line and a URL.
bool plain_id(std::string_view s, std::size_t max = 64) {
    if (s.empty() || s.size() > max) return false;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_' || c == '.' || c == ':';
        if (!ok) return false;
    }
    return true;
}

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> parts;
    std::size_t start = 1;
    while (start <= path.size()) {
        auto end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        parts.emplace_back(path.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

// A failure with its HTTP status, thrown inside route handlers and turned into a JSON error.
struct HttpError {
    Status status;
    std::string message;
};

nlohmann::json parse_json_body(const Request& req) {
    if (req.body().empty()) throw HttpError{Status::bad_request, "the request needs a JSON body"};
    auto body = nlohmann::json::parse(req.body(), nullptr, false);
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

void check_event_name(const std::string& name) {
    if (!sse::valid_event_name(name) || name.size() > max_name_length)
        throw HttpError{Status::bad_request, "\"event\" must be a non-empty name of at most 256 characters "
                                             "without line breaks"};
    if (name.rfind("ssebus:", 0) == 0)
        throw HttpError{Status::bad_request, "event names starting with \"ssebus:\" are reserved for the bridge"};
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

std::optional<std::uint32_t> parse_retry(const nlohmann::json& body) {
    const auto it = body.find("retry");
    if (it == body.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > 86'400'000)
        throw HttpError{Status::bad_request, "\"retry\" must be a whole number of milliseconds (at most a day)"};
    return it->get<std::uint32_t>();
}

std::string data_of(const nlohmann::json& body) {
    const auto it = body.find("data");
    return it == body.end() ? "null" : it->dump();
}

}  // namespace

void Router::count(http::status status) {
    const auto code = static_cast<unsigned>(status);
    if (code >= 500) ++app_.responses_5xx;
    else if (code >= 400) ++app_.responses_4xx;
    else ++app_.responses_2xx;
}

Response Router::too_many_streams(const Request& req) {
    auto res = json_error(req, Status::too_many_requests,
                          "this user already has " + std::to_string(app_.config.max_streams_per_user) +
                              " open streams; close one first");
    apply_cors(res, req, app_.config.cors_origins);
    count(res.result());
    return res;
}

Outcome Router::handle(Request& req, const std::string& remote) {
    Outcome out = [&]() -> Outcome {
        try {
            return route(req, remote);
        } catch (const HttpError& e) {
            return json_error(req, e.status, e.message);
        } catch (const std::exception& e) {
            if (app_.hub.on_error) app_.hub.on_error(ClientInfo{.remote = remote}, e.what());
            return json_error(req, Status::internal_server_error, "internal error");
        }
    }();
    if (auto* res = std::get_if<Response>(&out)) {
        if (res->find(http::field::access_control_allow_origin) == res->end())
            apply_cors(*res, req, app_.config.cors_origins);
        count(res->result());
    }
    return out;
}

Outcome Router::route(Request& req, const std::string& remote) {
    const auto& cfg = app_.config;
    const auto path_or = request_path(req);
    if (!path_or) throw HttpError{Status::bad_request, "malformed request target"};
    const std::string& path = *path_or;
    const auto parts = split_path(path);
    const auto method = req.method();

    if (method == http::verb::options) return preflight(req, cfg.cors_origins);

    auto allow = [&](std::initializer_list<http::verb> verbs) {
        for (auto v : verbs)
            if (v == method) return;
        std::string allowed;
        for (auto v : verbs) allowed += (allowed.empty() ? "" : ", ") + std::string(http::to_string(v));
        throw HttpError{Status::method_not_allowed, "use " + allowed + " on " + path};
    };

    auto has_key = [&] {
        const auto key = bearer_or_key(req);
        return key && constant_time_equal(*key, cfg.publisher_key);
    };
    auto require_key = [&] {
        const auto key = bearer_or_key(req);
        if (!key) throw HttpError{Status::unauthorized, "this route needs the publisher key (Authorization: Bearer <key>)"};
        if (!constant_time_equal(*key, cfg.publisher_key)) throw HttpError{Status::unauthorized, "wrong publisher key"};
    };

    // Identity of a stream or a request: a verified HS256 token from ?token= or the cookie.
    auto identify = [&](std::string route_name) {
        ClientInfo client;
        client.route = std::move(route_name);
        client.remote = remote;
        auto token = query_param(req, "token");
        if (!token) token = cookie(req, token_cookie);
        if (token && !token->empty()) {
            std::string why;
            const auto who = verify_jwt(*token, cfg.jwt_secret, std::chrono::system_clock::now(), &why);
            if (!who) throw HttpError{Status::unauthorized, "invalid token: " + why};
            client.user = who->user;
            client.session = who->session;
        }
        const auto id = query_param(req, "clientId");
        if (id && !plain_id(*id)) throw HttpError{Status::bad_request, "clientId must be 1-64 of [A-Za-z0-9_.:-]"};
        client.client_id = id ? *id : "c-" + random_hex(8);
        return client;
    };

    auto stream = [&](ClientInfo client, Filter filter, Framing framing, bool latest_per_type = false) {
        SseStart start;
        auto sub = std::make_shared<Subscription>();
        sub->client = std::move(client);
        sub->filter = std::move(filter);
        sub->framing = framing;
        sub->latest_per_type = latest_per_type;
        // Last-Event-ID header, or ?lastEventId= for an EventSource that cannot set headers.
        // A malformed id counts as none.
        std::string last(req["Last-Event-ID"]);
        if (last.empty()) last = query_param(req, "lastEventId").value_or("");
        start.last_event_id = parse_u64(last);
        start.head = "HTTP/1.1 200 OK\r\n"
                     "Server: ssebus\r\n"
                     "Content-Type: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\n"
                     "X-Accel-Buffering: no\r\n" +
                     cors_header_lines(req, cfg.cors_origins) + "\r\n" +
                     // The stream opens with retry: and a comment, so that proxies flush.
                     "retry: " + std::to_string(cfg.retry_ms) + "\n: ssebus stream open\n\n";
        start.subscription = std::move(sub);
        return start;
    };

    // ------------------------------------------------------------ canonical routes
    if (path == "/healthz") {
        allow({http::verb::get, http::verb::head});
        return json_response(req, Status::ok, {{"status", "ok"}});
    }
    if (path == "/metrics") {
        allow({http::verb::get});
        return text_response(req, Status::ok, prometheus_text(app_.hub.stats(), {app_.responses_2xx.load(), app_.responses_4xx.load(), app_.responses_5xx.load()}), "text/plain; version=0.0.4");
    }
    if (path == "/api/events") {
        allow({http::verb::get, http::verb::post});
        if (method == http::verb::get) {
            Filter filter;
            if (const auto streams = query_param(req, "streams")) {
                std::stringstream list(*streams);
                for (std::string s; std::getline(list, s, ',');) {
                    if (!plain_id(s)) throw HttpError{Status::bad_request, "?streams= takes names of [A-Za-z0-9_.:-], comma-separated"};
                    filter.streams.insert(s);
                }
                if (filter.streams.size() > max_streams_per_request)
                    throw HttpError{Status::bad_request, "at most 16 streams per connection"};
            }
            return stream(identify("/api/events"), std::move(filter), Framing::named);
        }
        require_key();
        const auto body = parse_json_body(req);
        Event e;
        e.name = string_field(body, "event", true);
        check_event_name(e.name);
        e.data = data_of(body);
        e.stream = string_field(body, "stream", false);
        if (!e.stream.empty() && !plain_id(e.stream)) throw HttpError{Status::bad_request, "\"stream\" must be 1-64 of [A-Za-z0-9_.:-]"};
        e.target = parse_target(body);
        e.retry_ms = parse_retry(body);
        e.message = string_field(body, "message", false);
        std::size_t delivered = 0;
        const auto published = app_.hub.publish(std::move(e), &delivered);
        return json_response(req, Status::accepted, {{"id", published->id()}, {"delivered", delivered}});
    }
    if (path == "/api/events/stats") {
        allow({http::verb::get});
        return json_response(req, Status::ok, app_.hub.stats().to_json());
    }
    if (path == "/api/events/stream") {
        allow({http::verb::get});
        return stream(identify("/api/events/stream"), Filter{}, Framing::envelope, /*latest_per_type=*/true);
    }
    if (path == "/api/videos") {
        allow({http::verb::get});
        return json_response(req, Status::ok, {{"videos", app_.videos.list()}});
    }
    // A Mux webhook: the signature over the raw body first, then the body.
    auto mux_webhook = [&](std::string_view signature, const std::string& raw_body) {
        const auto verdict = mux::verify_signature(signature, raw_body, cfg.mux_secret, std::chrono::system_clock::now());
        if (verdict != mux::Verdict::ok)
            throw HttpError{Status::unauthorized, "webhook refused: " + std::string(mux::to_string(verdict))};
        Request signed_req;
        signed_req.body() = raw_body;
        const auto body = parse_json_body(signed_req);
        const auto applied = app_.videos.apply(body);
        for (const auto& ev : applied.events) app_.hub.notify_all(ev.name, ev.data);
        return json_response(req, Status::ok, {{"received", true}, {"duplicate", applied.duplicate},
                                               {"ignored", applied.ignored}, {"events", applied.events.size()}});
    };
    if (path == "/api/webhooks/mux") {
        allow({http::verb::post});
        return mux_webhook(req["Mux-Signature"], req.body());
    }
    if (path == "/api/demo/mux-webhook") {
        // Demo only: the page cannot hold the signing secret, so the server writes the webhook
        // Mux would send, signs it with its secret, and hands it to the same verified path.
        if (!cfg.demo) throw HttpError{Status::not_found, "no route " + path};
        allow({http::verb::post});
        const auto body = parse_json_body(req);
        const auto type = string_field(body, "type", true);
        if (type.rfind("video.asset.", 0) != 0 || type.size() > 64)
            throw HttpError{Status::bad_request, "\"type\" must be a Mux video.asset.* event type"};
        auto asset = string_field(body, "assetId", false);
        if (asset.empty()) asset = "asset-" + random_hex(6);
        else if (!plain_id(asset)) throw HttpError{Status::bad_request, "\"assetId\" must be 1-64 of [A-Za-z0-9_.:-]"};
        const bool ready = type == "video.asset.ready";
        nlohmann::json data{{"id", asset}, {"status", ready ? "ready" : type == "video.asset.errored" ? "errored" : "preparing"},
                            {"created_at", std::to_string(now_ms() / 1000)}};
        if (ready) {
            data["playback_ids"] = nlohmann::json::array({{{"id", "pb-" + random_hex(6)}, {"policy", "public"}}});
            data["duration"] = 30.0;
            data["aspect_ratio"] = "16:9";
        }
        const nlohmann::json webhook{{"type", type}, {"id", "wh-" + random_hex(8)}, {"data", data}};
        const auto raw = webhook.dump();
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
        return mux_webhook(mux::sign_header(cfg.mux_secret, raw, now), raw);
    }
    if (path == "/api/uploads") {
        allow({http::verb::post});
        const auto body = parse_json_body(req);
        const auto filename = string_field(body, "filename", true);
        if (filename.empty() || filename.size() > 255) throw HttpError{Status::bad_request, "\"filename\" must be 1-255 characters"};
        // The page reports an upload to its own connection, so this route needs no key; but
        // reporting to a user or a session needs the key or that identity's own token.
        auto target = parse_target(body);
        const bool personal = target.kind == Target::Kind::user || target.kind == Target::Kind::session;
        if (personal && !has_key()) {
            const auto caller = identify("/api/uploads");
            const bool own = target.kind == Target::Kind::user ? caller.user == target.id : caller.session == target.id;
            if (!own)
                throw HttpError{Status::forbidden, "an upload reports to another user or session only with the "
                                                  "publisher key (Authorization: Bearer <key>)"};
        }
        const auto id = app_.uploads.start(filename, std::move(target));
        return json_response(req, Status::accepted, {{"uploadId", id}});
    }
    if (path == "/api/login") {
        if (!cfg.demo) throw HttpError{Status::not_found, "no route " + path};
        allow({http::verb::post});
        const auto body = parse_json_body(req);
        const Identity who{string_field(body, "user", true), string_field(body, "session", false)};
        if (!plain_id(who.user)) throw HttpError{Status::bad_request, "\"user\" must be 1-64 of [A-Za-z0-9_.:-]"};
        Identity signed_as = who;
        if (signed_as.session.empty()) signed_as.session = "s-" + random_hex(8);
        else if (!plain_id(signed_as.session)) throw HttpError{Status::bad_request, "\"session\" must be 1-64 of [A-Za-z0-9_.:-]"};
        const auto ttl = std::chrono::hours(12);
        const auto token = sign_jwt(cfg.jwt_secret, signed_as, ttl);
        auto res = json_response(req, Status::ok, {{"token", token}, {"user", signed_as.user},
                                                   {"session", signed_as.session},
                                                   {"expiresIn", std::chrono::seconds(ttl).count()}});
        res.set(http::field::set_cookie, std::string(token_cookie) + "=" + token +
                                             "; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200");
        return res;
    }
    if (path == "/api/logout") {
        if (!cfg.demo) throw HttpError{Status::not_found, "no route " + path};
        allow({http::verb::post});
        auto res = json_response(req, Status::ok, {{"ok", true}});
        res.set(http::field::set_cookie, std::string(token_cookie) + "=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
        return res;
    }
    if (path == "/api/demo/config") {
        if (!cfg.demo) throw HttpError{Status::not_found, "no route " + path};
        allow({http::verb::get});
        // Demo only: the page sends test events with it.
        return json_response(req, Status::ok, {{"publisherKey", cfg.publisher_key}, {"demo", true}});
    }

    // ------------------------------------------------------------ /api/sse, /api/sse-test
    if (path == "/api/sse") {
        allow({http::verb::get});
        auto start = stream(identify("/api/sse"), Filter{}, Framing::named);
        const auto& c = start.subscription->client;
        nlohmann::json hello{{"clientId", c.client_id},
                             {"userId", c.user.empty() ? nlohmann::json() : nlohmann::json(c.user)},
                             {"sessionId", c.session.empty() ? nlohmann::json() : nlohmann::json(c.session)},
                             {"authenticated", c.authenticated()}};
        start.preamble.push_back(std::make_shared<const std::string>(sse::frame({.name = "connected", .data = hello.dump()})));
        return start;
    }
    if (path == "/api/sse-test") {
        allow({http::verb::get, http::verb::post});
        if (method == http::verb::get) {
            auto stats = app_.hub.stats().to_json();
            stats["route_clients"] = app_.hub.count_clients([](const Subscription& s) { return s.client.route == "/api/sse"; });
            return json_response(req, Status::ok, stats);
        }
        require_key();
        const auto body = parse_json_body(req);
        Event e;
        e.name = string_field(body, "event", false);
        if (e.name.empty()) e.name = "test";
        check_event_name(e.name);
        e.target = parse_target(body);
        e.message = string_field(body, "message", false);
        if (e.message.empty()) e.message = "Test event";
        nlohmann::json data = body.contains("data") ? body["data"] : nlohmann::json{{"message", e.message}};
        e.data = data.dump();
        std::size_t delivered = 0;
        const auto published = app_.hub.publish(std::move(e), &delivered);
        return json_response(req, Status::accepted, {{"id", published->id()}, {"delivered", delivered}});
    }

    // ------------------------------------------------------------ /api/v1/events/...
    if (parts.size() >= 3 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "events") {
        if (parts.size() == 4 && parts[3] == "streams") {
            allow({http::verb::get});
            return json_response(req, Status::ok, {{"streams", app_.generators.list()}});
        }
        if (parts.size() == 4 && parts[3] == "broadcast") {
            allow({http::verb::post});
            require_key();
            const auto body = parse_json_body(req);
            Event e;
            e.name = string_field(body, "type", false);
            if (e.name.empty()) e.name = string_field(body, "event", false);
            if (e.name.empty()) e.name = "broadcast";
            check_event_name(e.name);
            e.message = string_field(body, "message", false);
            e.data = data_of(body);
            e.stream = string_field(body, "stream_id", false);
            if (e.stream.empty()) e.stream = "*";  // every stream
            else if (!plain_id(e.stream)) throw HttpError{Status::bad_request, "\"stream_id\" must be 1-64 of [A-Za-z0-9_.:-]"};
            e.target = parse_target(body);
            std::size_t delivered = 0;
            const auto published = app_.hub.publish(std::move(e), &delivered);
            return json_response(req, Status::accepted, {{"id", published->id()}, {"delivered", delivered}});
        }
        if (parts.size() == 5 && parts[3] == "stream") {
            allow({http::verb::get});
            if (!plain_id(parts[4])) throw HttpError{Status::bad_request, "stream ids are 1-64 of [A-Za-z0-9_.:-]"};
            Filter filter{.global = false, .streams = {parts[4]}};
            return stream(identify("/api/v1/events/stream"), std::move(filter), Framing::stream);
        }
        if (parts.size() == 6 && parts[3] == "stream") {
            allow({http::verb::post});
            require_key();
            std::string error;
            const auto status = app_.generators.control(parts[4], parts[5], error);
            if (!status) {
                const bool unknown_stream = !StreamGenerators::known(parts[4]);
                throw HttpError{unknown_stream ? Status::not_found : Status::bad_request, error};
            }
            return json_response(req, Status::ok, {{"stream_id", parts[4]}, {"status", *status}});
        }
        throw HttpError{Status::not_found, "no route " + path};
    }

    // ------------------------------------------------------------ /videos/{id}/...
    if (parts.size() == 3 && parts[0] == "videos" && (parts[2] == "process" || parts[2] == "status")) {
        const auto& id = parts[1];
        if (!plain_id(id)) throw HttpError{Status::bad_request, "video ids are 1-64 of [A-Za-z0-9_.:-]"};
        if (parts[2] == "process") {
            allow({http::verb::post});
            const auto fail = query_param(req, "fail").value_or("");
            if (!app_.pipeline.start(id, fail))
                throw HttpError{Status::conflict, "video " + id + " is already being processed"};
            return json_response(req, Status::accepted, {{"videoId", id}, {"status", "processing"},
                                                         {"statusUrl", "/videos/" + id + "/status"}});
        }
        allow({http::verb::get});
        auto start = stream(identify("/videos/status"), Filter{.global = false, .streams = {Pipeline::stream_of(id)}},
                            Framing::named);
        if (const auto last = app_.pipeline.last_update(id); last && !start.last_event_id)
            start.preamble.push_back(std::make_shared<const std::string>(
                sse::frame({.name = "video_update", .data = last->dump()})));
        return start;
    }

    // ------------------------------------------------------------ everything else: the web demo
    if (path.rfind("/api/", 0) == 0 || path == "/api") throw HttpError{Status::not_found, "no route " + path};
    allow({http::verb::get, http::verb::head});
    if (cfg.static_dir.empty()) {
        if (path == "/" || path == "/index.html") return text_response(req, Status::ok, std::string(builtin_page()), "text/html; charset=utf-8");
        throw HttpError{Status::not_found, "not found"};
    }
    auto res = serve_static(req, cfg.static_dir, path);
    // A client-side route of the single-page app (no file extension): its index.html.
    const auto last_segment = path.substr(path.rfind('/') + 1);
    if (res.result() == Status::not_found && last_segment.find('.') == std::string::npos &&
        path.find("..") == std::string::npos)
        res = serve_static(req, cfg.static_dir, "/index.html");
    return res;
}

}  // namespace ssebus::server
