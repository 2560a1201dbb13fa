// The route table: method and path pattern to handler, read top to bottom. The first
// pattern that matches the path decides; a method that pattern does not list is 405.
#include <string_view>
#include <vector>

#include "routes/handlers.hpp"

namespace ssebus::server {

namespace routes {
namespace {

constexpr auto get = http::verb::get;
constexpr auto head = http::verb::head;
constexpr auto post = http::verb::post;
constexpr auto any = http::verb::unknown;

// demo: only with --demo; test_hooks: only with SSEBUS_TEST_HOOKS=1; else there is no such route.
enum class Only { always, demo, test_hooks };

struct Route {
    http::verb method;
    std::string_view pattern;  // "{name}" is one segment, a final "**" the rest of the path
    Handler handler;
    Only only = Only::always;
};

constexpr Route table[] = {
    {get,  "/healthz",                            service::health},
    {head, "/healthz",                            service::health},
    {get,  "/metrics",                            service::metrics},
    {get,  "/api/events/stats",                   service::stats},

    {get,  "/api/events",                         events::stream},
    {post, "/api/events",                         events::publish},
    {get,  "/api/events/stream",                  events::envelope_stream},

    {get,  "/api/v1/events/streams",              v1::streams},
    {post, "/api/v1/events/broadcast",            v1::broadcast},
    {get,  "/api/v1/events/stream/{id}",          v1::stream},
    {post, "/api/v1/events/stream/{id}/{action}", v1::control},

    {get,  "/api/videos",                         videos::list},
    {post, "/api/uploads",                        videos::upload},
    {post, "/videos/{id}/process",                videos::process},
    {get,  "/videos/{id}/status",                 videos::status},

    {get,  "/api/sse",                            sse::stream},
    {get,  "/api/sse-test",                       sse::stats},
    {post, "/api/sse-test",                       sse::test_event},

    {post, "/api/webhooks/mux",                   webhooks::mux},

    {post, "/api/login",                          demo::login,       Only::demo},
    {post, "/api/logout",                         demo::logout,      Only::demo},
    {get,  "/api/demo/config",                    demo::config,      Only::demo},
    {post, "/api/demo/mux-webhook",               demo::mux_webhook, Only::demo},

    {post, "/api/_test/pause-applying",           service::pause_applying, Only::test_hooks},

    {any,  "/api/**",                             files::no_route},
    {get,  "/**",                                 files::serve},
    {head, "/**",                                 files::serve},
};

std::vector<std::string_view> segments(std::string_view path) {
    std::vector<std::string_view> out;
    for (std::size_t start = 1; start <= path.size();) {
        auto end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        out.push_back(path.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

bool matches(std::string_view pattern, const std::vector<std::string_view>& path, Context::Params& params) {
    params.clear();
    const auto want = segments(pattern);
    for (std::size_t i = 0; i < want.size(); ++i) {
        if (want[i] == "**") return true;
        if (i >= path.size()) return false;
        if (want[i].starts_with('{')) params.emplace_back(want[i].substr(1, want[i].size() - 2), std::string(path[i]));
        else if (want[i] != path[i]) return false;
    }
    return want.size() == path.size();
}

// The handler of the first pattern that matches, for the request's method; 405 otherwise.
Outcome dispatch(Context& ctx) {
    const auto path = segments(ctx.path);
    const auto method = ctx.req.method();
    const Route* const end = std::end(table);
    for (const Route* r = std::begin(table); r != end; ++r) {
        if (r->only == Only::demo && !ctx.config.demo) continue;
        if (r->only == Only::test_hooks && !ctx.config.test_hooks) continue;
        if (!matches(r->pattern, path, ctx.params)) continue;
        std::string allowed;
        for (const Route* same = r; same != end && same->pattern == r->pattern; ++same) {
            if (same->method == method || same->method == any) return same->handler(ctx);
            allowed += (allowed.empty() ? "" : ", ") + std::string(http::to_string(same->method));
        }
        throw HttpError{Status::method_not_allowed, "use " + allowed + " on " + ctx.path};
    }
    throw HttpError{Status::not_found, "no route " + ctx.path};  // unreachable: "/**" matches every path
}

Outcome run(App& app, Context& ctx, const std::string& remote) {
    try {
        return dispatch(ctx);
    } catch (const HttpError& e) {
        return json_error(ctx.req, e.status, e.message);
    } catch (const std::exception& e) {
        if (app.hub.on_error) app.hub.on_error(ClientInfo{.remote = remote}, e.what());
        return json_error(ctx.req, Status::internal_server_error, "internal error");
    }
}

}  // namespace
}  // namespace routes

Outcome Router::handle(Request& req, const std::string& remote, ResponseSink sink) {
    using routes::Status;
    const auto path = request_path(req);
    Outcome out = [&]() -> Outcome {
        if (!path) return json_error(req, Status::bad_request, "malformed request target");
        if (req.method() == http::verb::options) return preflight(req, app_.config.cors_origins);
        routes::Context ctx(app_, req, *path, remote, std::move(sink));
        auto result = routes::run(app_, ctx, remote);
        if (ctx.is_deferred()) {
            // Whatever the handler answered now goes the deferred way too (the first answer wins).
            if (auto* res = std::get_if<Response>(&result)) ctx.responder().send(std::move(*res));
            return Deferred{};
        }
        if (std::holds_alternative<Deferred>(result))
            return json_error(req, Status::internal_server_error, "internal error");
        return result;
    }();
    if (auto* res = std::get_if<Response>(&out)) routes::seal(app_, req, *res);
    return out;
}

void Router::count(http::status status) {
    routes::count_response(app_, status);
}

}  // namespace ssebus::server
