// Fuzzes the server's HTTP request path: Beast's request parser, configured as HttpSession
// configures it, then the real Router over a real App (hub, video store, demo publishers).
//
// The first byte of the input chooses how the rest arrives and how the server is set up:
//   bits 0-1  how the bytes arrive: 0 all at once (Beast still reads them in gulps the size
//             of its buffer), 1 byte by byte, 2 in pieces of 1-16 bytes (derived from the
//             input's hash), 3 cut just after every CR and LF
//   bit 2     a static_dir (a small web root made at start) instead of the built-in page
//   bit 3     "*" on the CORS allow-list, after the listed origins
// The rest is what clients send: requests one after another, pipelined on keep-alive
// connections. It is read as HttpSession reads it (http::read over a flat_buffer, one
// parser per request, the leftover bytes kept for the next one). A request that closes its
// connection or opens a stream ends that connection, and the next bytes are a new one; a
// parse error or the end of the input ends the run. A stream the router opened (its user's
// place already taken by the route) is attached to the hub as SseSession::run does, with a
// recorder in place of the socket. A deferred answer (a publish waits for its commit) must
// have arrived, exactly once, when the router returns: this hub commits at once. The demo's io_context
// is never run, so its timers stay pending and nothing publishes behind the requests' backs.
//
// A webhook with "Mux-Signature: fuzz" is signed here (with the configured secret, now)
// before it reaches the router, so the fuzzer gets past the HMAC to the video store.
//
// Checked, after each request:
//  - Router::handle never throws (on the server an exception there ends the I/O thread);
//  - every response has a valid status and never 5xx (an internal error is a bug); every
//    4xx is a JSON {"error": "<non-empty string>"}; JSON bodies parse; it keeps the
//    connection open exactly when the request asked to; its CORS grant follows the
//    allow-list ("*" never with credentials); a HEAD response has no body, a 204 neither,
//    any other has a Content-Length equal to its body; and it serialises to bytes that
//    Beast parses back to the same status, fields and body, and nothing more;
//  - no response shows the files placed just outside the web root (unless the input itself
//    wrote their marker, which an error message may quote);
//  - a request Beast refuses gets what HttpSession answers: 413 past the body limit, 431
//    past the header limit, 400 otherwise, each a JSON error that closes the connection;
//    a parsed request's body is within the body limit;
//  - a stream only answers GET; its head starts with "HTTP/1.1 200 OK\r\n", has the SSE
//    headers, well-formed header lines, then retry: and a comment; only a GET (a stream)
//    can be refused with 429, and only while an authenticated user holds open streams;
//  - the hub numbers events consecutively from its first id, and its history holds the
//    newest min(published, history_size) of them;
//  - a publish answered 202 {"id", "delivered"} reached exactly `delivered` open streams,
//    one frame each, carrying that id;
//  - every stream's bytes parse (with the core's SSE parser) into one event per frame, with
//    strictly increasing ids (the replayed ones after the requested Last-Event-ID), a gap
//    notice only first, and one line of JSON as data, in the shape of the stream's route.
// And the input read all at once must go through the same steps as read in pieces (but for
// a bad line in a header that never ends: see LLVMFuzzerTestOneInput).
//

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "hub.hpp"
#include "http_util.hpp"
#include "log.hpp"
#include "mux.hpp"
#include "routes.hpp"
#include "ssebus/sse_parser.hpp"


namespace {
using fuzz::hash;
using fuzz::require;
using json = nlohmann::json;
using namespace ssebus::server;
namespace fs = std::filesystem;
namespace sse = ssebus::sse;

constexpr std::string_view publisher_key = "fuzz-publisher-key";
constexpr std::string_view jwt_secret = "fuzz-jwt-secret";
constexpr std::string_view mux_secret = "fuzz-mux-secret";
constexpr std::uint64_t first_id = 1000;
constexpr std::size_t history_size = 4;  // small, so that inputs push events out of it
constexpr std::string_view listed_origin = "http://localhost:5173";
constexpr std::string_view outside_marker = "OUTSIDE-THE-WEB-ROOT";

// A web root with a page, an asset, a directory without index.html and symlinks that point
// out of it (one of them a directory's index.html); next to it a file and a sibling
// directory ("www2", which shares the root's prefix) whose contents no response may show.
struct WebRoot {
    fs::path dir = fs::temp_directory_path() / ("ssebus-http-fuzz-" + std::to_string(::getpid()));
    std::string www = (dir / "www").string();

    WebRoot() {
        auto write = [](const fs::path& p, std::string_view text) {
            fs::create_directories(p.parent_path());
            std::ofstream(p, std::ios::binary) << text;
        };
        write(dir / "www" / "index.html", "<!doctype html><title>ssebus</title>\n");
        write(dir / "www" / "assets" / "app-1f2e3d.js", "console.log('app')\n");
        write(dir / "www" / "docs" / "guide.txt", "the guide\n");
        write(dir / "secret.txt", std::string(outside_marker) + " (a file next to the root)\n");
        write(dir / "www2" / "index.html", std::string(outside_marker) + " (a sibling of the root)\n");
        std::error_code ec;
        fs::create_directory_symlink(dir / "www2", dir / "www" / "sibling", ec);
        fs::create_symlink(dir / "secret.txt", dir / "www" / "secret.txt", ec);
        fs::create_directories(dir / "www" / "linked", ec);
        fs::create_symlink(dir / "secret.txt", dir / "www" / "linked" / "index.html", ec);
    }
    ~WebRoot() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

const WebRoot& web_root() {
    static const WebRoot root;
    return root;
}

struct Mode {
    unsigned cuts;  // 0 all at once, 1 byte by byte, 2 small pieces, 3 after CR and LF
    bool static_dir;
    bool star;
};

Config config_for(const Mode& mode) {
    Config c;  // the server's defaults, body limit included
    c.publisher_key = publisher_key;
    c.jwt_secret = jwt_secret;
    c.mux_secret = mux_secret;
    c.demo = true;
    c.history_size = history_size;
    c.first_id = first_id;
    c.cors_origins = {std::string(listed_origin), "https://app.example"};
    if (mode.star) c.cors_origins.push_back("*");
    if (mode.static_dir) c.static_dir = web_root().www;
    c.quiet = true;
    return c;
}

// The objects Server owns, wired as Server wires them, on an io_context that is never run:
// what the demo schedules stays pending and is destroyed with it.
struct World {
    explicit World(Config c)
        : hub(HubOptions{.history_size = c.history_size, .first_id = c.first_id,
                         .max_streams_per_user = c.max_streams_per_user}),
          generators(ioc.get_executor(), hub),
          pipeline(ioc.get_executor(), hub, videos, c.demo_step),
          uploads(ioc.get_executor(), hub, videos, c.demo_step),
          app{.config = std::move(c), .hub = hub, .videos = videos, .generators = generators,
              .pipeline = pipeline, .uploads = uploads},
          router(app) {}

    net::io_context ioc;
    Hub hub;
    mux::VideoStore videos;
    StreamGenerators generators;
    Pipeline pipeline;
    Uploads uploads;
    App app;
    Router router;
};

// Stands in for an SseSession: keeps what the stream would write.
struct Recorder : Subscriber {
    std::vector<Frame> frames;
    void deliver(const Frame& frame, SteadyTime) override { frames.push_back(frame); }
    void close(const Frame&) override {}
};

struct OpenStream {
    std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
    std::shared_ptr<const Subscription> subscription;
    std::optional<std::uint64_t> last_event_id;
    std::size_t preamble = 0;  // frames before the replay
    std::size_t replayed = 0;  // frames from Hub::attach: a gap notice, the replay or the latest events
    StreamTicket ticket;
};

// Serves the bytes of one connection: each read_some() returns at most up to the next cut,
// then end of file, as a socket would.
class PieceStream {
public:
    PieceStream(std::string_view data, const std::vector<std::size_t>& cuts, std::size_t from)
        : data_(data), cuts_(cuts), pos_(from) {}

    std::size_t pos() const { return pos_; }

    template <class MutableBuffers>
    std::size_t read_some(const MutableBuffers& buffers, error_code& ec) {
        ec = {};
        if (pos_ == data_.size()) {
            ec = net::error::eof;
            return 0;
        }
        const auto next = std::upper_bound(cuts_.begin(), cuts_.end(), pos_);
        const std::size_t end = next == cuts_.end() ? data_.size() : *next;
        const std::size_t n = net::buffer_copy(buffers, net::buffer(data_.data() + pos_, end - pos_));
        pos_ += n;
        return n;
    }
    template <class MutableBuffers>
    std::size_t read_some(const MutableBuffers& buffers) {
        error_code ec;
        const auto n = read_some(buffers, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }

private:
    std::string_view data_;
    const std::vector<std::size_t>& cuts_;
    std::size_t pos_;
};

std::vector<std::size_t> cuts_for(unsigned scheme, std::string_view data) {
    std::vector<std::size_t> cuts;
    if (scheme == 1) {
        for (std::size_t i = 1; i < data.size(); ++i) cuts.push_back(i);
    } else if (scheme == 2) {
        auto h = hash(data);
        for (std::size_t at = 0;; h = h * 6364136223846793005u + 1442695040888963407u) {
            at += 1 + (h >> 33) % 16;
            if (at >= data.size()) break;
            cuts.push_back(at);
        }
    } else if (scheme == 3) {
        for (std::size_t i = 0; i + 1 < data.size(); ++i)
            if (data[i] == '\r' || data[i] == '\n') cuts.push_back(i + 1);
    }
    return cuts;
}

bool is_json_line(std::string_view text, json* out = nullptr) {
    if (text.find_first_of("\r\n") != std::string_view::npos) return false;
    auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return false;
    if (out) *out = std::move(j);
    return true;
}

bool is_decimal(std::string_view s) {
    return !s.empty() && s.size() <= 20 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The CORS grant the allow-list gives `origin`, as (Allow-Origin, Allow-Credentials).
std::pair<std::string, std::string> expected_cors(std::string_view origin, const Config& cfg) {
    if (origin.empty()) return {};
    for (const auto& a : cfg.cors_origins)
        if (a == origin) return {std::string(origin), "true"};
    for (const auto& a : cfg.cors_origins)
        if (a == "*") return {"*", ""};
    return {};
}

// Serialises `res` with Beast and parses it back: the same message, and nothing more.
void check_wire(const Response& res, bool head) {
    std::ostringstream out;
    out << res;
    const std::string wire = std::move(out).str();
    http::response_parser<http::string_body> parser;
    parser.skip(head);
    parser.eager(true);
    parser.body_limit(boost::none);
    error_code ec;
    const auto used = parser.put(net::buffer(wire), ec);
    if (!ec && !parser.is_done()) parser.put_eof(ec);  // a body delimited by the end of the stream
    require(!ec, "a response Beast cannot parse back");
    require(parser.is_done() && used == wire.size(), "a response whose bytes say another length");
    const auto& back = parser.get();
    require(back.result_int() == res.result_int(), "a response parses back with another status");
    require(back.body() == res.body(), "a response parses back with another body");
    auto a = res.begin(), b = back.begin();
    for (; a != res.end() && b != back.end(); ++a, ++b)
        require(a->name_string() == b->name_string() && a->value() == b->value(),
                "a response field does not survive the wire");
    require(a == res.end() && b == back.end(), "a response parses back with other fields");
}

// What every response must be. `req` is the request it answers (a stand-in for a request
// Beast refused).
void check_response(const Request& req, const Response& res, const Config& cfg) {
    const unsigned code = res.result_int();
    require(http::obsolete_reason(res.result()) != "<unknown-status>", "a response with an unknown status");
    require(code >= 200, "an informational status as a final response");
    require(code < 500, "a 5xx response: an internal error");
    const bool head = req.method() == http::verb::head;
    const auto type = res[http::field::content_type];
    if (head || code == 204 || code == 304) {
        require(res.body().empty(), "a response to HEAD, or a 204, carries a body");
    } else {
        require(res.has_content_length(), "a response without Content-Length");
        require(res[http::field::content_length] == std::to_string(res.body().size()),
                "Content-Length differs from the body");
        if (type == "application/json") {
            require(!res.body().empty() && res.body().back() == '\n' &&
                        is_json_line(std::string_view(res.body()).substr(0, res.body().size() - 1)),
                    "a JSON response that is not one line of JSON");
        }
    }
    require(res.find(http::field::transfer_encoding) == res.end(), "a response with Transfer-Encoding");
    if (code >= 400) {
        require(type == "application/json", "an error that is not JSON");
        if (!head) {
            const auto body = json::parse(res.body());
            require(body.is_object() && body.size() == 1 && body.contains("error") && body["error"].is_string() &&
                        !body["error"].get_ref<const std::string&>().empty(),
                    "an error body that is not {\"error\": \"...\"}");
        }
    }
    const auto [allow_origin, credentials] = expected_cors(req[http::field::origin], cfg);
    require(res[http::field::access_control_allow_origin] == allow_origin, "a CORS grant against the allow-list");
    require(res[http::field::access_control_allow_credentials] == credentials,
            "credentials granted to an origin that is not listed");
    check_wire(res, head);
}

// The stream's head: the response header, then retry: and a comment.
void check_head(const Request& req, const std::string& head, const Config& cfg) {
    require(req.method() == http::verb::get, "a stream opened by another method than GET");
    constexpr std::string_view status_line = "HTTP/1.1 200 OK\r\n";
    require(head.rfind(status_line, 0) == 0, "a stream head without \"HTTP/1.1 200 OK\"");
    const auto end = head.find("\r\n\r\n");
    require(end != std::string::npos, "a stream head without its blank line");
    const std::string_view fields = std::string_view(head).substr(status_line.size(), end + 2 - status_line.size());
    std::string allow_origin, credentials;
    bool event_stream = false, no_cache = false, no_buffering = false;
    for (std::size_t at = 0; at < fields.size();) {
        const auto eol = fields.find("\r\n", at);
        const auto line = fields.substr(at, eol - at);
        at = eol + 2;
        require(line.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos,
                "a stray CR, LF or NUL in a stream header");
        const auto colon = line.find(": ");
        require(colon != std::string_view::npos && colon > 0, "a stream header line without a name");
        const auto name = line.substr(0, colon), value = line.substr(colon + 2);
        for (char c : name) require(c > ' ' && c < 127 && c != ':', "a stream header name that is not a token");
        event_stream |= line == "Content-Type: text/event-stream";
        no_cache |= line == "Cache-Control: no-cache";
        no_buffering |= line == "X-Accel-Buffering: no";
        if (name == "Access-Control-Allow-Origin") allow_origin = value;
        if (name == "Access-Control-Allow-Credentials") credentials = value;
    }
    require(event_stream, "a stream without \"Content-Type: text/event-stream\"");
    require(no_cache && no_buffering, "a stream without Cache-Control: no-cache and X-Accel-Buffering: no");
    require(std::pair(allow_origin, credentials) == expected_cors(req[http::field::origin], cfg),
            "a stream's CORS grant against the allow-list");
    sse::Parser parser;
    std::size_t events = 0;
    parser.feed(std::string_view(head).substr(end + 4), [&](const sse::Event&) { ++events; });
    require(events == 0 && parser.retry_ms() == cfg.retry_ms, "a stream that does not open with retry: and a comment");
}

// What one stream has received: its preamble, the replay and the live events.
void check_stream(const OpenStream& s) {
    const auto& frames = s.recorder->frames;
    std::string all;
    std::vector<std::pair<std::string, std::string>> one_by_one;
    std::optional<std::uint64_t> previous;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const std::string& f = *frames[i];
        all += f;
        sse::Parser parser;
        std::string type, data, id;
        const auto n = parser.feed(f, [&](const sse::Event& e) {
            type = e.type;
            data = e.data;
            id = e.id;
        });
        require(n == 1, "a frame that is not exactly one event");
        one_by_one.emplace_back(type, data);
        json body;
        require(is_json_line(data, &body), "event data that is not one line of JSON");
        if (type == "ssebus:gap") {
            require(i == s.preamble && s.last_event_id && id.empty(), "a gap notice that is not first");
            require(body.is_object() && body.value("requested", std::uint64_t{0}) == *s.last_event_id,
                    "a gap notice for another id");
            continue;
        }
        if (i < s.preamble) continue;
        require(is_decimal(id), "an event without a decimal id");
        const auto value = parse_u64(id);
        require(value && *value >= first_id, "an event id below the first id");
        require(!previous || *value > *previous, "event ids not strictly increasing (a duplicate or an old event)");
        // Without a Last-Event-ID, /api/events/stream starts with the latest event of each type.
        if (i < s.preamble + s.replayed && s.last_event_id)
            require(*value > *s.last_event_id, "a replayed event at or before Last-Event-ID");
        previous = value;
        switch (s.subscription->framing) {
            case Framing::named: require(!type.empty(), "an unnamed event on a named stream"); break;
            case Framing::envelope:
                require(type.empty() && body.is_object() && body["type"].is_string() && body.contains("data") &&
                            body["timestamp"].is_string(),
                        "an envelope that is not {type, data, timestamp}");
                break;
            case Framing::stream:
                require(type.empty() && body.is_object() && body["id"] == id && body["type"].is_string() &&
                            body["message"].is_string() && body.contains("data") && body["timestamp"].is_string() &&
                            body["stream_id"].is_string(),
                        "a stream event that is not {id, type, message, data, timestamp, stream_id}");
                break;
        }
    }
    sse::Parser parser;
    std::vector<std::pair<std::string, std::string>> whole;
    parser.feed(all, [&](const sse::Event& e) { whole.emplace_back(std::string(e.type), std::string(e.data)); });
    require(whole == one_by_one, "frames read as one stream differ from the frames one by one");
}

void check_hub(const World& w, std::size_t streams) {
    const auto s = w.hub.stats();
    require(s.active_clients == streams, "the hub counts other streams than were attached");
    require(s.history_size <= history_size, "the history grew past its size");
    require(s.history_size == std::min<std::uint64_t>(s.events_published, history_size),
            "the history does not hold the newest events");
    if (s.events_published == 0) return;
    require(s.last_id == first_id + s.events_published - 1, "event ids are not consecutive from the first id");
    require(s.history_earliest_id == s.last_id - s.history_size + 1, "the history is not the newest events");
}

// A 202 {"id", "delivered"}: the event reached exactly `delivered` streams, once each.
void check_delivery(const Response& res, const std::vector<OpenStream>& streams, const std::vector<std::size_t>& before,
                    const World& w) {
    if (res.result() != http::status::accepted || res.body().empty()) return;
    const auto body = json::parse(res.body());
    if (!body.contains("delivered")) return;
    require(body.contains("id") && body["id"].is_number_unsigned() && body["id"] == w.hub.stats().last_id,
            "a publish answered with another id");
    const std::string id = std::to_string(body["id"].get<std::uint64_t>());
    std::size_t reached = 0;
    for (std::size_t i = 0; i < streams.size(); ++i) {
        const auto& frames = streams[i].recorder->frames;
        if (frames.size() == before[i]) continue;
        require(frames.size() == before[i] + 1, "one publish sent a stream more than one frame");
        require(frames.back()->rfind("id: " + id + "\n", 0) == 0, "a stream received another event than published");
        ++reached;
    }
    require(body["delivered"] == reached, "\"delivered\" differs from the streams the event reached");
}

// The parse error's answer, as HttpSession sends it.
void check_refusal(error_code ec, const Response& res, const Config& cfg) {
    const auto expected = ec == http::error::body_limit     ? 413u
                          : ec == http::error::header_limit ? 431u
                                                            : 400u;
    require(res.result_int() == expected, "a parse error answered with another status");
    require(!res.keep_alive(), "a parse error that keeps the connection");
    Request stand_in;
    stand_in.version(11);
    check_response(stand_in, res, cfg);
}

// Runs the input through one fresh server; returns the steps it took.
std::vector<std::string> run(const Mode& mode, std::string_view data, const std::vector<std::size_t>& cuts) {
    World w(config_for(mode));
    const Config& cfg = w.app.config;
    std::vector<OpenStream> streams;
    std::vector<std::string> steps;
    std::uint64_t responses = 0;  // what the router's counters must have seen
    const bool input_has_marker = data.find(outside_marker) != std::string_view::npos;

    auto after_each = [&] {
        check_hub(w, streams.size());
        require(w.app.responses_2xx + w.app.responses_4xx + w.app.responses_5xx == responses,
                "the response counters missed a response");
    };
    auto finish = [&](std::string last) {
        for (const auto& s : streams) check_stream(s);
        steps.push_back(std::move(last));
        return steps;
    };

    for (std::size_t start = 0; start < data.size();) {  // one connection
        PieceStream in(data, cuts, start);
        beast::flat_buffer buffer;
        for (bool open = true; open;) {
            RequestParser parser;
            limit_request(parser, cfg.body_limit);
            error_code ec;
            http::read(in, buffer, parser, ec);
            const std::size_t next = in.pos() - buffer.size();  // the bytes after this request
            if (ec == http::error::end_of_stream) return finish("end");
            if (auto res = unparsable_request(ec, cfg.body_limit)) {
                check_refusal(ec, *res, cfg);
                w.router.count(res->result());
                ++responses;
                after_each();
                return finish("refused " + std::to_string(res->result_int()));
            }
            if (ec) {
                require(ec == http::error::partial_message, "a read error other than a request cut short");
                return finish("cut short");
            }

            Request req = parser.release();
            require(req.body().size() <= cfg.body_limit, "a body past the body limit was read");
            if (req["Mux-Signature"] == "fuzz") {
                const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch()).count();
                req.set("Mux-Signature", mux::sign_header(mux_secret, req.body(), now));
            }
            std::vector<std::size_t> before;
            for (const auto& s : streams) before.push_back(s.recorder->frames.size());

            std::optional<Outcome> outcome;
            std::optional<Response> answered_later;
            int later_answers = 0;
            try {
                outcome = w.router.handle(req, "192.0.2.1:4242", [&](Response res) {
                    ++later_answers;
                    answered_later = std::move(res);
                });
            } catch (const std::exception& e) {
                std::fprintf(stderr, "Router::handle threw: %s\n", e.what());
                require(false, "Router::handle threw");
            }
            if (std::holds_alternative<Deferred>(*outcome)) {
                require(later_answers == 1, "a deferred request not answered exactly once");
                outcome = std::move(*answered_later);
            } else {
                require(later_answers == 0, "a request answered now and later");
            }

            if (auto* res = std::get_if<Response>(&*outcome)) {
                ++responses;
                check_response(req, *res, cfg);
                require(res->keep_alive() == req.keep_alive(), "a response that changes the request's keep-alive");
                // Only a file outside the root can show the marker, unless the input wrote it.
                require(res->body().find(outside_marker) == std::string::npos || input_has_marker,
                        "a response shows a file outside the web root");
                check_delivery(*res, streams, before, w);
                if (res->result() == http::status::too_many_requests) {
                    require(req.method() == http::verb::get, "a 429 for a request that opens no stream");
                    require(std::any_of(streams.begin(), streams.end(),
                                        [](const OpenStream& s) { return s.subscription->client.authenticated(); }),
                            "a stream refused while no authenticated user holds one");
                }
                steps.push_back(std::to_string(res->result_int()));
                open = res->keep_alive();
            } else {
                auto& opened = std::get<SseStart>(*outcome);
                check_head(req, opened.head, cfg);
                require(opened.subscription != nullptr, "a stream without a subscription");
                for (std::size_t i = 0; i < streams.size(); ++i)
                    require(streams[i].recorder->frames.size() == before[i], "opening a stream delivered events");
                OpenStream s;
                s.subscription = opened.subscription;
                s.last_event_id = opened.last_event_id;
                s.ticket = std::move(opened.ticket);
                s.recorder->frames = opened.preamble;
                s.preamble = opened.preamble.size();
                const auto replay = w.hub.attach(s.recorder, s.subscription, s.last_event_id);
                s.replayed = replay.size();
                s.recorder->frames.insert(s.recorder->frames.end(), replay.begin(), replay.end());
                streams.push_back(std::move(s));
                steps.push_back("stream");
                open = false;  // the stream owns the connection now
            }
            after_each();
            if (!open) start = next;
        }
    }
    return finish("done");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    // The routes log webhooks and refused streams; errors are all the fuzzer needs to see.
    static const bool quiet = (ssebus::server::log::set_level(ssebus::server::log::Level::error), true);
    (void)quiet;
    if (size == 0 || size > 64 * 1024) return 0;
    const Mode mode{.cuts = bytes[0] & 3u, .static_dir = (bytes[0] & 4u) != 0, .star = (bytes[0] & 8u) != 0};
    const std::string_view data(reinterpret_cast<const char*>(bytes) + 1, size - 1);

    const auto steps = run(mode, data, cuts_for(mode.cuts, data));
    if (mode.cuts == 0) return 0;
    auto whole = run(mode, data, {});
    // Beast checks header lines as they arrive until a read ends inside one; from then on it
    // waits for the blank line. So a bad line in a header that never ends is refused (400)
    // or left waiting (cut short) depending on where the reads ended.
    auto unfinished = [](const std::string& last) { return last == "refused 400" || last == "cut short"; };
    if (whole.size() == steps.size() && unfinished(whole.back()) && unfinished(steps.back())) whole.back() = steps.back();
    if (whole != steps) {
        auto print = [](const char* how, const std::vector<std::string>& list) {
            std::fprintf(stderr, "%s", how);
            for (const auto& step : list) std::fprintf(stderr, " [%s]", step.c_str());
            std::fprintf(stderr, "\n");
        };
        print("in pieces:", steps);
        print("whole:    ", whole);
        require(false, "the input read whole takes other steps than in pieces");
    }
    return 0;
}
