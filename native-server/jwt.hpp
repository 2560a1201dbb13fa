// HS256 JSON Web Tokens: who a client is. The server signs tokens at login and verifies
// the ones that come back on ?token= or in the cookie. Nothing here throws.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ssebus::server {

// From the claims `sub` and `sid`.
struct Identity {
    std::string user;
    std::string session;
};

// Raw 32-byte HMAC-SHA256 of `data` under `key`; empty if OpenSSL fails.
std::string hmac_sha256(std::string_view key, std::string_view data);

// Compares secrets without leaking where they differ (the length is not secret).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// RFC 4648 section 5 alphabet ('-' and '_'), without padding.
std::string base64url_encode(std::string_view bytes);

// Accepts text with or without padding. Refuses characters outside the url alphabet,
// '=' anywhere but a correct final padding, impossible lengths, and non-zero unused
// bits in the last character (so every byte string has exactly one accepted spelling).
std::optional<std::string> base64url_decode(std::string_view text);

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
