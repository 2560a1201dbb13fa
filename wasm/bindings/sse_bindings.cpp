// The raw SSE parser under the bridge's fetch transport. Only integers cross embind on
// the hot path: bytes go in, and events come out, through buffers in the WebAssembly heap.
//
// Contract (JS is written against exactly this):
//
//   const parser = new Module.SseParser();     // parser.delete() frees it
//
//   // For each chunk of the response body (a Uint8Array):
//   const ptr = parser.inputBuffer(chunk.length);  // >= n writable bytes, valid until
//   Module.HEAPU8.set(chunk, ptr);                 //   the next call on this parser
//   const count = parser.feed(chunk.length);       // events those bytes completed
//   const words = Module.HEAPU32;                  // per event, 6 uint32: typePtr, typeLen,
//   const at = parser.events() >>> 2;              //   dataPtr, dataLen, idPtr, idLen
//   for (let i = at; i < at + 6 * count; i += 6) {
//     const type = words[i + 1] ? utf8(words[i], words[i + 1]) : 'message';
//     const data = utf8(words[i + 2], words[i + 3]);
//     const lastEventId = utf8(words[i + 4], words[i + 5]);
//   }
//
//   where utf8 = (ptr, len) => decoder.decode(Module.HEAPU8.subarray(ptr, ptr + len)).
//   Pointers are absolute byte addresses of UTF-8 bytes in the heap; with a length of 0
//   the pointer means nothing. typeLen 0 is an unnamed event ("message"); the id is the
//   last event ID when the event was dispatched. The words and the bytes stay valid until
//   the next feed(), reset() or finish() on this parser. Read Module.HEAPU8 / HEAPU32 again
//   after every call: the heap may have grown, which detaches the old views.
//
//   parser.retry()        latest valid `retry` in ms, clamped to 2^31 - 1; -1 when none.
//                         It survives reset(), like an EventSource's reconnection time.
//   parser.reset(id)      a new connection whose last event ID starts as `id` (a string).
//   parser.finish()       the stream ended: an event without its blank line is dropped
//                         (its id too); ready for a new stream from the same last ID.
//   parser.lastEventId()  the last event ID string (a string: not for the hot path).
//   parser.dropped()      how many events were dropped for exceeding 16 MiB.
#include <emscripten/bind.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ssebus/sse_parser.hpp"

namespace {

// Buffers that grew past this for one large chunk or event are given back on next use.
constexpr std::size_t kRetained = 1 << 20;

class SseParser {
public:
    std::uintptr_t inputBuffer(int n) {
        const auto want = static_cast<std::size_t>(std::max(n, 0));
        if (want > capacity_ || (capacity_ > kRetained && want <= kRetained)) {
            input_.reset(new char[std::max<std::size_t>(want, 1)]);
            capacity_ = want;
        }
        return reinterpret_cast<std::uintptr_t>(input_.get());
    }

    int feed(int n) {
        start_batch();
        const auto size = std::min(static_cast<std::size_t>(std::max(n, 0)), capacity_);
        const auto count = parser_.feed({input_.get(), size}, &SseParser::collect, this);
        // The arena has stopped moving: turn offsets into addresses.
        const auto base = reinterpret_cast<std::uintptr_t>(arena_.data());
        for (auto& slice : slices_) slice.at += static_cast<std::uint32_t>(base);
        return static_cast<int>(count);
    }

    std::uintptr_t events() const { return reinterpret_cast<std::uintptr_t>(slices_.data()); }

    int retry() const {
        const auto ms = parser_.retry_ms();
        if (!ms) return -1;
        return static_cast<int>(std::min<std::uint64_t>(*ms, INT_MAX));
    }

    void reset(const std::string& last_event_id) {
        start_batch();
        parser_.reset(last_event_id);
    }
    void finish() {
        start_batch();
        parser_.finish();
    }
    std::string lastEventId() const { return std::string(parser_.last_event_id()); }
    int dropped() const { return static_cast<int>(std::min<std::uint64_t>(parser_.dropped(), INT_MAX)); }

private:
    // Where one field's bytes are: two of the six words of an event.
    struct Slice {
        std::uint32_t at;
        std::uint32_t size;
    };
    static_assert(sizeof(Slice) == 2 * sizeof(std::uint32_t));

    void start_batch() {
        if (arena_.capacity() + slices_.capacity() * sizeof(Slice) > kRetained) {
            std::vector<char>().swap(arena_);
            std::vector<Slice>().swap(slices_);
        }
        arena_.clear();
        slices_.clear();
    }

    // Copies each event into the arena, recording offsets: the parser reuses its buffers
    // for the next event, and the arena may move as it grows.
    static void collect(void* self, const ssebus::sse::Event& event) {
        auto& p = *static_cast<SseParser*>(self);
        for (const auto field : {event.type, event.data, event.id}) {
            p.slices_.push_back({static_cast<std::uint32_t>(p.arena_.size()),
                                 static_cast<std::uint32_t>(field.size())});
            p.arena_.insert(p.arena_.end(), field.begin(), field.end());
        }
    }

    ssebus::sse::Parser parser_;
    std::unique_ptr<char[]> input_;
    std::size_t capacity_ = 0;
    // Vectors, as in the parser (see sse_parser.hpp): their members are instantiated in
    // this file, compiled at -O2, and inline.
    std::vector<char> arena_;
    std::vector<Slice> slices_;
};

}  // namespace

EMSCRIPTEN_BINDINGS(ssebus_sse) {
    emscripten::class_<SseParser>("SseParser")
        .constructor<>()
        .function("inputBuffer", &SseParser::inputBuffer)
        .function("feed", &SseParser::feed)
        .function("events", &SseParser::events)
        .function("retry", &SseParser::retry)
        .function("reset", &SseParser::reset)
        .function("finish", &SseParser::finish)
        .function("lastEventId", &SseParser::lastEventId)
        .function("dropped", &SseParser::dropped);
}
