// Fuzzes Mux webhook signatures: parse_signature_header() and verify_signature() (mux.hpp).
//
// The input is three lines ('\n'): a header, a secret, and the rest is a body. Checked:
//  - the header as given parses or not without crashing, and verify_signature() says
//    `malformed` exactly when parse_signature_header() refuses a non-empty header, and
//    what it parsed follows the documented grammar (a non-negative t, lowercase v1s);
//  - sign_header() for the secret, the body and a timestamp taken from the input parses
//    back to that timestamp, verifies `ok` at that time (and within the tolerance), `stale`
//    outside it, and `bad_signature` for another body, another secret, or any one byte of
//    the header changed (unless the change only flips the case of a hex digit, which the
//    grammar allows).
//
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "mux.hpp"

namespace mux = ssebus::server::mux;
using mux::Verdict;

namespace {
using fuzz::hash;
using fuzz::require;

std::chrono::system_clock::time_point at(std::int64_t seconds) {
    return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

bool is_lower_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

bool is_hex_letter(char c) { return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// A time system_clock can hold in nanoseconds, with room for the tolerance either side.
constexpr std::int64_t max_timestamp = 9'000'000'000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(bytes), size);
    const auto nl1 = input.find('\n');
    const auto header = input.substr(0, nl1);
    std::string_view secret, body;
    if (nl1 != std::string_view::npos) {
        const auto rest = input.substr(nl1 + 1);
        const auto nl2 = rest.find('\n');
        secret = rest.substr(0, nl2);
        if (nl2 != std::string_view::npos) body = rest.substr(nl2 + 1);
    }
    const auto h = hash(input);
    const std::int64_t now_s = static_cast<std::int64_t>(h % max_timestamp);

    // The header as given.
    const auto parsed = mux::parse_signature_header(header);
    const auto verdict = mux::verify_signature(header, body, secret, at(now_s));
    require(!mux::to_string(verdict).empty(), "a verdict without a name");
    if (header.empty()) require(verdict == Verdict::missing, "an empty header is not `missing`");
    else if (!parsed) require(verdict == Verdict::malformed, "an unparsable header is not `malformed`");
    else {
        require(verdict != Verdict::missing && verdict != Verdict::malformed, "a parsed header is refused as unparsable");
        require(parsed->timestamp >= 0, "a negative timestamp");
        require(!parsed->v1.empty(), "no v1");
        for (const auto& v : parsed->v1) require(v.size() == 64 && is_lower_hex(v), "a v1 that is not 64 lowercase hex digits");
        if (secret.empty()) require(verdict == Verdict::bad_signature, "an empty secret is not `bad_signature`");
    }
    if (verdict == Verdict::ok || verdict == Verdict::stale) {
        // Accepted as genuine: one v1 must be the real digest.
        const auto real = mux::parse_signature_header(mux::sign_header(secret, body, parsed->timestamp));
        require(real && real->v1.size() == 1, "sign_header() output does not parse");
        bool found = false;
        for (const auto& v : parsed->v1) found |= v == real->v1[0];
        require(found, "a header without the right digest was accepted");
    }

    // A header signed here.
    if (secret.empty()) return 0;
    const std::int64_t t = static_cast<std::int64_t>((h >> 7) % max_timestamp);
    const auto signed_header = mux::sign_header(secret, body, t);
    const auto back = mux::parse_signature_header(signed_header);
    require(back && back->timestamp == t && back->v1.size() == 1, "sign_header() does not parse back");
    const std::chrono::seconds tolerance(300);
    require(mux::verify_signature(signed_header, body, secret, at(t)) == Verdict::ok, "a signed header does not verify");
    const std::int64_t skew = static_cast<std::int64_t>(h % 301);
    require(mux::verify_signature(signed_header, body, secret, at(t + skew), tolerance) == Verdict::ok,
            "a signed header within the tolerance does not verify");
    require(mux::verify_signature(signed_header, body, secret, at(t - skew), tolerance) == Verdict::ok,
            "a signed header within the tolerance (early) does not verify");
    require(mux::verify_signature(signed_header, body, secret, at(t + 301), tolerance) == Verdict::stale,
            "an old signed header is not `stale`");
    require(mux::verify_signature(signed_header, body, secret, at(t - 301), tolerance) == Verdict::stale,
            "a signed header from the future is not `stale`");

    std::string other_body(body);
    other_body += static_cast<char>(h);
    require(mux::verify_signature(signed_header, other_body, secret, at(t)) == Verdict::bad_signature,
            "a longer body verifies");
    if (!body.empty()) {
        std::string flipped(body);
        flipped[(h >> 13) % flipped.size()] ^= static_cast<char>(1 + (h >> 21) % 255);
        require(mux::verify_signature(signed_header, flipped, secret, at(t)) == Verdict::bad_signature,
                "a changed body verifies");
    }
    std::string other_secret(secret);
    other_secret[(h >> 29) % other_secret.size()] ^= static_cast<char>(1 + (h >> 37) % 255);
    require(mux::verify_signature(signed_header, body, other_secret, at(t)) == Verdict::bad_signature,
            "another secret verifies");

    std::string changed = signed_header;
    const std::size_t i = (h >> 45) % changed.size();
    const char before = changed[i];
    changed[i] ^= static_cast<char>(1 + (h >> 53) % 255);
    const auto v = mux::verify_signature(changed, body, secret, at(t));
    const bool case_only = is_hex_letter(before) && (before ^ changed[i]) == 0x20 && i >= signed_header.size() - 64;
    if (case_only) require(v == Verdict::ok, "an uppercase hex digit is refused");
    else require(v != Verdict::ok, "a header with a changed byte verifies");
    return 0;
}
