// What every fuzz target shares: an invariant that aborts (so libFuzzer keeps the input),
// and a cheap hash for deriving choices from the input's bytes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace fuzz {

inline void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
}

inline std::uint64_t hash(std::string_view s) {
    std::uint64_t h = 14695981039346656037u;  // FNV-1a
    for (unsigned char c : s) h = (h ^ c) * 1099511628211u;
    return h;
}

}  // namespace fuzz
