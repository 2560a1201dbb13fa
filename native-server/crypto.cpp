#include "crypto.hpp"

#include <climits>
#include <cstdint>
#include <random>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace ssebus::server {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sextet(char c) noexcept {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view data) {
    if (key.size() > static_cast<std::size_t>(INT_MAX)) return {};
    // OpenSSL wants real pointers even for empty inputs.
    const unsigned char nothing = 0;
    const void* k = key.empty() ? &nothing : static_cast<const void*>(key.data());
    const auto* d = data.empty() ? &nothing : reinterpret_cast<const unsigned char*>(data.data());
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), k, static_cast<int>(key.size()), d, data.size(), out, &len)) return {};
    return std::string(reinterpret_cast<const char*>(out), len);
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : bytes) {
        acc = (acc << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(alphabet[(acc >> bits) & 0x3f]);
        }
        acc &= (1u << bits) - 1;  // keep only the bits not yet written
    }
    if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 0x3f]);
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    // Padding may only complete the last group of four: "xx==" or "xxx=".
    if (const auto first_pad = text.find('='); first_pad != std::string_view::npos) {
        const auto pad = text.size() - first_pad;
        if (text.size() % 4 != 0 || pad > 2) return std::nullopt;
        if (text.find_first_not_of('=', first_pad) != std::string_view::npos) return std::nullopt;
        text = text.substr(0, first_pad);
        if (text.size() % 4 + pad != 4) return std::nullopt;
    }
    // One character left over holds only 6 bits: not even one byte.
    if (text.size() % 4 == 1) return std::nullopt;

    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : text) {
        const int v = sextet(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
            acc &= (1u << bits) - 1;
        }
    }
    // Left-over bits must be zero, or two spellings would decode to the same bytes.
    if (acc != 0) return std::nullopt;
    return out;
}

std::string hex(std::string_view bytes) {
    constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0x0f]);
    }
    return out;
}

std::string random_hex(std::size_t bytes) {
    thread_local std::mt19937_64 gen{std::random_device{}()};
    std::string raw(bytes, '\0');
    for (auto& c : raw) c = static_cast<char>(gen() & 0xff);
    return hex(raw);
}

std::string random_secret() {
    std::string raw(16, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) != 1) {
        std::random_device rd;  // OpenSSL's generator failed: the OS one is still unpredictable
        for (auto& c : raw) c = static_cast<char>(rd() & 0xff);
    }
    return hex(raw);
}

}  // namespace ssebus::server
