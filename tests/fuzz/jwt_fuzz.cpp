// Fuzzes the HS256 JWT verifier and base64url (jwt.hpp).
//
// The input is four lines ('\n'): a secret, a token, a header and a payload (the rest).
// Checked:
//  - the token as given never crashes verify_jwt(), and is accepted only if its third part
//    is the HMAC-SHA256 (computed here with OpenSSL directly) of the first two under the
//    secret, its header says HS256 and the identity is the payload's sub and sid;
//  - the header and payload, encoded and signed here with the secret, are accepted exactly
//    when the documented claim rules say so; changing any one byte of that token, or
//    verifying it under another secret, refuses it;
//  - sign_jwt() for sub = header line and sid = payload line verifies at issue time with
//    the same identity (when both are UTF-8; it stays accepted otherwise), and is refused
//    once expired;
//  - base64url: decode(encode(x)) == x, and a decodable text re-encodes to itself without
//    padding.
//
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz_support.hpp"
#include "jwt.hpp"

namespace jwt = ssebus::server;
using json = nlohmann::json;
using Clock = std::chrono::system_clock;

namespace {
using fuzz::hash;
using fuzz::require;

std::string mac(std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const unsigned char nothing = 0;
    require(HMAC(EVP_sha256(), key.empty() ? &nothing : static_cast<const void*>(key.data()),
                 static_cast<int>(key.size()),
                 data.empty() ? &nothing : reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                 out, &len) != nullptr,
            "HMAC failed");
    return std::string(reinterpret_cast<const char*>(out), len);
}

std::optional<json> object(std::string_view text) {
    auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    return j;
}

bool is_utf8(const std::string& s) {
    try {
        (void)json(s).dump();
        return true;
    } catch (const json::exception&) {
        return false;
    }
}

// The rules of verify_jwt() for a correctly signed token, from jwt.hpp.
bool claims_accepted(std::string_view header_text, std::string_view payload_text, double now_s) {
    const auto header = object(header_text);
    if (!header) return false;
    const auto alg = header->find("alg");
    if (alg == header->end() || !alg->is_string() || *alg != "HS256" || header->contains("crit")) return false;
    const auto payload = object(payload_text);
    if (!payload) return false;
    const auto sub = payload->find("sub");
    if (sub == payload->end() || !sub->is_string() || sub->get_ref<const std::string&>().empty()) return false;
    if (const auto sid = payload->find("sid"); sid != payload->end() && !sid->is_string()) return false;
    if (const auto exp = payload->find("exp"); exp != payload->end())
        if (!exp->is_number() || exp->get<double>() + 30 <= now_s) return false;
    if (const auto nbf = payload->find("nbf"); nbf != payload->end())
        if (!nbf->is_number() || nbf->get<double>() > now_s + 30) return false;
    return true;
}

void check_identity(const jwt::Identity& who, std::string_view payload_text) {
    const auto payload = object(payload_text);
    require(payload.has_value(), "accepted a payload that is not an object");
    require(who.user == payload->at("sub").get<std::string>(), "user is not sub");
    const auto sid = payload->find("sid");
    require(who.session == (sid == payload->end() ? std::string() : sid->get<std::string>()), "session is not sid");
}

void check_base64(std::string_view bytes) {
    const auto encoded = jwt::base64url_encode(bytes);
    const auto decoded = jwt::base64url_decode(encoded);
    require(decoded && *decoded == bytes, "base64url does not round-trip");
    if (const auto d = jwt::base64url_decode(bytes)) {
        std::string_view unpadded = bytes;
        while (!unpadded.empty() && unpadded.back() == '=') unpadded.remove_suffix(1);
        require(jwt::base64url_encode(*d) == unpadded, "a decodable text has two spellings");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    if (size > 20000) return 0;
    const std::string_view input(reinterpret_cast<const char*>(bytes), size);
    std::string_view parts[4];
    std::size_t start = 0;
    for (int i = 0; i < 4; ++i) {
        const auto nl = i < 3 ? input.find('\n', start) : std::string_view::npos;
        parts[i] = input.substr(std::min(start, input.size()), nl == std::string_view::npos ? nl : nl - start);
        if (nl == std::string_view::npos) break;
        start = nl + 1;
    }
    const auto [secret, token, header_text, payload_text] = parts;
    const auto h = hash(input);
    const auto now = Clock::time_point(std::chrono::seconds(1'700'000'000));
    const double now_s = 1'700'000'000;

    check_base64(token);
    check_base64(payload_text);

    // The token as given.
    std::string error;
    if (const auto who = jwt::verify_jwt(token, secret, now, &error)) {
        const auto dot1 = token.find('.'), dot2 = token.rfind('.');
        require(!secret.empty() && dot1 != dot2, "accepted without a secret or three parts");
        const auto sig = jwt::base64url_decode(token.substr(dot2 + 1));
        require(sig && *sig == mac(secret, token.substr(0, dot2)), "accepted a token not signed with the secret");
        const auto header = jwt::base64url_decode(token.substr(0, dot1));
        const auto payload = jwt::base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
        require(header && payload && claims_accepted(*header, *payload, now_s), "accepted against the claim rules");
        check_identity(*who, *payload);
    } else {
        require(!error.empty(), "a refusal without a reason");
    }

    // Header and payload signed here.
    const std::string signing_input =
        jwt::base64url_encode(header_text) + "." + jwt::base64url_encode(payload_text);
    const std::string signed_token = signing_input + "." + jwt::base64url_encode(mac(secret, signing_input));
    const bool expected = !secret.empty() && signed_token.size() <= 8 * 1024 &&
                          claims_accepted(header_text, payload_text, now_s);
    const auto who = jwt::verify_jwt(signed_token, secret, now);
    require(who.has_value() == expected, "a signed token's verdict differs from the claim rules");
    if (who) {
        check_identity(*who, payload_text);
        std::string changed = signed_token;
        changed[(h >> 3) % changed.size()] ^= static_cast<char>(1 + (h >> 17) % 255);
        require(!jwt::verify_jwt(changed, secret, now), "a token with a changed byte is accepted");
        std::string other_secret(secret);
        other_secret[(h >> 29) % other_secret.size()] ^= static_cast<char>(1 + (h >> 37) % 255);
        require(!jwt::verify_jwt(signed_token, other_secret, now), "a token is accepted under another secret");
        require(!jwt::verify_jwt(signed_token, "", now), "a token is accepted without a secret");
    }

    // sign_jwt() round trip.
    const jwt::Identity identity{std::string(header_text), std::string(payload_text)};
    const std::chrono::seconds ttl(1 + static_cast<std::int64_t>(h % 1'000'000));
    const auto issued = jwt::sign_jwt(secret, identity, ttl, now);
    const auto back = jwt::verify_jwt(issued, secret, now, &error);
    const bool can_verify = !secret.empty() && !identity.user.empty() && issued.size() <= 8 * 1024;
    require(back.has_value() == can_verify, "sign_jwt() issued a token verify_jwt() judges otherwise");
    if (back && is_utf8(identity.user) && is_utf8(identity.session))
        require(back->user == identity.user && back->session == identity.session, "identity does not round-trip");
    if (can_verify) {
        require(!jwt::verify_jwt(issued, secret, now + ttl + std::chrono::seconds(30)), "an expired token is accepted");
        require(jwt::verify_jwt(issued, secret, now + ttl + std::chrono::seconds(29)).has_value(),
                "a token within the clock leeway is refused");
    }
    return 0;
}
