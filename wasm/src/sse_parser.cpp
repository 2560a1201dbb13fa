#include "ssebus/sse_parser.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace ssebus::sse {

namespace {

constexpr char kBom[3] = {'\xEF', '\xBB', '\xBF'};
constexpr std::uint8_t kBomSettled = 3;

// A buffer that grew past this for one large event gives the memory back afterwards.
constexpr std::size_t kRetainedCapacity = 64 * 1024;

using Buffer = std::vector<char>;

std::string_view view(const Buffer& buffer) {
    return {buffer.data(), buffer.size()};
}

void append(Buffer& buffer, std::string_view bytes) {
    buffer.insert(buffer.end(), bytes.begin(), bytes.end());
}

void assign(Buffer& buffer, std::string_view bytes) {
    buffer.assign(bytes.begin(), bytes.end());
}

void clear(Buffer& buffer) {
    if (buffer.capacity() > kRetainedCapacity)
        Buffer().swap(buffer);
    else
        buffer.clear();
}

// The position of the first `c` at or after `from`, or bytes.size().
std::size_t find(std::string_view bytes, std::size_t from, char c) {
    const void* hit = std::memchr(bytes.data() + from, c, bytes.size() - from);
    return hit ? static_cast<std::size_t>(static_cast<const char*>(hit) - bytes.data())
               : bytes.size();
}

// "only ASCII digits" and not empty; a value past 64 bits is ignored.
std::optional<std::uint64_t> parse_retry(std::string_view value) {
    if (value.empty()) return std::nullopt;
    constexpr auto max = std::numeric_limits<std::uint64_t>::max();
    bool fits = true;
    std::uint64_t ms = 0;
    for (char c : value) {
        if (c < '0' || c > '9') return std::nullopt;
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (ms > (max - digit) / 10) fits = false;
        ms = ms * 10 + digit;
    }
    if (!fits) return std::nullopt;
    return ms;
}

}  // namespace

struct Parser::Output {
    Callback on_event;
    void* context;
    std::size_t count = 0;
};

Parser::Parser(Limits limits) : limits_(limits) {}

std::size_t Parser::feed(std::string_view bytes, Callback on_event, void* context) {
    Output out{on_event, context};
    if (bytes.empty()) return 0;
    std::size_t pos = 0;
    if (after_cr_) {
        after_cr_ = false;
        if (bytes[0] == '\n') pos = 1;  // the second half of a CRLF cut in two
    }
    if (bom_ != kBomSettled) pos += skip_bom(bytes.substr(pos));

    // The next LF and the next CR are each searched for once and remembered, so a chunk
    // is scanned in linear time whichever line ends it uses.
    const std::size_t n = bytes.size();
    std::size_t lf = find(bytes, pos, '\n');
    std::size_t cr = find(bytes, pos, '\r');
    while (pos < n) {
        if (lf < pos) lf = find(bytes, pos, '\n');
        if (cr < pos) cr = find(bytes, pos, '\r');
        std::size_t eol = std::min(lf, cr);
        if (eol == n) {
            keep_partial_line(bytes.substr(pos));
            break;
        }
        end_line(bytes.substr(pos, eol - pos), out);
        if (bytes[eol] == '\r') {
            if (eol + 1 == n)
                after_cr_ = true;
            else if (bytes[eol + 1] == '\n')
                ++eol;
        }
        pos = eol + 1;
    }
    return out.count;
}

// Matches the leading BOM, which may arrive a byte at a time. Bytes that start like a BOM
// but turn out not to be one are the start of the first line.
std::size_t Parser::skip_bom(std::string_view bytes) {
    std::size_t pos = 0;
    while (bom_ != kBomSettled && pos < bytes.size()) {
        if (bytes[pos] == kBom[bom_]) {
            ++pos;
            ++bom_;
        } else {
            const auto matched = bom_;
            bom_ = kBomSettled;
            if (matched) keep_partial_line({kBom, matched});
        }
    }
    return pos;
}

// Stores the start of a line that the end of the chunk cut.
void Parser::keep_partial_line(std::string_view bytes) {
    if (skip_line_) return;
    if (line_.empty() && bytes.front() == ':') {
        skip_line_ = true;  // a comment: nothing of it is needed
        return;
    }
    if (line_.size() + bytes.size() > limits_.max_event_bytes) {
        drop_event();
        clear(line_);
        skip_line_ = true;
        return;
    }
    append(line_, bytes);
}

// A line end after `bytes`, which finish a line that may have started in earlier chunks.
void Parser::end_line(std::string_view bytes, Output& out) {
    if (skip_line_) {
        skip_line_ = false;
        return;
    }
    if (line_.empty()) {
        process_line(bytes, out);
        return;
    }
    if (line_.size() + bytes.size() > limits_.max_event_bytes) {
        drop_event();
    } else {
        append(line_, bytes);
        process_line(view(line_), out);
    }
    clear(line_);
}

void Parser::process_line(std::string_view line, Output& out) {
    if (line.empty()) return dispatch(out);
    if (line.front() == ':') return;  // a comment
    if (line.size() > limits_.max_event_bytes) return drop_event();

    const auto colon = line.find(':');
    const auto name = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
        value = line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }

    if (name == "data") {
        if (dropping_) return;
        if (data_.size() + value.size() > limits_.max_event_bytes) return drop_event();
        append(data_, value);
        data_.push_back('\n');
    } else if (name == "event") {
        if (!dropping_) assign(type_, value);
    } else if (name == "id") {
        if (value.find('\0') == std::string_view::npos) assign(id_, value);
    } else if (name == "retry") {
        if (const auto ms = parse_retry(value)) retry_ms_ = ms;
    }
    // Any other field is ignored.
}

// A blank line.
void Parser::dispatch(Output& out) {
    last_id_ = id_;
    if (dropping_) {
        dropping_ = false;  // drop_event() already emptied the buffers
        return;
    }
    if (data_.empty()) {
        type_.clear();
        return;
    }
    data_.pop_back();  // the LF after the last data line
    out.on_event(out.context, Event{view(type_), view(data_), view(last_id_)});
    ++out.count;
    clear(data_);
    type_.clear();
}

void Parser::drop_event() {
    if (!dropping_) {
        dropping_ = true;
        ++dropped_;
    }
    clear(data_);
    type_.clear();
}

void Parser::finish() {
    clear(line_);
    clear(data_);
    type_.clear();
    id_ = last_id_;
    bom_ = 0;
    after_cr_ = false;
    skip_line_ = false;
    dropping_ = false;
}

void Parser::reset(std::string_view last_event_id) {
    finish();
    last_id_ = Buffer(last_event_id.begin(), last_event_id.end());  // may alias last_id_
    id_ = last_id_;
}

}  // namespace ssebus::sse
