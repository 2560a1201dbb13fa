// Test support for the server: an in-process server on port 0, and small Beast clients.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "jwt.hpp"
#include "server.hpp"

namespace test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

inline const std::string publisher_key = "test-publisher-key";
inline const std::string jwt_secret = "test-jwt-secret";
inline const std::string mux_secret = "test-mux-secret";

inline ssebus::server::Config test_config() {
    ssebus::server::Config c;
    c.address = "127.0.0.1";
    c.port = 0;
    c.quiet = true;
    c.publisher_key = publisher_key;
    c.jwt_secret = jwt_secret;
    c.mux_secret = mux_secret;
    c.threads = 2;
    c.demo_step = 5ms;
    return c;
}

// An HS256 client token for `user` and `session`, signed with the test server's JWT secret
// unless another secret is given.
inline std::string client_token(const std::string& user, const std::string& session,
                                const std::string& secret = jwt_secret) {
    return ssebus::server::sign_jwt(secret, ssebus::server::Identity{user, session}, std::chrono::hours(1));
}

// Raises the soft limit on open files to at least `wanted` (at most the hard limit) and
// returns the soft limit in force.
inline rlim_t raise_open_files_limit(rlim_t wanted) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
    if (lim.rlim_cur < wanted) {
        lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, lim.rlim_max);
        ::setrlimit(RLIMIT_NOFILE, &lim);
        ::getrlimit(RLIMIT_NOFILE, &lim);
    }
    return lim.rlim_cur;
}

// A server started in-process on a free port and stopped by the destructor.
struct TestServer {
    explicit TestServer(ssebus::server::Config c = test_config()) : server(std::move(c)) { server.start(); }
    ssebus::server::Server server;
    unsigned short port() const { return server.port(); }
};

struct Reply {
    unsigned status = 0;
    std::map<std::string, std::string> headers;
    std::string body;
    nlohmann::json json() const { return nlohmann::json::parse(body); }
    std::string header(const std::string& name) const {
        const auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

// Runs `ioc` until the one operation started on it completes, and throws its error. The
// operations are asynchronous so that a tcp_stream's deadline applies to them.
inline void complete(net::io_context& ioc, const beast::error_code& ec, const char* what) {
    ioc.restart();
    ioc.run();
    if (ec) throw beast::system_error(ec, what);
}

// One HTTP request on a new connection; a header given with an empty value is left out
// ("Content-Type", "": a body without one). Throws if the whole response has not arrived
// within 10 s (for instance when the server answered with a stream).
inline Reply request(unsigned short port, http::verb method, const std::string& target, const std::string& body = {},
                     const std::map<std::string, std::string>& headers = {}) {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    beast::error_code ec;
    stream.expires_after(10s);
    stream.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), [&](beast::error_code e) { ec = e; });
    complete(ioc, ec, "connect");
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    // A body is JSON unless the headers say otherwise.
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : headers) {
        if (v.empty()) req.erase(k);
        else req.set(k, v);
    }
    req.body() = body;
    req.prepare_payload();
    http::async_write(stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
    complete(ioc, ec, "write");
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) { ec = e; });
    complete(ioc, ec, "read");
    Reply r;
    auto res = parser.release();
    r.status = res.result_int();
    for (const auto& f : res) r.headers[std::string(f.name_string())] = std::string(f.value());
    r.body = res.body();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return r;
}

inline Reply get(unsigned short port, const std::string& target, const std::map<std::string, std::string>& headers = {}) {
    return request(port, http::verb::get, target, {}, headers);
}

inline Reply publish(unsigned short port, const nlohmann::json& body, const std::string& key = publisher_key,
                     const std::string& target = "/api/events") {
    return request(port, http::verb::post, target, body.dump(), {{"Authorization", "Bearer " + key}});
}

struct SseEvent {
    std::string id;
    std::string name;  // "message" when the frame had no event line
    std::string data;
    bool has_id = false;
    nlohmann::json json() const { return nlohmann::json::parse(data); }
};

// A Server-Sent Events client on a raw socket, with a deliberately simple frame reader
// (the bridge has the full parser). It reads on a thread of its own.
class SseClient {
public:
    SseClient(unsigned short port, const std::string& target, const std::map<std::string, std::string>& headers = {})
        : socket_(ioc_), timer_(ioc_) {
        socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
        std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
        for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
        req += "\r\n";
        net::write(socket_, net::buffer(req));
        // Read the response head, within 10 s.
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        std::size_t end;
        while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left <= 0ms || !read_some(left)) throw std::runtime_error("no response head for GET " + target);
        }
        head_ = raw_.substr(0, end + 4);
        buf_.consume(end + 4);
        raw_.erase(0, end + 4);
        status_ = std::stoi(head_.substr(9, 3));
    }
    ~SseClient() { close(); }

    int status() const { return status_; }
    const std::string& head() const { return head_; }
    std::string header(const std::string& name) const {
        auto pos = head_.find("\r\n" + name + ": ");
        if (pos == std::string::npos) return {};
        pos += name.size() + 4;
        return head_.substr(pos, head_.find("\r\n", pos) - pos);
    }

    // The next event (comments and retry lines are skipped), or nullopt after `timeout`
    // or when the server closed the stream.
    std::optional<SseEvent> next(std::chrono::milliseconds timeout = 5000ms) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (auto e = take_frame()) return e;
            if (closed_) return std::nullopt;
            const auto left = deadline - std::chrono::steady_clock::now();
            if (left <= 0ms) return std::nullopt;
            if (!read_some(std::chrono::duration_cast<std::chrono::milliseconds>(left))) return std::nullopt;
        }
    }

    // Reads everything for `how_long` and returns the events seen.
    std::vector<SseEvent> drain(std::chrono::milliseconds how_long) {
        std::vector<SseEvent> out;
        const auto until = std::chrono::steady_clock::now() + how_long;
        while (std::chrono::steady_clock::now() < until) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            if (auto e = next(std::max(left, 1ms))) out.push_back(*e);
            else if (closed_) break;
        }
        return out;
    }

    // True once the server has closed the connection (waits up to `timeout`).
    bool closed_by_server(std::chrono::milliseconds timeout = 5000ms) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!closed_ && std::chrono::steady_clock::now() < deadline) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            read_some(std::max(left, 1ms));
        }
        return closed_;
    }

    // Every comment line seen so far (": heartbeat" -> "heartbeat").
    const std::vector<std::string>& comments() const { return comments_; }
    std::optional<int> retry() const { return retry_; }
    const std::string& raw() const { return raw_; }

    void close() {
        beast::error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

private:
    // One read, given up after `timeout` without losing the stream.
    bool read_some(std::chrono::milliseconds timeout) {
        beast::error_code result;
        std::size_t n = 0;
        bool timed_out = false;
        timer_.expires_after(timeout);
        timer_.async_wait([&](beast::error_code ec) {
            if (!ec) {
                timed_out = true;
                socket_.cancel();
            }
        });
        socket_.async_read_some(buf_.prepare(64 * 1024), [&](beast::error_code ec, std::size_t bytes) {
            result = ec;
            n = bytes;
            timer_.cancel();
        });
        ioc_.restart();
        ioc_.run();
        if (timed_out && n == 0) return false;
        if (result && n == 0) {
            closed_ = true;
            return false;
        }
        buf_.commit(n);
        raw_.append(static_cast<const char*>(buf_.data().data()) + buf_.size() - n, n);
        return true;
    }

    std::optional<SseEvent> take_frame() {
        for (;;) {
            const std::string_view pending(static_cast<const char*>(buf_.data().data()), buf_.size());
            const auto end = pending.find("\n\n");
            if (end == std::string_view::npos) return std::nullopt;
            const std::string block(pending.substr(0, end));
            buf_.consume(end + 2);
            SseEvent e;
            bool any = false;
            std::size_t pos = 0;
            while (pos <= block.size()) {
                auto eol = block.find('\n', pos);
                if (eol == std::string::npos) eol = block.size();
                const std::string line = block.substr(pos, eol - pos);
                pos = eol + 1;
                if (line.empty()) continue;
                if (line[0] == ':') {
                    comments_.push_back(line.size() > 2 ? line.substr(2) : "");
                    continue;
                }
                const auto colon = line.find(':');
                const std::string field = line.substr(0, colon);
                std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
                if (!value.empty() && value[0] == ' ') value.erase(0, 1);
                if (field == "data") {
                    e.data += (any ? "\n" : "") + value;
                    any = true;
                } else if (field == "event") {
                    e.name = value;
                } else if (field == "id") {
                    e.id = value;
                    e.has_id = true;
                } else if (field == "retry") {
                    retry_ = std::stoi(value);
                }
            }
            if (!any) continue;
            if (e.name.empty()) e.name = "message";
            return e;
        }
    }

    net::io_context ioc_;
    tcp::socket socket_;
    net::steady_timer timer_;
    net::streambuf buf_;
    std::string head_;
    std::string raw_;
    int status_ = 0;
    bool closed_ = false;
    std::vector<std::string> comments_;
    std::optional<int> retry_;
};

// Many GET requests at once, each on its own connection, driven by one io_context: each
// reads its response head, and the body too unless the response is a 200 stream. Every
// connection stays open until close() (or the destructor), so a test can hold thousands.
class Crowd {
public:
    struct Member {
        explicit Member(net::io_context& ioc) : stream(ioc) {}
        beast::tcp_stream stream;
        http::request<http::empty_body> req;
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        beast::error_code error;
        unsigned status = 0;  // 0: no answer (see error)
        std::string content_type;
        std::string body;  // for a response that is not a stream
        bool done = false;
    };

    Crowd(unsigned short port, const std::string& target, std::size_t n) : port_(port) {
        members_.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            auto m = std::make_unique<Member>(ioc_);
            m->req = {http::verb::get, target, 11};
            m->req.set(http::field::host, "127.0.0.1");
            m->req.set(http::field::accept, "text/event-stream");
            members_.push_back(std::move(m));
        }
    }
    ~Crowd() { close(); }

    // Sends every request at once and returns when each has its answer (or after `timeout`).
    void run(std::chrono::milliseconds timeout) {
        const tcp::endpoint server(net::ip::make_address("127.0.0.1"), port_);
        for (auto& m : members_) start(*m, server);
        ioc_.run_for(timeout);
    }

    std::size_t answered() const { return count([](const Member& m) { return m.done; }); }
    std::size_t with_status(unsigned status) const {
        return count([status](const Member& m) { return m.done && m.status == status; });
    }
    const std::vector<std::unique_ptr<Member>>& members() const { return members_; }

    void close() {
        for (auto& m : members_) {
            beast::error_code ignored;
            m->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
            m->stream.socket().close(ignored);
        }
    }

private:
    static void start(Member& m, const tcp::endpoint& server) {
        m.stream.async_connect(server, [&m](beast::error_code ec) {
            if (ec) return finish(m, ec);
            http::async_write(m.stream, m.req, [&m](beast::error_code ec, std::size_t) {
                if (ec) return finish(m, ec);
                http::async_read_header(m.stream, m.buffer, m.parser, [&m](beast::error_code ec, std::size_t) {
                    if (ec) return finish(m, ec);
                    m.status = m.parser.get().result_int();
                    m.content_type = std::string(m.parser.get()[http::field::content_type]);
                    if (m.status == 200) return finish(m, {});  // a stream: keep it open, unread
                    http::async_read(m.stream, m.buffer, m.parser, [&m](beast::error_code ec, std::size_t) {
                        m.body = m.parser.get().body();
                        finish(m, ec);
                    });
                });
            });
        });
    }
    static void finish(Member& m, beast::error_code ec) {
        m.error = ec;
        m.done = !ec;
    }
    template <typename Pred>
    std::size_t count(Pred pred) const {
        return static_cast<std::size_t>(
            std::count_if(members_.begin(), members_.end(), [&](const auto& m) { return pred(*m); }));
    }

    unsigned short port_;
    net::io_context ioc_;
    std::vector<std::unique_ptr<Member>> members_;
};

// Waits until `pred` holds (polling), up to `timeout`.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

}  // namespace test

#include <cstdlib>
#include <filesystem>

namespace test {

// A fresh directory under the system's temporary directory, removed with what it holds
// by the destructor: a data directory for one test.
struct TempDir {
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "ssebus-test-XXXXXX").string();
        if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
        path = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::filesystem::path path;
};

}  // namespace test
