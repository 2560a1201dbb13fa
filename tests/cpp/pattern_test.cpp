#include <catch2/catch.hpp>

#include <string>

#include "ssebus/pattern.hpp"

using ssebus::Pattern;

namespace {
bool match(const char* pattern, const char* name) {
    const auto p = Pattern::parse(pattern);
    REQUIRE(p.has_value());
    return p->matches(name);
}
}  // namespace

TEST_CASE("event names split into segments") {
    SECTION("on colons when the name has one") {
        const auto s = ssebus::split_segments("video:upload:progress");
        REQUIRE(s == ssebus::Segments{"video", "upload", "progress"});
    }
    SECTION("on underscores otherwise") {
        REQUIRE(ssebus::split_segments("video_created") == ssebus::Segments{"video", "created"});
    }
    SECTION("a colon wins over underscores in the same name") {
        REQUIRE(ssebus::split_segments("my_app:video_created") ==
                ssebus::Segments{"my_app", "video_created"});
    }
    SECTION("empty segments are kept") {
        REQUIRE(ssebus::split_segments("a::b") == ssebus::Segments{"a", "", "b"});
    }
}

TEST_CASE("a pattern matches whole segments") {
    SECTION("'*' matches exactly one segment") {
        CHECK(match("video:*", "video:created"));
        CHECK_FALSE(match("video:*", "video:upload:progress"));
        CHECK_FALSE(match("video:*", "video"));
        CHECK_FALSE(match("video:*", "audio:created"));
        CHECK(match("*:created", "video:created"));
        CHECK(match("video:*:progress", "video:upload:progress"));
    }
    SECTION("'**' matches any number of segments") {
        CHECK(match("video:**", "video:created"));
        CHECK(match("video:**", "video:upload:progress"));
        CHECK(match("video:**", "video"));
        CHECK(match("**:progress", "video:upload:progress"));
        CHECK(match("a:**:z", "a:z"));
        CHECK(match("a:**:z", "a:b:c:z"));
        CHECK_FALSE(match("a:**:z", "a:b:c"));
    }
    SECTION("'*' alone matches every event") {
        CHECK(match("*", "video:upload:progress"));
        CHECK(match("*", "x"));
        CHECK(match("*", "video_created"));
    }
    SECTION("colon and underscore separators are interchangeable") {
        CHECK(match("video:*", "video_created"));
        CHECK(match("video_*", "video:created"));
        CHECK_FALSE(match("video_*", "video_upload_progress"));
        CHECK(match("video_**", "video_upload_progress"));
    }
    SECTION("literal segments compare exactly") {
        CHECK_FALSE(match("Video:*", "video:created"));
        CHECK_FALSE(match("vid:*", "video:created"));
    }
    SECTION("many '**' stay fast and correct") {
        CHECK(match("**:**:**:**:**:**:**:**:x", "a:b:c:d:e:f:g:h:i:j:k:l:m:n:o:p:x"));
        CHECK_FALSE(match("**:a:**:a:**:a:**:b", "a:a:a:a:a:a:a:a:a:a:a:a:a:a:a:a:a:a:a:a"));
    }
}

TEST_CASE("a malformed pattern is refused with a reason") {
    std::string error;
    SECTION("a wildcard mixed into a segment") {
        REQUIRE_FALSE(Pattern::parse("video:*x", &error));
        CHECK(error.find("'*x'") != std::string::npos);
        CHECK(error.find("whole segment") != std::string::npos);
    }
    SECTION("three stars") {
        REQUIRE_FALSE(Pattern::parse("video:***", &error));
    }
    SECTION("an empty pattern") {
        REQUIRE_FALSE(Pattern::parse("", &error));
        CHECK(error == "a pattern cannot be empty");
    }
}
