// Fuzzes the incremental SSE parser against a literal reading of the spec.
//
// Each input is an event stream. It is parsed whole, byte by byte, cut at points derived
// from its bytes, and cut just after every CR; every run must see exactly what a plain
// whole-stream reference implementation sees: the same events, last event ID, retry and
// dropped count. The same runs are repeated with a small size limit derived from the input,
// and once more after finish(), to check that the parser starts a new stream cleanly.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "ssebus/sse_parser.hpp"

namespace sse = ssebus::sse;

namespace {
using fuzz::hash;
using fuzz::require;

struct Received {
    std::string type, data, id;
    bool operator==(const Received&) const = default;
};

struct Outcome {
    std::vector<Received> events;
    std::string last_event_id;
    std::optional<std::uint64_t> retry_ms;
    std::uint64_t dropped = 0;
    bool operator==(const Outcome&) const = default;
};

// The spec over the whole stream at once: strip one BOM, split into lines, and drop the
// bytes after the last line end. Size limit as documented in sse_parser.hpp.
Outcome reference(std::string_view s, std::size_t limit, std::string_view initial_id) {
    Outcome o;
    o.last_event_id = initial_id;
    constexpr std::string_view bom = "\xEF\xBB\xBF";
    if (s.size() < bom.size() && bom.substr(0, s.size()) == s) return o;  // maybe a BOM, cut short
    if (s.substr(0, 3) == bom) s.remove_prefix(3);
    std::vector<std::string_view> lines;
    std::size_t start = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\r' && s[i] != '\n') continue;
        lines.push_back(s.substr(start, i - start));
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
        start = i + 1;
    }
    const bool cut_short = start < s.size();  // an unterminated last line

    std::string data, type, id(initial_id);
    bool dropping = false;
    auto drop = [&] {
        if (!dropping) ++o.dropped;
        dropping = true;
        data.clear();
        type.clear();
    };
    for (auto line : lines) {
        if (line.empty()) {
            o.last_event_id = id;
            if (!dropping && !data.empty()) {
                data.pop_back();
                o.events.push_back({type, data, id});
            }
            dropping = false;
            data.clear();
            type.clear();
            continue;
        }
        if (line[0] == ':') continue;
        if (line.size() > limit) {
            drop();
            continue;
        }
        std::string_view name = line, value;
        if (const auto colon = line.find(':'); colon != std::string_view::npos) {
            name = line.substr(0, colon);
            value = line.substr(colon + 1);
            if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
        }
        if (name == "data") {
            if (dropping) continue;
            if (data.size() + value.size() > limit) {
                drop();
                continue;
            }
            data += value;
            data += '\n';
        } else if (name == "event") {
            if (!dropping) type = value;
        } else if (name == "id") {
            if (value.find('\0') == std::string_view::npos) id = value;
        } else if (name == "retry" && !value.empty()) {
            unsigned __int128 ms = 0;
            bool digits = true;
            for (char c : value) {
                if (c < '0' || c > '9') digits = false;
                else if (ms <= UINT64_MAX) ms = ms * 10 + static_cast<unsigned>(c - '0');
            }
            if (digits && ms <= UINT64_MAX) o.retry_ms = static_cast<std::uint64_t>(ms);
        }
    }
    // An over-long partial last line was already counted by the parser as it arrived.
    if (cut_short && !dropping) {
        const auto rest = s.substr(start);
        if (rest[0] != ':' && rest.size() > limit) ++o.dropped;
    }
    return o;
}

// Runs the parser over `s` cut at `cuts` (increasing positions), then finish().
Outcome run(sse::Parser& parser, std::string_view s, const std::vector<std::size_t>& cuts) {
    Outcome o;
    o.retry_ms = parser.retry_ms();
    const auto dropped_before = parser.dropped();
    std::size_t count = 0, at = 0;
    auto collect = [&](const sse::Event& e) {
        require(e.type.find_first_of("\r\n") == std::string_view::npos, "CR or LF in a type");
        require(e.data.find('\r') == std::string_view::npos, "CR in data");
        require(e.id.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos,
                "CR, LF or NUL in an id");
        require(e.data.size() <= parser.limits().max_event_bytes, "data over the limit");
        o.events.push_back({std::string(e.type), std::string(e.data), std::string(e.id)});
    };
    for (std::size_t cut : cuts) {
        count += parser.feed(s.substr(at, cut - at), collect);
        at = cut;
    }
    count += parser.feed(s.substr(at), collect);
    require(count == o.events.size(), "feed() miscounted its events");
    parser.finish();
    o.last_event_id = parser.last_event_id();
    o.retry_ms = parser.retry_ms();
    o.dropped = parser.dropped() - dropped_before;
    return o;
}

Outcome run(std::string_view s, const std::vector<std::size_t>& cuts, std::size_t limit) {
    sse::Parser parser({.max_event_bytes = limit});
    return run(parser, s, cuts);
}

void check_all_cuts(std::string_view s, std::size_t limit) {
    const auto expected = reference(s, limit, "");
    require(run(s, {}, limit) == expected, "whole stream differs from the reference");

    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < s.size(); ++i) every.push_back(i);
    require(run(s, every, limit) == expected, "byte-by-byte differs from the reference");

    std::vector<std::size_t> some;
    auto h = hash(s);
    for (std::size_t i = 0, at = 0; i < 6 && s.size() > 1; ++i, h = h * 6364136223846793005u + 1) {
        at += 1 + (h >> 33) % (s.size() / 3 + 1);
        if (at >= s.size()) break;
        some.push_back(at);
    }
    require(run(s, some, limit) == expected, "cut at data-derived points differs from the reference");

    std::vector<std::size_t> after_cr;
    for (std::size_t i = 0; i + 1 < s.size(); ++i)
        if (s[i] == '\r') after_cr.push_back(i + 1);
    require(run(s, after_cr, limit) == expected, "cut after each CR differs from the reference");

    // The same parser, after finish(), reads the stream again from the last event ID.
    sse::Parser parser({.max_event_bytes = limit});
    const auto first = run(parser, s, some);
    auto again = reference(s, limit, first.last_event_id);
    if (!again.retry_ms) again.retry_ms = first.retry_ms;
    require(run(parser, s, {}) == again, "a second stream after finish() differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    const std::string_view s(reinterpret_cast<const char*>(bytes), size);
    check_all_cuts(s, sse::Limits{}.max_event_bytes);
    check_all_cuts(s, 1 + hash(s) % 48);
    return 0;
}
