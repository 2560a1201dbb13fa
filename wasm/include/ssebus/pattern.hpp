// Event names, their segments, and the wildcard patterns that select them.
//
// A name is split into segments on ':' when it contains a colon, otherwise on '_':
//   "video:upload:progress" -> video | upload | progress
//   "video_created"         -> video | created
//   "my_app:video_created"  -> my_app | video_created
// A pattern is a name with wildcard segments: '*' matches exactly one segment, '**' any
// number of segments (none included). The pattern "*" alone matches every name.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ssebus {

using Segments = std::vector<std::string_view>;

// The segments of a name; the views point into `name`.
Segments split_segments(std::string_view name);

// True when `key` contains a wildcard and must be parsed as a pattern.
bool has_wildcard(std::string_view key) noexcept;

class Pattern {
public:
    // Parses `text`; on failure returns nullopt and, if `error` is given, says why.
    static std::optional<Pattern> parse(std::string_view text, std::string* error = nullptr);

    bool matches(std::string_view name) const;
    bool matches(const Segments& name_segments) const;

    const std::string& text() const noexcept { return text_; }

private:
    enum class Kind { literal, one, any };
    struct Part {
        Kind kind;
        std::string literal;
    };

    std::string text_;
    std::vector<Part> parts_;
    bool everything_ = false;
};

}  // namespace ssebus
