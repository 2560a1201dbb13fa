// Everything that is not an API route: the web demo from --static-dir, or the built-in page.
#include "builtin_page.hpp"
#include "routes/handlers.hpp"

namespace ssebus::server::routes::files {

Outcome serve(Context& ctx) {
    const auto& path = ctx.path;
    if (ctx.config.static_dir.empty()) {
        if (path == "/" || path == "/index.html")
            return text_response(ctx.req, Status::ok, std::string(builtin_page()), "text/html; charset=utf-8");
        throw HttpError{Status::not_found, "not found"};
    }
    auto res = serve_static(ctx.req, ctx.config.static_dir, path);
    // A client-side route of the single-page app (no file extension): its index.html.
    const auto last_segment = path.substr(path.rfind('/') + 1);
    if (res.result() == Status::not_found && last_segment.find('.') == std::string::npos &&
        path.find("..") == std::string::npos)
        res = serve_static(ctx.req, ctx.config.static_dir, "/index.html");
    return res;
}

// Under /api/ an unknown path is an error, never the web demo.
Outcome no_route(Context& ctx) {
    throw HttpError{Status::not_found, "no route " + ctx.path};
}

}  // namespace ssebus::server::routes::files
