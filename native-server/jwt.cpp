#include "jwt.hpp"

#include "crypto.hpp"

#include <cstdint>
#include <exception>

#include <nlohmann/json.hpp>

namespace ssebus::server {

namespace {

using json = nlohmann::json;

// Bounds the work an unauthenticated client can ask for before the signature is checked.
constexpr std::size_t max_token_size = 8 * 1024;
// Clocks of the signer and of this server may disagree a little.
constexpr double clock_leeway_seconds = 30;

std::optional<Identity> refuse(std::string* error, const char* why) {
    if (error) *error = why;
    return std::nullopt;
}

std::optional<json> decode_json(std::string_view part) {
    const auto bytes = base64url_decode(part);
    if (!bytes) return std::nullopt;
    auto parsed = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return std::nullopt;
    return parsed;
}

double unix_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// The user's strings may not be valid UTF-8; a token must still be issued, never thrown.
std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<Identity> verify(std::string_view token, std::string_view secret,
                               std::chrono::system_clock::time_point now, std::string* error) {
    if (secret.empty()) return refuse(error, "no secret configured");
    if (token.size() > max_token_size) return refuse(error, "token too long");

    const auto dot1 = token.find('.');
    const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
        return refuse(error, "not a JWT (expected three parts)");
    const auto header_part = token.substr(0, dot1);
    const auto payload_part = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const auto signature_part = token.substr(dot2 + 1);

    // The header decides how to check the signature, so only HS256 is let through: this is
    // what refuses "none" and algorithm-confusion tokens.
    const auto header = decode_json(header_part);
    if (!header || !header->is_object()) return refuse(error, "header is not a JSON object");
    const auto alg = header->find("alg");
    if (alg == header->end() || !alg->is_string() || alg->get_ref<const std::string&>() != "HS256")
        return refuse(error, "alg must be HS256");
    if (header->contains("crit")) return refuse(error, "unsupported critical header");

    // The MAC covers the text as received, not a re-encoding of the parsed JSON.
    const auto signature = base64url_decode(signature_part);
    if (!signature) return refuse(error, "signature is not base64url");
    const auto expected = hmac_sha256(secret, token.substr(0, dot2));
    if (expected.empty() || !constant_time_equal(*signature, expected)) return refuse(error, "bad signature");

    const auto payload = decode_json(payload_part);
    if (!payload || !payload->is_object()) return refuse(error, "payload is not a JSON object");

    const auto sub = payload->find("sub");
    if (sub == payload->end() || !sub->is_string() || sub->get_ref<const std::string&>().empty())
        return refuse(error, "missing sub");
    const auto sid = payload->find("sid");
    if (sid != payload->end() && !sid->is_string()) return refuse(error, "sid is not a string");

    const double now_s = unix_seconds(now);
    const auto exp = payload->find("exp");
    if (exp != payload->end()) {
        if (!exp->is_number()) return refuse(error, "exp is not a number");
        if (exp->get<double>() + clock_leeway_seconds <= now_s) return refuse(error, "token expired");
    }
    const auto nbf = payload->find("nbf");
    if (nbf != payload->end()) {
        if (!nbf->is_number()) return refuse(error, "nbf is not a number");
        if (nbf->get<double>() > now_s + clock_leeway_seconds) return refuse(error, "token not yet valid");
    }

    Identity who;
    who.user = sub->get<std::string>();
    if (sid != payload->end()) who.session = sid->get<std::string>();
    return who;
}

}  // namespace

std::string sign_jwt(std::string_view secret, const Identity& who, std::chrono::seconds ttl,
                     std::chrono::system_clock::time_point now) {
    const auto iat = std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count();
    const json claims{{"sub", who.user}, {"sid", who.session}, {"iat", iat}, {"exp", iat + ttl.count()}};
    const std::string signing_input =
        base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(dump(claims));
    return signing_input + "." + base64url_encode(hmac_sha256(secret, signing_input));
}

std::optional<Identity> verify_jwt(std::string_view token, std::string_view secret,
                                   std::chrono::system_clock::time_point now, std::string* error) {
    // Out of memory is the only thing left that could throw; it must not reach the caller.
    try {
        return verify(token, secret, now, error);
    } catch (const std::exception&) {
        return refuse(error, "token could not be checked");
    }
}

}  // namespace ssebus::server
