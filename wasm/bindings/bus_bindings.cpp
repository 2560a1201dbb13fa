// The raw module the JS package wraps. Names here are the package's private surface
// (prefixed with '_' on the JS side); users see createEventBus() and its methods.
//
// The bus's core is a pattern index: JS keeps exact-name subscriptions and `once` itself,
// and only pattern subscriptions come here. Only integers cross this boundary after a key
// is interned: batched pattern changes and route answers travel through buffers in the
// WebAssembly heap that JS reads and writes with HEAPU32.
#include <emscripten/bind.h>

#include <malloc.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ssebus/bus.hpp"

namespace {

class CoreBus {
public:
    // >= 0: (key id << 1) | is_pattern. -1: refused; error() says why.
    int intern(const std::string& key) {
        const auto k = bus_.intern(key, &error_);
        if (!k) return -1;
        return static_cast<int>((k->id << 1) | (k->pattern ? 1u : 0u));
    }
    void release(int key) { bus_.release(static_cast<ssebus::KeyId>(key)); }
    std::string error() const { return error_; }

    // A buffer of `words` uint32 for apply(); its address stays valid until the next call.
    std::uintptr_t opsBuffer(int words) {
        ops_.resize(static_cast<std::size_t>(words));
        return reinterpret_cast<std::uintptr_t>(ops_.data());
    }
    int apply(int words) {
        return static_cast<int>(bus_.apply({ops_.data(), static_cast<std::size_t>(words)}));
    }

    // Address of [count, id...]: the pattern subscriptions the interned name matches, in
    // order; valid until the next call.
    std::uintptr_t route(int key) {
        const auto& ids = bus_.route(static_cast<ssebus::KeyId>(key));
        answer_.resize(ids.size() + 1);
        answer_[0] = static_cast<std::uint32_t>(ids.size());
        std::copy(ids.begin(), ids.end(), answer_.begin() + 1);
        return reinterpret_cast<std::uintptr_t>(answer_.data());
    }

    void clear() { bus_.clear(); }

private:
    ssebus::Bus bus_;
    std::string error_;
    std::vector<std::uint32_t> ops_;
    std::vector<std::uint32_t> answer_;
};

// Bytes in use by malloc, for tests that prove the heap stays flat.
int heapUsed() { return static_cast<int>(mallinfo().uordblks); }

}  // namespace

EMSCRIPTEN_BINDINGS(ssebus_core) {
    emscripten::class_<CoreBus>("CoreBus")
        .constructor<>()
        .function("intern", &CoreBus::intern)
        .function("release", &CoreBus::release)
        .function("error", &CoreBus::error)
        .function("opsBuffer", &CoreBus::opsBuffer)
        .function("apply", &CoreBus::apply)
        .function("route", &CoreBus::route)
        .function("clear", &CoreBus::clear);
    emscripten::function("heapUsed", &heapUsed);
}
