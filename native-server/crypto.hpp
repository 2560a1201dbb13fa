// The few cryptographic and encoding helpers the server shares: HMAC-SHA256 (JWTs, Mux
// signatures), constant-time comparison, base64url, hex, and random ids and secrets.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ssebus::server {

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

// Lower-case hex of raw bytes.
std::string hex(std::string_view bytes);

// `bytes` random bytes as hex, for ids that must not collide (client ids, upload ids);
// not for secrets.
std::string random_hex(std::size_t bytes);

// 128 bits from OpenSSL's generator as 32 hex digits: publisher keys, JWT secrets.
std::string random_secret();

}  // namespace ssebus::server
