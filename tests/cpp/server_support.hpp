// Test support for the server: an in-process server on port 0, and small Beast clients.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

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

// One HTTP request on a new connection.
inline Reply request(unsigned short port, http::verb method, const std::string& target, const std::string& body = {},
                     const std::map<std::string, std::string>& headers = {}) {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(10s);
    stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty()) {
        req.set(http::field::content_type, "application/json");
        req.body() = body;
    }
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(stream, buffer, parser);
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
        // Read the response head.
        auto n = net::read_until(socket_, buf_, "\r\n\r\n");
        head_ = std::string(static_cast<const char*>(buf_.data().data()), n);
        buf_.consume(n);
        raw_.assign(static_cast<const char*>(buf_.data().data()), buf_.size());
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
