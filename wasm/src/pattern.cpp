#include "ssebus/pattern.hpp"

namespace ssebus {

Segments split_segments(std::string_view name) {
    const char sep = name.find(':') != std::string_view::npos ? ':' : '_';
    Segments out;
    std::size_t start = 0;
    for (;;) {
        const auto end = name.find(sep, start);
        if (end == std::string_view::npos) {
            out.push_back(name.substr(start));
            return out;
        }
        out.push_back(name.substr(start, end - start));
        start = end + 1;
    }
}

bool has_wildcard(std::string_view key) noexcept {
    return key.find('*') != std::string_view::npos;
}

std::optional<Pattern> Pattern::parse(std::string_view text, std::string* error) {
    auto fail = [&](std::string why) -> std::optional<Pattern> {
        if (error) *error = std::move(why);
        return std::nullopt;
    };
    if (text.empty()) return fail("a pattern cannot be empty");

    Pattern p;
    p.text_ = std::string(text);
    if (text == "*") {
        p.everything_ = true;
        return p;
    }
    for (auto seg : split_segments(text)) {
        if (seg == "*") {
            p.parts_.push_back({Kind::one, {}});
        } else if (seg == "**") {
            // Two '**' in a row mean the same as one; keep the matcher linear.
            if (p.parts_.empty() || p.parts_.back().kind != Kind::any)
                p.parts_.push_back({Kind::any, {}});
        } else if (has_wildcard(seg)) {
            return fail("segment '" + std::string(seg) + "' mixes '*' with other characters; " +
                        "a wildcard must be a whole segment ('*' or '**'), as in 'video:*'");
        } else {
            p.parts_.push_back({Kind::literal, std::string(seg)});
        }
    }
    return p;
}

bool Pattern::matches(std::string_view name) const {
    if (everything_) return true;
    return matches(split_segments(name));
}

// Glob matching over segments: '*' is a single-segment wildcard, '**' a run of any length.
// One backtrack point (the last '**') keeps it O(parts * segments) for any input.
bool Pattern::matches(const Segments& name) const {
    if (everything_) return true;
    std::size_t p = 0, s = 0;
    std::size_t star_p = std::string::npos, star_s = 0;
    while (s < name.size()) {
        if (p < parts_.size() && parts_[p].kind == Kind::any) {
            star_p = p++;
            star_s = s;
        } else if (p < parts_.size() &&
                   (parts_[p].kind == Kind::one || parts_[p].literal == name[s])) {
            ++p;
            ++s;
        } else if (star_p != std::string::npos) {
            p = star_p + 1;
            s = ++star_s;
        } else {
            return false;
        }
    }
    while (p < parts_.size() && parts_[p].kind == Kind::any) ++p;
    return p == parts_.size();
}

}  // namespace ssebus
