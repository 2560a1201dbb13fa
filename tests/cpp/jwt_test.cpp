// HS256 tokens, base64url and HMAC-SHA256: what the server accepts as an identity.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "jwt.hpp"

using namespace ssebus::server;
using namespace std::chrono_literals;

namespace {

const std::string secret = "jwt-test-secret";
const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

// A token with any header and payload, correctly signed with HMAC-SHA256.
std::string hand_signed(const std::string& header, const std::string& payload, const std::string& key = secret) {
    const auto input = base64url_encode(header) + "." + base64url_encode(payload);
    return input + "." + base64url_encode(hmac_sha256(key, input));
}

std::string hs256(const std::string& payload) {
    return hand_signed(R"({"alg":"HS256","typ":"JWT"})", payload);
}

std::string hex(const std::string& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

// Verifies and returns the reason of a refusal ("" when accepted).
std::string refusal(const std::string& token, const std::string& key = secret) {
    std::string why;
    const auto who = verify_jwt(token, key, now, &why);
    if (who) return "";
    REQUIRE_FALSE(why.empty());
    return why;
}

}  // namespace

TEST_CASE("a signed token verifies to its identity") {
    SECTION("round trip") {
        const auto token = sign_jwt(secret, {"alice", "s-1"}, 1h, now);
        const auto who = verify_jwt(token, secret, now);
        REQUIRE(who);
        CHECK(who->user == "alice");
        CHECK(who->session == "s-1");
    }
    SECTION("the header is HS256/JWT and the claims carry iat and exp") {
        const auto token = sign_jwt(secret, {"alice", "s-1"}, 1h, now);
        const auto dot = token.find('.');
        CHECK(base64url_decode(token.substr(0, dot)) == R"({"alg":"HS256","typ":"JWT"})");
        const auto claims = base64url_decode(token.substr(dot + 1, token.rfind('.') - dot - 1));
        REQUIRE(claims);
        CHECK(*claims == R"({"exp":1700003600,"iat":1700000000,"sid":"s-1","sub":"alice"})");
    }
    SECTION("a token made elsewhere (jwt.io's example) is accepted") {
        const std::string token =
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5"
            "MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        const auto who = verify_jwt(token, "your-256-bit-secret", now);
        REQUIRE(who);
        CHECK(who->user == "1234567890");
        CHECK(who->session.empty());
    }
    SECTION("the error is left alone on success") {
        std::string why = "untouched";
        CHECK(verify_jwt(sign_jwt(secret, {"alice", ""}, 1h, now), secret, now, &why));
        CHECK(why == "untouched");
    }
}

TEST_CASE("a token that was changed or signed by someone else is refused") {
    const auto token = sign_jwt(secret, {"alice", "s-1"}, 1h, now);
    const auto dot1 = token.find('.');
    const auto dot2 = token.rfind('.');

    SECTION("tampered payload") {
        const auto mallory = sign_jwt(secret, {"mallory", "s-1"}, 1h, now);
        const auto forged = token.substr(0, dot1) + mallory.substr(dot1, mallory.rfind('.') - dot1) +
                            token.substr(dot2);
        CHECK(refusal(forged) == "bad signature");
    }
    SECTION("tampered signature") {
        auto forged = token;
        forged[dot2 + 5] = forged[dot2 + 5] == 'A' ? 'B' : 'A';
        CHECK(refusal(forged) == "bad signature");
        CHECK(refusal(token.substr(0, dot2 + 1)) == "bad signature");        // no signature
        CHECK(refusal(token.substr(0, token.size() - 1)) != "");              // one character short
    }
    SECTION("wrong secret") {
        CHECK(refusal(token, "another-secret") == "bad signature");
        CHECK(refusal(sign_jwt("another-secret", {"alice", "s-1"}, 1h, now)) == "bad signature");
    }
    SECTION("an empty secret refuses everything, even a token signed with it") {
        CHECK(refusal(token, "") == "no secret configured");
        CHECK(refusal(sign_jwt("", {"alice", "s-1"}, 1h, now), "") == "no secret configured");
    }
}

TEST_CASE("only HS256 is accepted") {
    SECTION("alg none, unsigned") {
        const auto token = base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." +
                           base64url_encode(R"({"sub":"alice","exp":9999999999})") + ".";
        CHECK(refusal(token) == "alg must be HS256");
    }
    SECTION("alg none, even with a valid HMAC") {
        CHECK(refusal(hand_signed(R"({"alg":"none"})", R"({"sub":"alice"})")) == "alg must be HS256");
    }
    SECTION("alg HS512 and RS256") {
        CHECK(refusal(hand_signed(R"({"alg":"HS512","typ":"JWT"})", R"({"sub":"alice"})")) == "alg must be HS256");
        CHECK(refusal(hand_signed(R"({"alg":"RS256","typ":"JWT"})", R"({"sub":"alice"})")) == "alg must be HS256");
    }
    SECTION("alg missing, not a string, or spelled in another case") {
        CHECK(refusal(hand_signed(R"({"typ":"JWT"})", R"({"sub":"alice"})")) == "alg must be HS256");
        CHECK(refusal(hand_signed(R"({"alg":256})", R"({"sub":"alice"})")) == "alg must be HS256");
        CHECK(refusal(hand_signed(R"({"alg":"hs256"})", R"({"sub":"alice"})")) == "alg must be HS256");
    }
    SECTION("a header that is not a JSON object") {
        CHECK(refusal(hand_signed("not json", R"({"sub":"alice"})")) == "header is not a JSON object");
        CHECK(refusal(hand_signed(R"(["HS256"])", R"({"sub":"alice"})")) == "header is not a JSON object");
    }
    SECTION("critical header extensions are not understood, so refused") {
        CHECK(refusal(hand_signed(R"({"alg":"HS256","crit":["b64"],"b64":false})", R"({"sub":"alice"})")) ==
              "unsupported critical header");
    }
}

TEST_CASE("time claims are checked with 30 s of leeway") {
    SECTION("expired") {
        const auto old = sign_jwt(secret, {"alice", "s"}, 60s, now - 2h);
        CHECK(refusal(old) == "token expired");
        CHECK(refusal(hs256(R"({"sub":"alice","exp":1699999970})")) == "token expired");  // exactly 30 s ago
    }
    SECTION("expired a moment ago is still accepted") {
        CHECK(refusal(hs256(R"({"sub":"alice","exp":1699999980})")) == "");
        CHECK(refusal(hs256(R"({"sub":"alice","exp":1699999971.5})")) == "");
    }
    SECTION("a zero or negative ttl gives a token that is refused once the leeway is over") {
        CHECK(refusal(sign_jwt(secret, {"alice", "s"}, 0s, now - 31s)) == "token expired");
    }
    SECTION("not before, in the future") {
        CHECK(refusal(hs256(R"({"sub":"alice","nbf":1700000031})")) == "token not yet valid");
        CHECK(refusal(hs256(R"({"sub":"alice","nbf":1700000030})")) == "");
        CHECK(refusal(hs256(R"({"sub":"alice","nbf":1600000000})")) == "");
    }
    SECTION("time claims that are not numbers") {
        CHECK(refusal(hs256(R"({"sub":"alice","exp":"9999999999"})")) == "exp is not a number");
        CHECK(refusal(hs256(R"({"sub":"alice","exp":null})")) == "exp is not a number");
        CHECK(refusal(hs256(R"({"sub":"alice","nbf":"0"})")) == "nbf is not a number");
    }
    SECTION("no exp at all is accepted") {
        CHECK(refusal(hs256(R"({"sub":"alice"})")) == "");
    }
}

TEST_CASE("the claims must name a user") {
    SECTION("missing, empty or non-string sub") {
        CHECK(refusal(hs256(R"({"sid":"s"})")) == "missing sub");
        CHECK(refusal(hs256(R"({"sub":""})")) == "missing sub");
        CHECK(refusal(hs256(R"({"sub":42})")) == "missing sub");
        CHECK(refusal(sign_jwt(secret, {"", "s"}, 1h, now)) == "missing sub");
    }
    SECTION("sid is optional") {
        const auto who = verify_jwt(hs256(R"({"sub":"alice"})"), secret, now);
        REQUIRE(who);
        CHECK(who->user == "alice");
        CHECK(who->session.empty());
    }
    SECTION("sid, when present, must be a string") {
        CHECK(refusal(hs256(R"({"sub":"alice","sid":7})")) == "sid is not a string");
        CHECK(refusal(hs256(R"({"sub":"alice","sid":null})")) == "sid is not a string");
    }
    SECTION("the payload must be a JSON object") {
        CHECK(refusal(hs256(R"(["alice"])")) == "payload is not a JSON object");
        CHECK(refusal(hs256("alice")) == "payload is not a JSON object");
        CHECK(refusal(hs256("")) == "payload is not a JSON object");
    }
    SECTION("names that are not UTF-8 still make a token, never an exception") {
        const auto token = sign_jwt(secret, {"al\xffice", "s"}, 1h, now);
        const auto who = verify_jwt(token, secret, now);
        REQUIRE(who);
        CHECK(who->user == "al\xef\xbf\xbdice");  // replaced by U+FFFD
    }
}

TEST_CASE("garbage is refused without a fuss") {
    SECTION("not three parts") {
        CHECK(refusal("") == "not a JWT (expected three parts)");
        CHECK(refusal("a.b") == "not a JWT (expected three parts)");
        CHECK(refusal("a.b.c.d") == "not a JWT (expected three parts)");
        CHECK(refusal("...") == "not a JWT (expected three parts)");
        CHECK(refusal("no dots at all") == "not a JWT (expected three parts)");
    }
    SECTION("three parts of nothing useful") {
        CHECK(refusal("..") == "header is not a JSON object");
        CHECK(refusal("a.b.c") == "header is not a JSON object");
        CHECK(refusal("!!.??.**") == "header is not a JSON object");
    }
    SECTION("a signature that is not base64url") {
        const auto token = sign_jwt(secret, {"alice", "s"}, 1h, now);
        CHECK(refusal(token.substr(0, token.rfind('.') + 1) + "a+b/") == "signature is not base64url");
    }
    SECTION("anything over 8 KiB, before any work") {
        CHECK(refusal(std::string(8 * 1024 + 1, 'a')) == "token too long");
        const auto big = hs256(R"({"sub":"alice","pad":")" + std::string(7000, 'x') + "\"}");
        REQUIRE(big.size() > 8 * 1024);
        CHECK(refusal(big) == "token too long");
    }
    SECTION("a null error pointer is fine") {
        CHECK_FALSE(verify_jwt("a.b", secret, now));
        CHECK_FALSE(verify_jwt("a.b", secret, now, nullptr));
    }
}

TEST_CASE("base64url") {
    SECTION("RFC 4648 test vectors, without padding") {
        CHECK(base64url_encode("") == "");
        CHECK(base64url_encode("f") == "Zg");
        CHECK(base64url_encode("fo") == "Zm8");
        CHECK(base64url_encode("foo") == "Zm9v");
        CHECK(base64url_encode("foob") == "Zm9vYg");
        CHECK(base64url_encode("fooba") == "Zm9vYmE");
        CHECK(base64url_encode("foobar") == "Zm9vYmFy");
        for (const auto* s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"})
            CHECK(base64url_decode(base64url_encode(s)) == std::string(s));
    }
    SECTION("the url alphabet: '-' and '_' instead of '+' and '/'") {
        CHECK(base64url_encode("\xfb\xff") == "-_8");
        CHECK(base64url_decode("-_8") == std::string("\xfb\xff"));
        CHECK(base64url_encode("\xfb\xef\xbe") == "----");
        CHECK(base64url_encode("\xff\xff\xff") == "____");
        CHECK_FALSE(base64url_decode("+/8"));
    }
    SECTION("every byte value survives a round trip") {
        std::string all;
        for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
        for (std::size_t n = 0; n <= all.size(); n += 37) {
            const auto part = all.substr(0, n);
            CHECK(base64url_decode(base64url_encode(part)) == part);
        }
    }
    SECTION("correct padding is accepted") {
        CHECK(base64url_decode("Zg==") == std::string("f"));
        CHECK(base64url_decode("Zm8=") == std::string("fo"));
        CHECK(base64url_decode("Zm9vYg==") == std::string("foob"));
        CHECK(base64url_decode("Zm9v") == std::string("foo"));
    }
    SECTION("wrong padding is refused") {
        CHECK_FALSE(base64url_decode("Zg="));     // too short
        CHECK_FALSE(base64url_decode("Zm8=="));   // too long
        CHECK_FALSE(base64url_decode("Zm9v===="));
        CHECK_FALSE(base64url_decode("Zg=a"));    // data after padding
        CHECK_FALSE(base64url_decode("=Zg="));
        CHECK_FALSE(base64url_decode("Zg==Zg=="));
        CHECK_FALSE(base64url_decode("===="));
        CHECK_FALSE(base64url_decode("="));
    }
    SECTION("invalid characters and lengths are refused") {
        CHECK_FALSE(base64url_decode("Z"));       // 6 bits make no byte
        CHECK_FALSE(base64url_decode("Zm9vY"));
        CHECK_FALSE(base64url_decode("Zm 9v"));
        CHECK_FALSE(base64url_decode("Zm9v\n"));
        CHECK_FALSE(base64url_decode(std::string("Zm\0v", 4)));
        CHECK_FALSE(base64url_decode("Zm9v.g"));
        CHECK_FALSE(base64url_decode("\xc3\xa9\xc3\xa9"));
    }
    SECTION("non-zero unused bits are refused: each byte string has one spelling") {
        CHECK_FALSE(base64url_decode("Zh"));      // would also be "f"
        CHECK_FALSE(base64url_decode("Zm9="));    // would also be "fo"
        CHECK_FALSE(base64url_decode("-_9"));
    }
}

TEST_CASE("HMAC-SHA256 and constant-time comparison") {
    SECTION("RFC 4231 test case 2") {
        CHECK(hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
    SECTION("empty key and data still give 32 bytes") {
        CHECK(hmac_sha256("", "").size() == 32);
        CHECK(hex(hmac_sha256("", "")) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    }
    SECTION("constant_time_equal") {
        CHECK(constant_time_equal("", ""));
        CHECK(constant_time_equal("abc", "abc"));
        CHECK_FALSE(constant_time_equal("abc", "abd"));
        CHECK_FALSE(constant_time_equal("abc", "ab"));
        CHECK_FALSE(constant_time_equal("", "a"));
        CHECK(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
        CHECK_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
    }
}
