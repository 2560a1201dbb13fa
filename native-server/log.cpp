#include "log.hpp"

#include <charconv>
#include <chrono>
#include <iostream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "event.hpp"

namespace ssebus::server::log {

namespace {

std::atomic<Format> current_format{Format::text};
std::mutex out_mutex;

std::string timestamp() { return iso8601(std::chrono::system_clock::now()); }

std::string number(const Field& f) {
    char buf[32];
    std::to_chars_result r{};
    switch (f.kind()) {
        case Field::Kind::signed_int: r = std::to_chars(buf, buf + sizeof buf, f.signed_value()); break;
        case Field::Kind::unsigned_int: r = std::to_chars(buf, buf + sizeof buf, f.unsigned_value()); break;
        case Field::Kind::real: r = std::to_chars(buf, buf + sizeof buf, f.real_value()); break;
        case Field::Kind::boolean: return f.unsigned_value() ? "true" : "false";
        case Field::Kind::string: return std::string(f.text());
    }
    return std::string(buf, r.ptr);
}

// A text value is written bare when it is a plain word, else quoted with JSON's escapes.
void append_text_value(std::string& out, std::string_view v) {
    bool bare = !v.empty();
    for (unsigned char c : v)
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) bare = false;
    if (bare) {
        out += v;
        return;
    }
    out += nlohmann::json(std::string(v)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void emit(const std::string& line) {
    std::lock_guard lock(out_mutex);
    std::clog << line << '\n' << std::flush;
}

}  // namespace

std::string_view to_string(Level level) noexcept {
    switch (level) {
        case Level::error: return "error";
        case Level::warn: return "warn";
        case Level::info: return "info";
        case Level::debug: return "debug";
    }
    return "info";
}

std::optional<Level> parse_level(std::string_view name) noexcept {
    for (auto l : {Level::error, Level::warn, Level::info, Level::debug})
        if (name == to_string(l)) return l;
    return std::nullopt;
}

std::optional<Format> parse_format(std::string_view name) noexcept {
    if (name == "text") return Format::text;
    if (name == "json") return Format::json;
    return std::nullopt;
}

void set_level(Level level) noexcept { detail::threshold.store(static_cast<int>(level), std::memory_order_relaxed); }
Level level() noexcept { return static_cast<Level>(detail::threshold.load(std::memory_order_relaxed)); }
void set_format(Format format) noexcept { current_format.store(format, std::memory_order_relaxed); }
Format format() noexcept { return current_format.load(std::memory_order_relaxed); }

std::string format_text(Level level, std::string_view message, std::initializer_list<Field> fields) {
    // ssebus-server: 2026-12-01T23:17:16.123Z debug stream closed client=c1 reason="client went away" ms=1203
    std::string out = "ssebus-server: ";
    out += timestamp();
    out += ' ';
    out += to_string(level);
    out += ' ';
    out += message;
    for (const auto& f : fields) {
        out += ' ';
        out += f.key();
        out += '=';
        if (f.kind() == Field::Kind::string)
            append_text_value(out, f.text());
        else
            out += number(f);
    }
    return out;
}

std::string format_json(Level level, std::string_view message, std::initializer_list<Field> fields) {
    nlohmann::ordered_json j;
    j["ts"] = timestamp();
    j["level"] = to_string(level);
    j["msg"] = message;
    for (const auto& f : fields) {
        auto& v = j[std::string(f.key())];
        switch (f.kind()) {
            case Field::Kind::string: v = std::string(f.text()); break;
            case Field::Kind::signed_int: v = f.signed_value(); break;
            case Field::Kind::unsigned_int: v = f.unsigned_value(); break;
            case Field::Kind::real: v = f.real_value(); break;
            case Field::Kind::boolean: v = f.unsigned_value() != 0; break;
        }
    }
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
    if (!enabled(level)) return;
    emit(format() == Format::json ? format_json(level, message, fields) : format_text(level, message, fields));
}

void always(std::string_view message, std::initializer_list<Field> fields) {
    emit(format() == Format::json ? format_json(Level::info, message, fields)
                                  : format_text(Level::info, message, fields));
}

}  // namespace ssebus::server::log

namespace ssebus::server {

bool is_shutdown_noise(const error_code& ec) noexcept {
    return ec == net::error::operation_aborted || ec == beast::error::timeout || ec == net::error::eof ||
           ec == net::error::connection_reset || ec == net::error::broken_pipe || ec == http::error::end_of_stream ||
           ec == net::error::not_connected || ec == net::error::bad_descriptor;
}

void fail(error_code ec, std::string_view what) {
    if (is_shutdown_noise(ec)) return;
    SSEBUS_LOG(warn, std::string(what) + " failed", {"reason", ec.message()});
}

}  // namespace ssebus::server
