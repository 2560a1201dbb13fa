// HS256 JSON Web Tokens: who a client is. The server signs tokens at login and verifies
// the ones that come back on ?token= or in the cookie. Nothing here throws.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "crypto.hpp"

namespace ssebus::server {

// From the claims `sub` and `sid`.
struct Identity {
    std::string user;
    std::string session;
};

// Issues an HS256 JWT: header {"alg":"HS256","typ":"JWT"}, claims {sub, sid, iat, exp}.
std::string sign_jwt(std::string_view secret, const Identity& who, std::chrono::seconds ttl,
                     std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Verifies an HS256 JWT and returns who it names. On refusal returns nullopt and, when
// `error` is given, a short reason ("bad signature", "token expired", ...).
// Refused: an empty secret; tokens over 8 KiB; not three base64url parts; a header that is
// not JSON, names another alg than HS256 or has `crit`; a signature mismatch; a payload
// that is not a JSON object; `sub` not a non-empty string; `sid` present but not a string;
// `exp` not a number or past; `nbf` not a number or in the future. exp and nbf allow
// 30 s of clock skew.
std::optional<Identity> verify_jwt(std::string_view token, std::string_view secret,
                                   std::chrono::system_clock::time_point now, std::string* error = nullptr);

}  // namespace ssebus::server
