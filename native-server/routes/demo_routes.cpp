// Routes that exist only with --demo: a demo login, the page's configuration, and simulated
// Mux webhooks.
#include "demo_webhook.hpp"
#include "jwt.hpp"
#include "crypto.hpp"
#include "mux.hpp"
#include "routes/handlers.hpp"

namespace ssebus::server::routes::demo {

namespace {
constexpr auto token_ttl = std::chrono::hours(12);
}  // namespace

// POST /api/login: {user, session?} -> a signed token, also set as the ssebus_token cookie.
Outcome login(Context& ctx) {
    const auto body = ctx.json_body();
    Identity who{string_field(body, "user", true), string_field(body, "session", false)};
    require_plain_id(who.user, "\"user\"");
    if (who.session.empty()) who.session = "s-" + random_hex(8);
    else require_plain_id(who.session, "\"session\"");
    const auto token = sign_jwt(ctx.config.jwt_secret, who, token_ttl);
    auto res = ctx.json(Status::ok, {{"token", token}, {"user", who.user}, {"session", who.session},
                                     {"expiresIn", std::chrono::seconds(token_ttl).count()}});
    res.set(http::field::set_cookie,
            std::string(token_cookie) + "=" + token + "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" +
                std::to_string(std::chrono::seconds(token_ttl).count()));
    return res;
}

// POST /api/logout: clears the cookie.
Outcome logout(Context& ctx) {
    auto res = ctx.json(Status::ok, {{"ok", true}});
    res.set(http::field::set_cookie, std::string(token_cookie) + "=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    return res;
}

// GET /api/demo/config: the page sends test events with the key.
Outcome config(Context& ctx) {
    return ctx.json(Status::ok, {{"publisherKey", ctx.config.publisher_key}, {"demo", true}});
}

// POST /api/demo/mux-webhook: {type: "video.asset.*", assetId?}, signed with this server's
// Mux secret and handed to the verified webhook path.
Outcome mux_webhook(Context& ctx) {
    const auto body = ctx.json_body();
    const auto type = string_field(body, "type", true);
    if (!demo_webhook_type(type)) throw HttpError{Status::bad_request, "\"type\" must be a Mux video.asset.* event type"};
    const auto asset = string_field(body, "assetId", false);
    if (!asset.empty()) require_plain_id(asset, "\"assetId\"");
    const auto raw = demo_webhook(type, asset).dump();
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    return webhooks::accept_mux(ctx, mux::sign_header(ctx.config.mux_secret, raw, now.count()), raw);
}

}  // namespace ssebus::server::routes::demo
