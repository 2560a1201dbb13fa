#include "ssebus/sse_writer.hpp"

namespace ssebus::sse {

namespace {

void append_field(std::string& out, std::string_view field, std::string_view value) {
    out += field;
    out += ": ";
    for (char c : value)
        if (c != '\r' && c != '\n') out += c;
    out += '\n';
}

}  // namespace

void append(std::string& out, const Fields& f) {
    if (!f.id.empty()) append_field(out, "id", f.id);
    if (!f.name.empty()) append_field(out, "event", f.name);
    if (f.retry_ms) {
        out += "retry: ";
        out += std::to_string(*f.retry_ms);
        out += '\n';
    }
    std::size_t start = 0;
    for (;;) {
        const auto end = f.data.find_first_of("\r\n", start);
        out += "data: ";
        out += f.data.substr(start, end == std::string_view::npos ? end : end - start);
        out += '\n';
        if (end == std::string_view::npos) break;
        start = end + ((f.data[end] == '\r' && end + 1 < f.data.size() && f.data[end + 1] == '\n') ? 2 : 1);
    }
    out += '\n';
}

std::string frame(const Fields& f) {
    std::string out;
    out.reserve(f.id.size() + f.name.size() + f.data.size() + 32);
    append(out, f);
    return out;
}

std::string comment(std::string_view text) {
    std::string out = ": ";
    for (char c : text)
        if (c != '\r' && c != '\n') out += c;
    out += "\n\n";
    return out;
}

std::string retry(std::uint32_t ms) {
    return "retry: " + std::to_string(ms) + "\n\n";
}

bool valid_event_name(std::string_view name) noexcept {
    if (name.empty()) return false;
    for (char c : name)
        if (c == '\r' || c == '\n' || c == '\0') return false;
    return true;
}

}  // namespace ssebus::sse
