#include <catch2/catch.hpp>

#include "ssebus/sse_writer.hpp"

namespace sse = ssebus::sse;

TEST_CASE("an event frame carries id, name, retry and data lines") {
    SECTION("all fields, in the order clients expect") {
        CHECK(sse::frame({.id = "42", .name = "video:created", .data = R"({"videoId":"v1"})"}) ==
              "id: 42\nevent: video:created\ndata: {\"videoId\":\"v1\"}\n\n");
    }
    SECTION("an unnamed event has no event line") {
        CHECK(sse::frame({.data = "x"}) == "data: x\n\n");
    }
    SECTION("a per-event retry") {
        CHECK(sse::frame({.id = "1", .name = "e", .data = "d", .retry_ms = 2500}) ==
              "id: 1\nevent: e\nretry: 2500\ndata: d\n\n");
    }
    SECTION("CR, LF and CRLF in data each start a new data line") {
        CHECK(sse::frame({.data = "a\nb\r\nc\rd"}) == "data: a\ndata: b\ndata: c\ndata: d\n\n");
        CHECK(sse::frame({.data = "a\n"}) == "data: a\ndata: \n\n");
    }
    SECTION("empty data still makes one data line, so the event dispatches") {
        CHECK(sse::frame({.name = "ping"}) == "event: ping\ndata: \n\n");
    }
    SECTION("line breaks cannot escape the id or event field") {
        CHECK(sse::frame({.id = "1\n2", .name = "a\r\nb", .data = "d"}) == "id: 12\nevent: ab\ndata: d\n\n");
    }
}

TEST_CASE("comments and retry frames") {
    CHECK(sse::comment("heartbeat") == ": heartbeat\n\n");
    CHECK(sse::comment("a\nb") == ": ab\n\n");
    CHECK(sse::retry(3000) == "retry: 3000\n\n");
}

TEST_CASE("event names that can travel") {
    CHECK(sse::valid_event_name("video:created"));
    CHECK_FALSE(sse::valid_event_name(""));
    CHECK_FALSE(sse::valid_event_name("a\nb"));
    CHECK_FALSE(sse::valid_event_name(std::string_view("a\0b", 3)));
}
