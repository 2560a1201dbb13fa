// The server's log: one line per record on stderr, as text for a terminal or as one JSON
// object per line for a log shipper. Both formats carry the same fields.
//
//   SSEBUS_LOG(debug, "stream closed", {"client", id}, {"reason", why}, {"ms", 1234});
//
// The macro checks the level before its arguments are evaluated, so a record whose level is
// off costs one relaxed atomic load and builds no string. Never log a token, a key or a
// secret: fields are written as given.
#pragma once

#include <atomic>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "net.hpp"

namespace ssebus::server::log {

// Most severe first: a level shows its records and those above it.
enum class Level : int { error = 0, warn = 1, info = 2, debug = 3 };
enum class Format { text, json };

std::string_view to_string(Level level) noexcept;
std::optional<Level> parse_level(std::string_view name) noexcept;      // "error|warn|info|debug"
std::optional<Format> parse_format(std::string_view name) noexcept;    // "text|json"

namespace detail {
inline std::atomic<int> threshold{static_cast<int>(Level::info)};
}

void set_level(Level level) noexcept;
Level level() noexcept;
void set_format(Format format) noexcept;
Format format() noexcept;

inline bool enabled(Level level) noexcept {
    return static_cast<int>(level) <= detail::threshold.load(std::memory_order_relaxed);
}

// One field of a record: a key and a string, integer, floating-point or boolean value. It
// only refers to its value, which must outlive the write (a temporary in the same
// statement does).
class Field {
public:
    enum class Kind { string, signed_int, unsigned_int, real, boolean };

    Field(std::string_view key, std::string_view value) noexcept : key_(key), kind_(Kind::string), text_(value) {}
    Field(std::string_view key, const std::string& value) noexcept : Field(key, std::string_view(value)) {}
    Field(std::string_view key, const char* value) noexcept : Field(key, std::string_view(value ? value : "")) {}
    Field(std::string_view key, bool value) noexcept : key_(key), kind_(Kind::boolean), u_(value ? 1 : 0) {}
    template <std::integral T>
        requires(!std::same_as<T, bool> && !std::same_as<T, char>)
    Field(std::string_view key, T value) noexcept : key_(key) {
        if constexpr (std::signed_integral<T>) {
            kind_ = Kind::signed_int;
            i_ = value;
        } else {
            kind_ = Kind::unsigned_int;
            u_ = value;
        }
    }
    Field(std::string_view key, double value) noexcept : key_(key), kind_(Kind::real), d_(value) {}

    std::string_view key() const noexcept { return key_; }
    Kind kind() const noexcept { return kind_; }
    std::string_view text() const noexcept { return text_; }
    std::int64_t signed_value() const noexcept { return i_; }
    std::uint64_t unsigned_value() const noexcept { return u_; }
    double real_value() const noexcept { return d_; }

private:
    std::string_view key_;
    Kind kind_ = Kind::string;
    std::string_view text_;
    std::int64_t i_ = 0;
    std::uint64_t u_ = 0;
    double d_ = 0;
};

// Writes one record if its level is on. Prefer the SSEBUS_LOG macro on hot paths.
void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});
// Writes one record at `info` whatever the level: the listening line, which callers
// (scripts, tests) read to learn the address and port.
void always(std::string_view message, std::initializer_list<Field> fields = {});

// How a text line is made and a JSON line is made, for tests and for the curious.
std::string format_text(Level level, std::string_view message, std::initializer_list<Field> fields);
std::string format_json(Level level, std::string_view message, std::initializer_list<Field> fields);

}  // namespace ssebus::server::log

// SSEBUS_LOG(level, message, fields...): `level` is error, warn, info or debug. Nothing
// after the level is evaluated unless that level is on.
#define SSEBUS_LOG(lvl, ...)                                                                    \
    do {                                                                                        \
        if (::ssebus::server::log::enabled(::ssebus::server::log::Level::lvl))                  \
            ::ssebus::server::log::write(::ssebus::server::log::Level::lvl, SSEBUS_LOG_ARGS_(__VA_ARGS__)); \
    } while (false)
#define SSEBUS_LOG_ARGS_(message, ...) message, { __VA_ARGS__ }

namespace ssebus::server {

// Reports a failed asynchronous step at `warn`, unless it is the expected noise of a
// closing socket.
void fail(error_code ec, std::string_view what);
// True for the errors of a socket that is simply closing (aborted, reset, eof, ...).
bool is_shutdown_noise(const error_code& ec) noexcept;

}  // namespace ssebus::server
