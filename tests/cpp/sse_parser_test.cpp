#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "ssebus/sse_parser.hpp"

using namespace std::string_literals;
namespace sse = ssebus::sse;

namespace {

struct Received {
    std::string type;
    std::string data;
    std::string id;
    bool operator==(const Received&) const = default;
};
using Events = std::vector<Received>;

// What one run over a whole stream observed, after finish().
struct Outcome {
    Events events;
    std::string last_event_id;
    std::optional<std::uint64_t> retry_ms;
    std::uint64_t dropped = 0;
    bool operator==(const Outcome&) const = default;
};

std::string escaped(std::string_view s) {
    if (s.size() > 200) return "<" + std::to_string(s.size()) + " bytes>";
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c < 0x20 || c >= 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02X", c);
            out += hex;
        } else out += static_cast<char>(c);
    }
    return out + '"';
}

std::ostream& operator<<(std::ostream& os, const Received& e) {
    return os << "{type " << escaped(e.type) << ", data " << escaped(e.data) << ", id "
              << escaped(e.id) << "}";
}

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
    os << "{events [";
    for (const auto& e : o.events) os << e << ' ';
    os << "], last id " << escaped(o.last_event_id) << ", retry ";
    if (o.retry_ms) os << *o.retry_ms; else os << "none";
    return os << ", dropped " << o.dropped << "}";
}

// Collects what a parser dispatches.
struct Collector {
    Events events;
    void operator()(const sse::Event& e) {
        events.push_back({std::string(e.type), std::string(e.data), std::string(e.id)});
    }
};

Outcome run(std::string_view stream, std::size_t chunk, sse::Limits limits, std::string_view seed) {
    sse::Parser parser(limits);
    parser.reset(seed);
    Collector collect;
    std::size_t counted = 0;
    for (std::size_t i = 0; i < stream.size(); i += chunk)
        counted += parser.feed(stream.substr(i, chunk), collect);
    CHECK(counted == collect.events.size());
    parser.finish();
    return {std::move(collect.events), std::string(parser.last_event_id()), parser.retry_ms(),
            parser.dropped()};
}

// Parses a whole stream three times: in one chunk, byte by byte, and in 2-byte chunks.
// All three must agree; returns what they saw.
Outcome parse(std::string_view stream, sse::Limits limits = {}, std::string_view seed = {}) {
    auto whole = run(stream, stream.size() ? stream.size() : 1, limits, seed);
    CHECK(run(stream, 1, limits, seed) == whole);
    CHECK(run(stream, 2, limits, seed) == whole);
    return whole;
}

Events events(std::string_view stream, sse::Limits limits = {}) {
    return parse(stream, limits).events;
}

// One unnamed event with no id.
Events message(std::string data) {
    return {{"", std::move(data), ""}};
}

}  // namespace

TEST_CASE("an event stream is UTF-8 with one optional leading BOM", "[sse_parser]") {
    SECTION("a leading BOM is stripped") {
        CHECK(events("\xEF\xBB\xBF" "data: a\n\n") == message("a"));
    }
    SECTION("a BOM cut across chunks is still stripped") {
        sse::Parser parser;
        Collector collect;
        parser.feed("\xEF", collect);
        parser.feed("\xBB", collect);
        parser.feed("\xBF" "data: a\n\n", collect);
        CHECK(collect.events == message("a"));
    }
    SECTION("only one BOM is stripped: a second one starts the first field name") {
        // The first line is the unknown field "\uFEFFdata"; its blank line dispatches nothing.
        CHECK(events("\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\ndata: b\n\n") == message("b"));
    }
    SECTION("a BOM after the first byte of the stream is not stripped") {
        CHECK(events("data: a\n\n\xEF\xBB\xBF" "data: b\n\n") == message("a"));
        CHECK(events("\n\xEF\xBB\xBF" "data: b\n\n").empty());
    }
    SECTION("bytes that start like a BOM but are not one are kept") {
        // Kept, they make the field name "\xEF\xBB" "data", which is unknown.
        CHECK(events("\xEF\xBB" "data: a\n\n").empty());
        CHECK(events("\xEF" "data: a\n\n").empty());
        CHECK(events("\xEF\xBB\n" "data: a\n\n") == message("a"));
    }
    SECTION("a BOM inside a value is data") {
        CHECK(events("data: \xEF\xBB\xBFx\n\n") == message("\xEF\xBB\xBFx"));
    }
    SECTION("bytes pass through undecoded, malformed UTF-8 included") {
        CHECK(events("data: caf\xC3\xA9 \xFF\xFE\xC3\n\n") == message("caf\xC3\xA9 \xFF\xFE\xC3"));
    }
}

TEST_CASE("lines end with CR, LF or CRLF", "[sse_parser]") {
    SECTION("LF") {
        CHECK(events("data: a\ndata: b\n\n") == message("a\nb"));
    }
    SECTION("CR") {
        CHECK(events("data: a\rdata: b\r\r") == message("a\nb"));
    }
    SECTION("CRLF") {
        CHECK(events("data: a\r\ndata: b\r\n\r\n") == message("a\nb"));
    }
    SECTION("mixed in one stream") {
        CHECK(events("data: a\rdata: b\ndata: c\r\n\n") == message("a\nb\nc"));
    }
    SECTION("CR CR is two line ends, the second a blank line") {
        CHECK(events("data: a\r\rdata: b\n\n") == Events{{"", "a", ""}, {"", "b", ""}});
    }
    SECTION("LF CR is two line ends") {
        CHECK(events("data: a\n\rdata: b\n\n") == Events{{"", "a", ""}, {"", "b", ""}});
    }
    SECTION("a CRLF cut between its CR and its LF is one line end") {
        sse::Parser parser;
        Collector collect;
        CHECK(parser.feed("data: a\r", collect) == 0);
        CHECK(parser.feed("\ndata: b\r", collect) == 0);
        CHECK(parser.feed("\n", collect) == 0);
        CHECK(parser.feed("\r", collect) == 1);
        CHECK(parser.feed("\n", collect) == 0);
        CHECK(collect.events == message("a\nb"));
    }
    SECTION("a CR ending a chunk ends its line even when no LF follows") {
        sse::Parser parser;
        Collector collect;
        parser.feed("data: a\r", collect);
        parser.feed("data: b\r", collect);
        parser.feed("", collect);
        parser.feed("\r", collect);
        CHECK(collect.events == message("a\nb"));
    }
}

TEST_CASE("each line is a comment, a field with a value, or a field alone", "[sse_parser]") {
    SECTION("a line starting with a colon is a comment") {
        CHECK(events(": hello\ndata: a\n:\n: data: b\n\n") == message("a"));
    }
    SECTION("a stream of comments dispatches nothing") {
        CHECK(events(":\n\n: keep-alive\n\n").empty());
    }
    SECTION("a line without a colon is a field named by the whole line, with an empty value") {
        CHECK(events("data\n\n") == message(""));
        CHECK(events("event\ndata: a\n\n") == message("a"));
    }
    SECTION("one space after the colon is stripped, and only one") {
        CHECK(events("data:a\n\n") == message("a"));
        CHECK(events("data: a\n\n") == message("a"));
        CHECK(events("data:  a\n\n") == message(" a"));
        CHECK(events("data: a \n\n") == message("a "));
        CHECK(events("data:\ta\n\n") == message("\ta"));
    }
    SECTION("the first colon separates name and value; later ones are value") {
        CHECK(events("data: a:b\n\n") == message("a:b"));
        CHECK(events("data::\n\n") == message(":"));
    }
    SECTION("field names are case-sensitive") {
        CHECK(events("Data: a\nDATA: b\n\n").empty());
        CHECK(events("Event: x\ndata: a\n\n") == message("a"));
    }
    SECTION("a name with a space before the colon is another field") {
        CHECK(events("data : a\n\n").empty());
        CHECK(events(" data: a\n\n").empty());
    }
    SECTION("unknown fields are ignored") {
        CHECK(events("foo: bar\ndata: a\nx\n\n") == message("a"));
    }
    SECTION("the web-platform-tests field-parsing stream") {
        const auto stream =
            "data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\r"
            "data:\r\n data:32\ndata:4\n\n"s;
        CHECK(events(stream) == message("\0\n 2\n1\n3\n\n4"s));
    }
}

TEST_CASE("data lines make the event's data", "[sse_parser]") {
    SECTION("several data lines are joined by LF") {
        CHECK(events("data: a\ndata: b\ndata: c\n\n") == message("a\nb\nc"));
    }
    SECTION("data with no value is an empty line") {
        CHECK(events("data\n\n") == message(""));
        CHECK(events("data:\n\n") == message(""));
        CHECK(events("data\ndata\n\n") == message("\n"));
        CHECK(events("data: a\ndata\n\n") == message("a\n"));
    }
    SECTION("an event without data dispatches nothing") {
        CHECK(events("event: x\nid: 1\n\n").empty());
        CHECK(events("\n\n\n").empty());
    }
    SECTION("NUL in data is kept") {
        CHECK(events("data: a\0b\n\n"s) == message("a\0b"s));
    }
}

TEST_CASE("the event type", "[sse_parser]") {
    SECTION("event sets the type") {
        CHECK(events("event: video:created\ndata: {}\n\n") == Events{{"video:created", "{}", ""}});
    }
    SECTION("the last event line wins") {
        CHECK(events("event: a\nevent: b\ndata\n\n") == Events{{"b", "", ""}});
    }
    SECTION("an empty type is a message") {
        CHECK(events("event: x\nevent\ndata: a\n\n") == message("a"));
        CHECK(events("event:\ndata: a\n\n") == message("a"));
    }
    SECTION("the type is reset after each dispatch") {
        CHECK(events("event: x\ndata: a\n\ndata: b\n\n") == Events{{"x", "a", ""}, {"", "b", ""}});
    }
    SECTION("the type is reset by a blank line that dispatches nothing") {
        CHECK(events("event: x\n\ndata: a\n\n") == message("a"));
    }
}

TEST_CASE("the last event ID", "[sse_parser]") {
    SECTION("id sets the ID of its event and of the events after it") {
        const auto o = parse("id: 1\ndata: a\n\ndata: b\n\n");
        CHECK(o.events == Events{{"", "a", "1"}, {"", "b", "1"}});
        CHECK(o.last_event_id == "1");
    }
    SECTION("id may come after the data") {
        CHECK(events("data: a\nid: 7\n\n") == Events{{"", "a", "7"}});
    }
    SECTION("an empty id resets it") {
        CHECK(events("id: 1\ndata: a\n\nid\ndata: b\n\nid: 2\n\nid:\ndata: c\n\n") ==
              Events{{"", "a", "1"}, {"", "b", ""}, {"", "c", ""}});
    }
    SECTION("an id containing NUL is ignored") {
        const auto o = parse("id: 1\ndata: a\n\nid: 2\0" "3\ndata: b\n\n"s);
        CHECK(o.events == Events{{"", "a", "1"}, {"", "b", "1"}});
        CHECK(o.last_event_id == "1");
    }
    SECTION("the last event ID changes at a blank line, even one that dispatches nothing") {
        sse::Parser parser;
        Collector collect;
        parser.feed("id: 5\n", collect);
        CHECK(parser.last_event_id() == "");
        parser.feed("\n", collect);
        CHECK(parser.last_event_id() == "5");
        CHECK(collect.events.empty());
        parser.feed("data: a\n\n", collect);
        CHECK(collect.events == Events{{"", "a", "5"}});
    }
    SECTION("ids are opaque strings") {
        CHECK(events("id:  x y \ndata\n\n") == Events{{"", "", " x y "}});
    }
}

TEST_CASE("retry sets the reconnection time", "[sse_parser]") {
    SECTION("there is none until the stream sends one") {
        CHECK_FALSE(parse("data: a\n\n").retry_ms);
    }
    SECTION("ASCII digits set it at once, without a blank line or an event") {
        const auto o = parse("retry: 3000\n");
        CHECK(o.retry_ms == 3000u);
        CHECK(o.events.empty());
    }
    SECTION("the latest valid value wins") {
        CHECK(parse("retry: 1\nretry: 2\n").retry_ms == 2u);
    }
    SECTION("leading zeros and zero itself are digits") {
        CHECK(parse("retry: 0007\n").retry_ms == 7u);
        CHECK(parse("retry: 0\n").retry_ms == 0u);
    }
    SECTION("anything but ASCII digits is ignored") {
        const auto o = parse(
            "retry: 1000\nretry: 12a\nretry: -1\nretry: +5\nretry:  5\nretry: 5 \n"
            "retry: 1.5\nretry: 1e3\nretry: \nretry\nretry: \xD9\xA3\n");
        CHECK(o.retry_ms == 1000u);
    }
    SECTION("a value past 64 bits is ignored") {
        CHECK(parse("retry: 18446744073709551615\n").retry_ms == 18446744073709551615u);
        CHECK(parse("retry: 1000\nretry: 18446744073709551616\n").retry_ms == 1000u);
        CHECK(parse("retry: 1000\nretry: 99999999999999999999999\n").retry_ms == 1000u);
        CHECK(parse("retry: 000000000000000000000000000000042\n").retry_ms == 42u);
    }
    SECTION("retry in an event that never ends still counts; a line never ended does not") {
        CHECK(parse("retry: 5\ndata: a\n").retry_ms == 5u);
        CHECK_FALSE(parse("retry: 5").retry_ms);
    }
}

TEST_CASE("the end of the stream", "[sse_parser]") {
    SECTION("an event without its blank line is dropped") {
        CHECK(events("data: a\n\ndata: b\n") == message("a"));
        CHECK(events("data: a\n\ndata: b") == message("a"));
        CHECK(events("data: a\n\ndata: b\r") == message("a"));
    }
    SECTION("and so is the id it set") {
        const auto o = parse("id: 1\ndata: a\n\nid: 2\ndata: b\n");
        CHECK(o.events == Events{{"", "a", "1"}});
        CHECK(o.last_event_id == "1");
    }
    SECTION("finish() readies the parser for a new stream from the same last event ID") {
        sse::Parser parser;
        Collector collect;
        parser.feed("id: 1\ndata: a\n\nid: 2\nevent: x\ndata: b\r", collect);
        parser.finish();
        CHECK(parser.last_event_id() == "1");
        parser.feed("\xEF\xBB\xBF" "data: c\n\n", collect);
        CHECK(collect.events == Events{{"", "a", "1"}, {"", "c", "1"}});
    }
}

TEST_CASE("reset() starts a new connection", "[sse_parser]") {
    SECTION("the given ID is the last event ID until the stream sets another") {
        const auto o = parse("data: a\n\nid: 9\ndata: b\n\n", {}, "42");
        CHECK(o.events == Events{{"", "a", "42"}, {"", "b", "9"}});
        CHECK(o.last_event_id == "9");
        CHECK(parse("", {}, "42").last_event_id == "42");
    }
    SECTION("the stream can clear the given ID") {
        CHECK(parse("id\ndata: a\n\n", {}, "42").events == message("a"));
    }
    SECTION("a partial line and the data, type and ID buffers of the old stream are gone") {
        sse::Parser parser;
        Collector collect;
        parser.feed("event: x\nid: 3\ndata: a\ndata: part", collect);
        parser.reset("7");
        parser.feed("ial\n\ndata: b\n\n", collect);
        CHECK(collect.events == Events{{"", "b", "7"}});
    }
    SECTION("a comment or an over-long line cut by the old stream's end does not reach into the new one") {
        sse::Parser parser({.max_event_bytes = 16});
        Collector collect;
        parser.feed(": a comment cut sh", collect);
        parser.reset("");
        parser.feed("data: a\n\n", collect);
        parser.feed("data: a line over the limit, cut sh", collect);
        parser.finish();
        parser.feed("data: b\n\n", collect);
        CHECK(collect.events == Events{{"", "a", ""}, {"", "b", ""}});
        CHECK(parser.dropped() == 1);
    }
    SECTION("a new stream may start with a BOM again") {
        sse::Parser parser;
        Collector collect;
        parser.feed("\xEF\xBB\xBF" "data: a\n\n", collect);
        parser.reset("");
        parser.feed("\xEF\xBB", collect);
        parser.feed("\xBF" "data: b\n\n", collect);
        CHECK(collect.events == Events{{"", "a", ""}, {"", "b", ""}});
    }
    SECTION("the reconnection time and the dropped count belong to the source, and stay") {
        sse::Parser parser({.max_event_bytes = 12});
        Collector collect;
        parser.feed("retry: 250\ndata: 0123456789\n\n", collect);
        parser.reset("");
        CHECK(parser.retry_ms() == 250u);
        CHECK(parser.dropped() == 1);
    }
}

TEST_CASE("events are bounded in size", "[sse_parser]") {
    const sse::Limits limits{.max_event_bytes = 32};
    const std::string ten = "0123456789";
    const std::string line = "data: " + ten + "\n";

    SECTION("data up to the limit is delivered") {
        const auto o = parse(line + line + line + "\n", limits);  // 10 + 1 + 10 + 1 + 10 bytes
        CHECK(o.events == message(ten + "\n" + ten + "\n" + ten));
        CHECK(o.dropped == 0);
    }
    SECTION("an event whose data goes past it is dropped and counted, and parsing goes on") {
        const auto o = parse(line + line + line + line + "\n" + "data: next\n\n", limits);
        CHECK(o.events == message("next"));
        CHECK(o.dropped == 1);
    }
    SECTION("a line longer than the limit drops its event") {
        const auto o = parse("event: x\ndata: " + std::string(40, 'x') + "\n\ndata: next\n\n", limits);
        CHECK(o.events == message("next"));
        CHECK(o.dropped == 1);
    }
    SECTION("the rest of a dropped event is ignored, and it is counted once") {
        const auto big = "data: " + std::string(40, 'x') + "\n";
        const auto o = parse(big + "data: small\nevent: x\n" + big + "\ndata: next\n\n", limits);
        CHECK(o.events == message("next"));
        CHECK(o.dropped == 1);
    }
    SECTION("a dropped event's id still becomes the last event ID, so a reconnect skips it") {
        const auto o = parse("id: 7\n" + line + line + line + line + "id: 8\n\n", limits);
        CHECK(o.events.empty());
        CHECK(o.last_event_id == "8");
        CHECK(parse("data: a\n\nid: 9\ndata: " + std::string(40, 'x') + "\n\ndata: b\n\n", limits)
                  .events == Events{{"", "a", ""}, {"", "b", "9"}});
    }
    SECTION("comments of any length are skipped, not limited") {
        const auto o = parse(":" + std::string(1000, 'c') + "\ndata: a\n\n", limits);
        CHECK(o.events == message("a"));
        CHECK(o.dropped == 0);
    }
    SECTION("an over-long event cut by the end of the stream is counted too") {
        CHECK(parse("data: " + std::string(40, 'x'), limits).dropped == 1);
    }
}

TEST_CASE("large events", "[sse_parser]") {
    SECTION("a 5 MB event on one data line") {
        const std::string data(5 * 1024 * 1024, 'x');
        const auto o = parse("event: big\ndata: " + data + "\n\ndata: after\n\n");
        REQUIRE(o.events.size() == 2);
        CHECK(o.events[0].type == "big");
        CHECK(o.events[0].data == data);
        CHECK(o.events[1] == Received{"", "after", ""});
        CHECK(o.dropped == 0);
    }
    SECTION("a 5 MB event over many data lines") {
        std::string stream, data;
        const std::string chunk(1023, 'y');
        for (int i = 0; i < 5 * 1024; ++i) {
            stream += "data: " + chunk + "\r\n";
            data += chunk + "\n";
        }
        data.pop_back();
        const auto o = parse(stream + "\r\n");
        REQUIRE(o.events.size() == 1);
        CHECK(o.events[0].data == data);
    }
}

TEST_CASE("feed() counts the events its bytes completed", "[sse_parser]") {
    sse::Parser parser;
    Collector collect;
    CHECK(parser.feed("data: a\n\ndata: b\n\ndata: c", collect) == 2);
    CHECK(parser.feed("", collect) == 0);
    CHECK(parser.feed("\n\n", collect) == 1);
    CHECK(collect.events == Events{{"", "a", ""}, {"", "b", ""}, {"", "c", ""}});
}
