// ssebus-fanout: a Server-Sent Events fan-out load client.
//
// Opens N SSE subscriptions (HTTP/1.1 GET, Accept: text/event-stream) against a server on
// the loopback, measures the server's RSS per idle connection, then publishes events at a
// fixed rate through HTTP/1.1 keep-alive POSTs and measures, on every subscriber, the
// latency from publish to receipt and how many events arrive.
//
// Threads: the subscribers run on --threads single-threaded io_contexts (default 2: the
// machine this was written for has 2 cores, shared with the server under test, so the client
// competes with the server for CPU; at high fan-out the numbers are those of the pair). The
// publisher runs on one more io_context thread of its own that mostly sleeps on its timer,
// so its pacing does not wait behind subscriber reads.
//
// Every payload carries the publish time (steady_clock nanoseconds, the same clock in the
// publisher and the subscribers since they share this process) and a sequence number, through
// --publish-body-template's {{ts}} and {{seq}}. A subscriber takes each event's data, looks for
// "ts": and "seq": in it and records receive time - ts. Only loopback addresses are accepted.
//
// --tokens-file gives subscriber i the token on line i (?token=), so that each stream is its
// own user; --targeted then addresses each publish to one subscriber ({{to}} in the body
// template is seq % N) and every subscriber checks the "to": of what it receives against its
// own index, so the summary says how many targeted events reached exactly their stream.

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string path = "/api/events";
    std::string publish_path = "/api/events";
    std::vector<std::string> publish_headers;
    std::string body_template = R"({"ts":{{ts}},"seq":{{seq}}})";
    std::size_t connections = 1000;
    double rate = 100;
    double duration = 10;
    double drain = 3;
    double idle = 2;
    unsigned source_ips = 8;
    int server_pid = 0;
    bool json = false;
    std::string label;
    unsigned threads = 2;
    unsigned publishers = 4;
    std::size_t connect_concurrency = 500;
    double connect_timeout = 15;
    std::size_t stalled = 0;   // slow consumers that never read after connecting
    std::size_t trickle = 0;   // slow consumers that read one byte a second
    int slow_rcvbuf = 4096;    // their receive buffer (SO_RCVBUF), so the server's queue fills soon
    std::string tokens_file;   // line i: the token of subscriber i
    bool targeted = false;     // each publish is for subscriber seq % connections alone
};

// ---------------------------------------------------------------- /proc readings

// Sum of VmRSS (KiB) over a process and all its descendants (nginx's connections live in its
// workers, the children of the pid the runner knows).
std::vector<int> process_tree(int root) {
    std::map<int, std::vector<int>> children;
    if (DIR* d = opendir("/proc")) {
        while (dirent* e = readdir(d)) {
            const int pid = std::atoi(e->d_name);
            if (pid <= 0) continue;
            std::ifstream f("/proc/" + std::string(e->d_name) + "/stat");
            std::string s;
            std::getline(f, s);
            const auto rp = s.rfind(')');
            if (rp == std::string::npos) continue;
            std::istringstream rest(s.substr(rp + 2));
            char state;
            int ppid = 0;
            rest >> state >> ppid;
            children[ppid].push_back(pid);
        }
        closedir(d);
    }
    std::vector<int> out{root};
    for (std::size_t i = 0; i < out.size(); ++i)
        for (int c : children[out[i]]) out.push_back(c);
    return out;
}

std::optional<long> tree_rss_kib(int root) {
    if (root <= 0) return std::nullopt;
    long total = 0;
    bool any = false;
    for (int pid : process_tree(root)) {
        std::ifstream f("/proc/" + std::to_string(pid) + "/status");
        std::string line;
        while (std::getline(f, line)) {
            if (line.rfind("VmRSS:", 0) == 0) {
                total += std::atol(line.c_str() + 6);
                any = true;
                break;
            }
        }
    }
    if (!any) return std::nullopt;
    return total;
}

// utime + stime of the tree, in seconds.
std::optional<double> tree_cpu_s(int root) {
    if (root <= 0) return std::nullopt;
    const long hz = sysconf(_SC_CLK_TCK);
    unsigned long long ticks = 0;
    bool any = false;
    for (int pid : process_tree(root)) {
        std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
        std::string s;
        std::getline(f, s);
        const auto rp = s.rfind(')');
        if (rp == std::string::npos) continue;
        std::istringstream rest(s.substr(rp + 2));
        std::string field;
        // Fields after the command: state(3) ... utime(14) stime(15).
        std::vector<std::string> fields;
        while (rest >> field) fields.push_back(field);
        if (fields.size() < 13) continue;
        ticks += std::stoull(fields[11]) + std::stoull(fields[12]);
        any = true;
    }
    if (!any) return std::nullopt;
    return static_cast<double>(ticks) / static_cast<double>(hz);
}

// Busy time of the whole machine (all CPUs: everything but idle and iowait) and, apart, its
// irq + softirq part, in seconds: with the server's and the client's own CPU time, it tells how
// much else ran during the measurement. (On this kernel a process's utime + stime already holds
// the softirq work, loopback TCP's included, done while it ran: busy ~= server + client when
// nothing else runs.)
struct MachineCpu {
    double busy = 0;
    double irq = 0;
};
std::optional<MachineCpu> machine_cpu() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;
    if (!(f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu") return std::nullopt;
    const auto hz = static_cast<double>(sysconf(_SC_CLK_TCK));
    return MachineCpu{static_cast<double>(user + nice + system + irq + softirq + steal) / hz, static_cast<double>(irq + softirq) / hz};
}

double self_cpu_s() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// ---------------------------------------------------------------- shared counters

struct ThreadStats {
    std::vector<std::uint32_t> latency_us;  // one sample per delivered event
    std::uint64_t events = 0;               // events with a ts field
    std::uint64_t other_events = 0;         // events without one (server hellos and the like)
    std::uint64_t bytes = 0;
    std::int64_t last_receive_ns = 0;
    // --targeted: how often each publish seq arrived at the subscriber it was for, and how
    // many events arrived at one they were not for.
    std::vector<std::uint16_t> seq_hits;
    std::uint64_t misdelivered = 0;
};

struct Shared {
    Options opt;
    std::vector<std::string> tokens;  // --tokens-file, one per subscriber
    std::atomic<std::size_t> next_index{0};
    std::atomic<std::size_t> connected{0};
    std::atomic<std::size_t> failed{0};
    std::atomic<std::size_t> dropped{0};  // streams that ended after having connected
    std::atomic<bool> stopping{false};
    std::atomic<std::size_t> slow_connected{0};
    std::atomic<std::size_t> slow_closed_by_server{0};  // slow consumers the server let go
    std::mutex err_mu;
    std::map<std::string, std::size_t> errors;  // failure reason -> count
    void error(const std::string& why) {
        std::lock_guard lk(err_mu);
        ++errors[why];
    }
};

// ---------------------------------------------------------------- one SSE subscriber

// The GET that opens a stream.
std::string stream_request(const Options& o, std::string_view user_agent, std::string_view token = {}) {
    std::string target = o.path;
    if (!token.empty()) target += (target.find('?') == std::string::npos ? "?token=" : "&token=") + std::string(token);
    return "GET " + target + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
           "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: " + std::string(user_agent) +
           "\r\n\r\n";
}

class Subscriber : public std::enable_shared_from_this<Subscriber> {
public:
    Subscriber(asio::io_context& ctx, Shared& sh, ThreadStats& st, std::size_t index,
               std::function<void()> on_settled)
        : sock_(ctx), timer_(ctx), sh_(sh), st_(st), index_(index), on_settled_(std::move(on_settled)) {}

    void start() {
        const auto& o = sh_.opt;
        boost::system::error_code ec;
        const auto server = asio::ip::make_address(o.host, ec);
        if (ec) return fail("bad host");
        sock_.open(server.is_v4() ? tcp::v4() : tcp::v6(), ec);
        if (ec) return fail("socket: " + ec.message());
        if (server.is_v4() && o.source_ips > 1) {
            // Spread connections over 127.0.0.1..127.0.0.K: each source address has its own
            // ephemeral port range towards the server's address and port. IP_BIND_ADDRESS_NO_PORT
            // leaves the port choice to connect(), so the 4-tuple, not the port, must be unique.
            int one = 1;
            ::setsockopt(sock_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            const std::uint32_t base = 0x7f000001u + static_cast<std::uint32_t>(index_ % o.source_ips);
            sock_.bind(tcp::endpoint(asio::ip::address_v4(base), 0), ec);
            if (ec) return fail("bind: " + ec.message());
        }
        timer_.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.connect_timeout)));
        timer_.async_wait([self = shared_from_this()](boost::system::error_code e) {
            if (!e && !self->headers_done_) {
                self->timed_out_ = true;
                boost::system::error_code ig;
                self->sock_.close(ig);
            }
        });
        sock_.async_connect(tcp::endpoint(server, o.port), [self = shared_from_this()](boost::system::error_code e) {
            if (e) return self->fail(self->timed_out_ ? "connect timeout" : "connect: " + e.message());
            self->send_request();
        });
    }

    void close() {
        boost::system::error_code ig;
        timer_.cancel();
        sock_.close(ig);
    }

    // Read once the threads have stopped.
    std::size_t index() const { return index_; }
    bool live() const { return headers_done_ && !lost_; }
    std::uint64_t events() const { return events_; }

private:
    void send_request() {
        request_ = stream_request(sh_.opt, "ssebus-fanout", index_ < sh_.tokens.size() ? sh_.tokens[index_] : std::string{});
        asio::async_write(sock_, asio::buffer(request_), [self = shared_from_this()](boost::system::error_code e, std::size_t) {
            if (e) return self->fail(self->timed_out_ ? "timeout" : "write: " + e.message());
            self->request_.clear();
            self->request_.shrink_to_fit();
            self->read();
        });
    }

    void read() {
        sock_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](boost::system::error_code e, std::size_t n) {
            self->on_read(e, n);
        });
    }

    void on_read(boost::system::error_code e, std::size_t n) {
        if (e) {
            if (!headers_done_) return fail(timed_out_ ? "timeout waiting for headers" : "read headers: " + e.message());
            if (!sh_.stopping.load(std::memory_order_relaxed)) {
                lost_ = true;
                sh_.dropped.fetch_add(1);
                sh_.error("stream ended: " + e.message());
            }
            return;
        }
        const std::int64_t t = now_ns();
        st_.bytes += n;
        const char* p = buf_.data();
        std::size_t len = n;
        if (!headers_done_) {
            head_.append(p, len);
            const auto end = head_.find("\r\n\r\n");
            if (end == std::string::npos) {
                if (head_.size() > 16384) return fail("headers too large");
                return read();
            }
            if (!parse_head(end)) return;
            const std::string rest = head_.substr(end + 4);
            head_.clear();
            head_.shrink_to_fit();
            feed_body(rest.data(), rest.size(), t);
        } else {
            feed_body(p, len, t);
        }
        if (ended_) {
            if (!sh_.stopping.load(std::memory_order_relaxed)) {
                lost_ = true;
                sh_.dropped.fetch_add(1);
                sh_.error("stream ended by server (last chunk)");
            }
            return;
        }
        read();
    }

    bool parse_head(std::size_t end) {
        // "HTTP/1.1 200 OK"
        int status = 0;
        if (head_.size() > 12 && head_.compare(0, 5, "HTTP/") == 0) status = std::atoi(head_.c_str() + 9);
        if (status != 200) {
            fail("status " + std::to_string(status));
            return false;
        }
        std::string lower = head_.substr(0, end);
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        chunked_ = lower.find("\ntransfer-encoding: chunked") != std::string::npos ||
                   lower.find("\ntransfer-encoding:chunked") != std::string::npos;
        headers_done_ = true;
        timer_.cancel();
        sh_.connected.fetch_add(1);
        settle();
        return true;
    }

    // HTTP/1.1 chunked transfer decoding, incremental.
    void feed_body(const char* p, std::size_t n, std::int64_t t) {
        if (!chunked_) return feed_sse(p, n, t);
        std::size_t i = 0;
        while (i < n && !ended_) {
            switch (cstate_) {
            case CState::size: {
                const char c = p[i++];
                if (std::isxdigit(static_cast<unsigned char>(c))) {
                    chunk_left_ = chunk_left_ * 16 + static_cast<std::uint64_t>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10));
                } else if (c == '\n') {
                    cstate_ = chunk_left_ == 0 ? CState::done : CState::data;
                    if (chunk_left_ == 0) ended_ = true;
                } else if (c == ';') {
                    cstate_ = CState::ext;
                }  // '\r' and blanks: skip
                break;
            }
            case CState::ext:
                if (p[i++] == '\n') {
                    cstate_ = chunk_left_ == 0 ? CState::done : CState::data;
                    if (chunk_left_ == 0) ended_ = true;
                }
                break;
            case CState::data: {
                const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, n - i));
                feed_sse(p + i, take, t);
                i += take;
                chunk_left_ -= take;
                if (chunk_left_ == 0) cstate_ = CState::data_end;
                break;
            }
            case CState::data_end:
                if (p[i++] == '\n') cstate_ = CState::size;  // skips the '\r' before it
                break;
            case CState::done:
                i = n;
                break;
            }
        }
    }

    // text/event-stream parsing, incremental: lines end with CRLF, LF or CR; a blank line
    // dispatches the event.
    void feed_sse(const char* p, std::size_t n, std::int64_t t) {
        std::size_t i = 0;
        while (i < n) {
            if (after_cr_) {
                after_cr_ = false;
                if (p[i] == '\n') {
                    ++i;
                    continue;
                }
            }
            std::size_t j = i;
            while (j < n && p[j] != '\n' && p[j] != '\r') ++j;
            line_.append(p + i, j - i);
            if (j == n) return;
            after_cr_ = p[j] == '\r';
            i = j + 1;
            on_line(t);
            line_.clear();
        }
    }

    void on_line(std::int64_t t) {
        if (line_.empty()) return dispatch(t);
        if (line_[0] == ':') return;  // comment
        const auto colon = line_.find(':');
        const std::string_view field = std::string_view(line_).substr(0, colon);
        if (field != "data") return;  // id, event, retry: not needed here
        std::string_view value;
        if (colon != std::string::npos) {
            value = std::string_view(line_).substr(colon + 1);
            if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
        }
        if (has_data_) data_.push_back('\n');
        data_.append(value);
        has_data_ = true;
    }

    static std::optional<std::int64_t> number_after(std::string_view s, std::string_view key) {
        auto k = s.find(key);
        if (k == std::string_view::npos) return std::nullopt;
        k += key.size();
        while (k < s.size() && (s[k] == ' ' || s[k] == '"')) ++k;
        std::int64_t v = 0;
        bool any = false;
        while (k < s.size() && s[k] >= '0' && s[k] <= '9') {
            v = v * 10 + (s[k] - '0');
            ++k;
            any = true;
        }
        if (!any) return std::nullopt;
        return v;
    }

    void dispatch(std::int64_t t) {
        if (!has_data_) return;
        const auto ts = number_after(data_, "\"ts\":");
        if (ts && *ts > 0 && *ts <= t) {
            ++st_.events;
            ++events_;
            if (sh_.opt.targeted) {
                const auto to = number_after(data_, "\"to\":");
                const auto seq = number_after(data_, "\"seq\":");
                if (!to || static_cast<std::size_t>(*to) != index_) ++st_.misdelivered;
                else if (seq && static_cast<std::size_t>(*seq) < st_.seq_hits.size()) ++st_.seq_hits[static_cast<std::size_t>(*seq)];
            }
            const std::int64_t us = (t - *ts) / 1000;
            st_.latency_us.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(us, UINT32_MAX)));
            st_.last_receive_ns = std::max(st_.last_receive_ns, t);
        } else {
            ++st_.other_events;
        }
        data_.clear();
        has_data_ = false;
    }

    void fail(const std::string& why) {
        if (settled_) return;
        sh_.failed.fetch_add(1);
        sh_.error(why);
        boost::system::error_code ig;
        timer_.cancel();
        sock_.close(ig);
        settle();
    }

    void settle() {
        if (settled_) return;
        settled_ = true;
        if (on_settled_) on_settled_();
        on_settled_ = nullptr;
    }

    enum class CState { size, ext, data, data_end, done };

    tcp::socket sock_;
    asio::steady_timer timer_;
    Shared& sh_;
    ThreadStats& st_;
    std::size_t index_;
    std::function<void()> on_settled_;
    std::array<char, 4096> buf_{};
    std::string request_;
    std::string head_;
    bool headers_done_ = false;
    bool timed_out_ = false;
    bool settled_ = false;
    bool chunked_ = false;
    bool ended_ = false;
    bool lost_ = false;          // the stream ended before the run did
    std::uint64_t events_ = 0;   // events with a ts field, on this stream
    CState cstate_ = CState::size;
    std::uint64_t chunk_left_ = 0;
    std::string line_;
    std::string data_;
    bool has_data_ = false;
    bool after_cr_ = false;
};

// ---------------------------------------------------------------- slow consumers

// A subscriber that cannot keep up: `stalled` stops reading once it has sent its request;
// `trickle` reads one byte a second. Both have a small receive buffer, so the server's
// queue for them fills within seconds. At the end drain() reads whatever is left as fast
// as it can: a stream the server closed ends (EOF or reset) within the drain's deadline;
// one it still holds open does not. None of their bytes count in the healthy numbers.
class SlowSubscriber : public std::enable_shared_from_this<SlowSubscriber> {
public:
    enum class Kind { stalled, trickle };
    SlowSubscriber(asio::io_context& ctx, Shared& sh, Kind kind) : sock_(ctx), timer_(ctx), sh_(sh), kind_(kind) {}

    void start() {
        const auto& o = sh_.opt;
        boost::system::error_code ec;
        const auto server = asio::ip::make_address(o.host, ec);
        if (ec) return fail("slow consumer: bad host");
        sock_.open(server.is_v4() ? tcp::v4() : tcp::v6(), ec);
        if (ec) return fail("slow consumer: socket: " + ec.message());
        // Before connect, so that the window the client advertises stays small.
        sock_.set_option(asio::socket_base::receive_buffer_size(o.slow_rcvbuf), ec);
        sock_.async_connect(tcp::endpoint(server, o.port), [self = shared_from_this()](boost::system::error_code e) {
            if (e) return self->fail("slow consumer: connect: " + e.message());
            self->request_ = stream_request(self->sh_.opt, "ssebus-fanout (slow)");
            asio::async_write(self->sock_, asio::buffer(self->request_),
                              [self](boost::system::error_code e2, std::size_t) {
                                  if (e2) return self->fail("slow consumer: write: " + e2.message());
                                  self->sh_.slow_connected.fetch_add(1);
                                  if (self->kind_ == Kind::trickle) self->trickle();
                              });
        });
    }

    // Reads what is left until the stream ends or `deadline` passes; counts a stream the
    // server closed.
    void drain(Clock::time_point deadline) {
        draining_ = true;
        timer_.cancel();
        timer_.expires_at(deadline);
        timer_.async_wait([self = shared_from_this()](boost::system::error_code e) {
            if (!e) self->close();
        });
        if (!reading_) read_all();
    }

    void close() {
        boost::system::error_code ig;
        timer_.cancel();
        sock_.close(ig);
    }

private:
    void trickle() {
        reading_ = true;
        sock_.async_read_some(asio::buffer(buf_.data(), 1), [self = shared_from_this()](boost::system::error_code e, std::size_t) {
            self->reading_ = false;
            if (e) return self->ended(e);
            if (self->draining_) return self->read_all();
            self->timer_.expires_after(1s);
            self->timer_.async_wait([self](boost::system::error_code te) {
                if (!te && !self->draining_) self->trickle();
            });
        });
    }

    void read_all() {
        reading_ = true;
        sock_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](boost::system::error_code e, std::size_t) {
            self->reading_ = false;
            if (e) return self->ended(e);
            self->read_all();
        });
    }

    void ended(boost::system::error_code e) {
        if (e == asio::error::operation_aborted || counted_) return;  // closed here, at the deadline
        counted_ = true;
        if (e == asio::error::eof || e == asio::error::connection_reset) sh_.slow_closed_by_server.fetch_add(1);
        close();
    }

    void fail(const std::string& why) {
        sh_.error(why);
        close();
    }

    tcp::socket sock_;
    asio::steady_timer timer_;
    Shared& sh_;
    Kind kind_;
    std::array<char, 65536> buf_{};
    std::string request_;
    bool reading_ = false;
    bool draining_ = false;
    bool counted_ = false;
};

// ---------------------------------------------------------------- publisher

struct PublishStats {
    std::uint64_t sent = 0;
    std::uint64_t ok = 0;
    std::uint64_t failed = 0;
    std::uint64_t reconnects = 0;
    std::int64_t first_ns = 0;
    std::int64_t last_ns = 0;
    std::int64_t max_lag_ns = 0;  // how late a publish went out after its scheduled time
    std::uint64_t server_reported = 0;  // sum of "delivered":k in the responses, where present
    bool any_reported = false;
    std::string first_error;
    std::uint64_t statuses[6] = {};
    std::vector<std::uint8_t> ok_seq;  // 1 where the publish of that seq was answered 2xx
};

class PublishPool;

class PublishConn : public std::enable_shared_from_this<PublishConn> {
public:
    PublishConn(asio::io_context& ctx, PublishPool& pool) : stream_(ctx), pool_(pool) {}
    void connect();
    bool idle() const { return ready_ && !busy_; }
    void send(std::uint64_t seq, std::int64_t scheduled_ns);
    void close() {
        boost::system::error_code ig;
        stream_.socket().close(ig);
    }

private:
    beast::tcp_stream stream_;
    PublishPool& pool_;
    beast::flat_buffer buf_;
    http::request<http::string_body> req_;
    http::response<http::string_body> res_;
    bool ready_ = false;
    bool busy_ = false;
    std::uint64_t seq_ = 0;  // of the request in flight
};

class PublishPool {
public:
    PublishPool(asio::io_context& ctx, const Options& o) : ctx_(ctx), timer_(ctx), window_timer_(ctx), opt_(o) {
        const auto tpl = o.body_template;
        const auto ts = tpl.find("{{ts}}");
        const auto sq = tpl.find("{{seq}}");
        if (ts == std::string::npos) throw std::runtime_error("--publish-body-template needs a {{ts}} placeholder");
        parts_ = tpl;
        (void)sq;
        for (const auto& h : o.publish_headers) {
            const auto c = h.find(':');
            if (c == std::string::npos) throw std::runtime_error("--publish-header needs 'Name: value': " + h);
            std::string name = h.substr(0, c), value = h.substr(c + 1);
            while (!value.empty() && value.front() == ' ') value.erase(0, 1);
            headers_.emplace_back(name, value);
        }
    }

    std::string body(std::uint64_t seq, std::int64_t ts) const {
        std::string b = parts_;
        for (std::size_t p; (p = b.find("{{ts}}")) != std::string::npos;) b.replace(p, 6, std::to_string(ts));
        for (std::size_t p; (p = b.find("{{seq}}")) != std::string::npos;) b.replace(p, 7, std::to_string(seq));
        const std::string to = std::to_string(seq % std::max<std::size_t>(1, opt_.connections));
        for (std::size_t p; (p = b.find("{{to}}")) != std::string::npos;) b.replace(p, 6, to);
        return b;
    }

    void start_connections() {
        for (unsigned i = 0; i < std::max(1u, opt_.publishers); ++i) {
            auto c = std::make_shared<PublishConn>(ctx_, *this);
            conns_.push_back(c);
            c->connect();
        }
    }

    // Publishes total events, one every 1/rate s from now, within window seconds: ticks that
    // could not go out by then (every publisher connection still waiting for a response, the
    // server being slower than the rate) are skipped, and counted.
    void run(std::uint64_t total, double window, std::function<void()> done) {
        total_ = total;
        done_ = std::move(done);
        t0_ = Clock::now();
        window_timer_.expires_at(t0_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(window)));
        window_timer_.async_wait([this](boost::system::error_code e) {
            if (e || closing) return;
            timer_.cancel();
            skipped = (total_ - scheduled_) + queue_.size();
            queue_.clear();
            total_ = stats.sent;
            scheduled_ = total_;
            check_done();
        });
        schedule();
    }
    std::uint64_t skipped = 0;

    void close_all() {
        timer_.cancel();
        window_timer_.cancel();
        for (auto& c : conns_) c->close();
    }

    PublishStats stats;
    const Options& opt() const { return opt_; }
    const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
    bool closing = false;

    void on_idle() { pump(); }
    void on_response_done() {
        ++completed_;
        check_done();
        pump();
    }

private:
    void schedule() {
        if (scheduled_ >= total_) return;
        const auto period = std::chrono::duration<double>(1.0 / opt_.rate);
        const auto at = t0_ + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(scheduled_));
        timer_.expires_at(at);
        timer_.async_wait([this, at](boost::system::error_code e) {
            if (e || closing) return;
            // Every tick whose time has come goes in the queue with its scheduled time.
            const auto period = std::chrono::duration<double>(1.0 / opt_.rate);
            const auto now = Clock::now();
            while (scheduled_ < total_) {
                const auto when = t0_ + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(scheduled_));
                if (when > now) break;
                queue_.push_back({scheduled_, std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count()});
                ++scheduled_;
            }
            (void)at;
            pump();
            schedule();
        });
    }

    void pump() {
        while (!queue_.empty()) {
            PublishConn* free = nullptr;
            for (auto& c : conns_)
                if (c->idle()) {
                    free = c.get();
                    break;
                }
            if (!free) return;
            const auto [seq, when] = queue_.front();
            queue_.pop_front();
            free->send(seq, when);
        }
    }

    void check_done() {
        if (scheduled_ == total_ && completed_ == total_ && queue_.empty() && done_) {
            auto d = std::move(done_);
            done_ = nullptr;
            d();
        }
    }

    asio::io_context& ctx_;
    asio::steady_timer timer_;
    asio::steady_timer window_timer_;
    const Options& opt_;
    std::string parts_;
    std::vector<std::pair<std::string, std::string>> headers_;
    std::vector<std::shared_ptr<PublishConn>> conns_;
    std::deque<std::pair<std::uint64_t, std::int64_t>> queue_;
    std::uint64_t total_ = 0, scheduled_ = 0, completed_ = 0;
    Clock::time_point t0_;
    std::function<void()> done_;
};

void PublishConn::connect() {
    ready_ = false;
    const auto& o = pool_.opt();
    stream_.expires_after(10s);
    stream_.async_connect(tcp::endpoint(asio::ip::make_address(o.host), o.port), [self = shared_from_this()](beast::error_code e) {
        if (self->pool_.closing) return;
        if (e) {
            if (self->pool_.stats.first_error.empty()) self->pool_.stats.first_error = "publisher connect: " + e.message();
            // Try again shortly; the run's deadline bounds this.
            auto t = std::make_shared<asio::steady_timer>(self->stream_.get_executor(), 200ms);
            t->async_wait([self, t](boost::system::error_code) {
                if (!self->pool_.closing) self->connect();
            });
            return;
        }
        self->stream_.socket().set_option(tcp::no_delay(true));
        self->ready_ = true;
        self->pool_.on_idle();
    });
}

void PublishConn::send(std::uint64_t seq, std::int64_t scheduled_ns) {
    busy_ = true;
    seq_ = seq;
    const auto& o = pool_.opt();
    const std::int64_t ts = now_ns();
    auto& s = pool_.stats;
    if (s.sent == 0) s.first_ns = ts;
    s.last_ns = ts;
    s.max_lag_ns = std::max(s.max_lag_ns, ts - scheduled_ns);
    ++s.sent;
    req_ = {};
    req_.method(http::verb::post);
    req_.target(o.publish_path);
    req_.version(11);
    req_.set(http::field::host, o.host + ":" + std::to_string(o.port));
    req_.set(http::field::user_agent, "ssebus-fanout");
    bool has_ct = false;
    for (const auto& [k, v] : pool_.headers()) {
        req_.set(k, v);
        if (beast::iequals(k, "content-type")) has_ct = true;
    }
    if (!has_ct) req_.set(http::field::content_type, "application/json");
    req_.keep_alive(true);
    req_.body() = pool_.body(seq, ts);
    req_.prepare_payload();
    stream_.expires_after(10s);
    http::async_write(stream_, req_, [self = shared_from_this()](beast::error_code e, std::size_t) {
        if (e) {
            auto& st = self->pool_.stats;
            ++st.failed;
            if (st.first_error.empty()) st.first_error = "publish write: " + e.message();
            self->busy_ = false;
            self->ready_ = false;
            self->close();
            ++st.reconnects;
            if (!self->pool_.closing) self->connect();
            self->pool_.on_response_done();
            return;
        }
        self->res_ = {};
        http::async_read(self->stream_, self->buf_, self->res_, [self](beast::error_code e2, std::size_t) {
            auto& st = self->pool_.stats;
            self->busy_ = false;
            if (e2) {
                ++st.failed;
                if (st.first_error.empty()) st.first_error = "publish read: " + e2.message();
                self->ready_ = false;
                self->close();
                self->buf_.clear();
                ++st.reconnects;
                if (!self->pool_.closing) self->connect();
            } else {
                const unsigned code = self->res_.result_int();
                ++st.statuses[std::min(code / 100u, 5u)];
                if (code >= 200 && code < 300) {
                    ++st.ok;
                    if (self->seq_ < st.ok_seq.size()) st.ok_seq[self->seq_] = 1;
                    const std::string& b = self->res_.body();
                    const auto k = b.find("\"delivered\":");
                    if (k != std::string::npos) {
                        st.server_reported += std::strtoull(b.c_str() + k + 12, nullptr, 10);
                        st.any_reported = true;
                    }
                } else {
                    ++st.failed;
                    if (st.first_error.empty())
                        st.first_error = "publish status " + std::to_string(code) + ": " + self->res_.body().substr(0, 200);
                }
                if (!self->res_.keep_alive()) {
                    self->ready_ = false;
                    self->close();
                    self->buf_.clear();
                    ++st.reconnects;
                    if (!self->pool_.closing) self->connect();
                }
            }
            self->pool_.on_response_done();
        });
    });
}

// ---------------------------------------------------------------- helpers

double pct(const std::vector<std::uint32_t>& sorted, double p) {
    if (sorted.empty()) return 0;
    const auto idx = static_cast<std::size_t>(std::min<double>(static_cast<double>(sorted.size() - 1), p / 100.0 * static_cast<double>(sorted.size())));
    return sorted[idx] / 1000.0;
}

bool is_loopback(const std::string& host) {
    boost::system::error_code ec;
    const auto a = asio::ip::make_address(host, ec);
    if (ec) return false;
    return a.is_loopback();
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"ssebus-fanout: SSE fan-out load client (loopback only)"};
    app.add_option("--host", o.host, "Server address (loopback only)")->capture_default_str();
    app.add_option("--port", o.port, "Server port")->required();
    app.add_option("--path", o.path, "SSE GET path")->capture_default_str();
    app.add_option("--publish-path", o.publish_path, "POST path for publishing")->capture_default_str();
    app.add_option("--publish-header", o.publish_headers, "Extra publish header 'Name: value' (repeatable)");
    app.add_option("--publish-body-template", o.body_template, "Publish body; {{ts}} and {{seq}} are replaced")->capture_default_str();
    app.add_option("--connections", o.connections, "SSE connections")->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
    app.add_option("--rate", o.rate, "Events published per second")->capture_default_str()->check(CLI::Range(0.1, 1e6));
    app.add_option("--duration", o.duration, "Publishing time in seconds")->capture_default_str()->check(CLI::Range(0.0, 3600.0));
    app.add_option("--drain", o.drain, "Seconds to keep reading after the last publish")->capture_default_str()->check(CLI::Range(0.0, 600.0));
    app.add_option("--idle", o.idle, "Seconds idle after connecting, before the RSS reading")->capture_default_str()->check(CLI::Range(0.0, 600.0));
    app.add_option("--source-ips", o.source_ips, "Spread connections over 127.0.0.1..127.0.0.K")->capture_default_str()->check(CLI::Range(1u, 254u));
    app.add_option("--server-pid", o.server_pid, "Server pid (RSS and CPU summed over it and its descendants)");
    app.add_option("--threads", o.threads, "Subscriber I/O threads")->capture_default_str()->check(CLI::Range(1u, 64u));
    app.add_option("--publishers", o.publishers, "Publisher keep-alive connections")->capture_default_str()->check(CLI::Range(1u, 64u));
    app.add_option("--connect-concurrency", o.connect_concurrency, "Connections in flight while connecting")->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{100'000}));
    app.add_option("--connect-timeout", o.connect_timeout, "Seconds for one connection to get its response headers")->capture_default_str();
    app.add_option("--stalled", o.stalled, "Also open this many slow consumers that never read")->capture_default_str();
    app.add_option("--trickle", o.trickle, "Also open this many slow consumers that read one byte a second")->capture_default_str();
    app.add_option("--slow-rcvbuf", o.slow_rcvbuf, "SO_RCVBUF of the slow consumers, in bytes")->capture_default_str()
        ->check(CLI::Range(256, 1 << 24));
    app.add_option("--label", o.label, "Name of the server, echoed in the output");
    app.add_option("--tokens-file", o.tokens_file, "File whose line i is the token (?token=) of subscriber i");
    app.add_flag("--targeted", o.targeted,
                 "Each publish is for subscriber seq % connections alone ({{to}} in the body template); count "
                 "where each one arrives");
    app.add_flag("--json", o.json, "Print one JSON object");
    CLI11_PARSE(app, argc, argv);

    if (!is_loopback(o.host)) {
        std::cerr << "ssebus-fanout: --host must be a loopback address (127.0.0.0/8 or ::1)\n";
        return 2;
    }

    if (o.targeted && o.body_template.find("{{to}}") == std::string::npos) {
        std::cerr << "ssebus-fanout: --targeted needs a {{to}} placeholder in --publish-body-template (the target's index)\n";
        return 2;
    }
    std::vector<std::string> tokens;
    if (!o.tokens_file.empty()) {
        std::ifstream tf(o.tokens_file);
        if (!tf) {
            std::cerr << "ssebus-fanout: cannot read --tokens-file " << o.tokens_file << "\n";
            return 2;
        }
        for (std::string line; std::getline(tf, line);)
            if (!line.empty()) tokens.push_back(line);
        if (tokens.size() < o.connections) {
            std::cerr << "ssebus-fanout: --tokens-file has " << tokens.size() << " tokens, fewer than --connections "
                      << o.connections << "\n";
            return 2;
        }
    }

    // File descriptors: one per subscriber, plus publishers and a margin.
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    const std::uint64_t nofile = rl.rlim_cur;
    std::vector<std::string> warnings;
    if (nofile < o.connections + o.stalled + o.trickle + 100) {
        warnings.push_back("RLIMIT_NOFILE is " + std::to_string(nofile) + " (hard limit), below connections + 100 = " +
                           std::to_string(o.connections + o.stalled + o.trickle + 100) +
                           ": some connections will fail with 'Too many open files'");
        std::cerr << "ssebus-fanout: warning: " << warnings.back() << "\n";
    }

    Shared sh;
    sh.opt = o;
    sh.tokens = std::move(tokens);
    const unsigned nthreads = std::max(1u, o.threads);
    std::vector<std::unique_ptr<asio::io_context>> ctxs;
    std::vector<ThreadStats> stats(nthreads);
    std::vector<std::vector<std::shared_ptr<Subscriber>>> subs(nthreads);
    using Guard = asio::executor_work_guard<asio::io_context::executor_type>;
    std::vector<Guard> guards;
    for (unsigned i = 0; i < nthreads; ++i) {
        ctxs.push_back(std::make_unique<asio::io_context>(1));
        guards.push_back(asio::make_work_guard(*ctxs.back()));
    }
    const auto expected_per_client = static_cast<std::size_t>(o.rate * o.duration) + 16;
    for (auto& s : stats) s.latency_us.reserve(std::min<std::size_t>(expected_per_client * (o.connections / nthreads + 1), 50'000'000));
    const auto total = static_cast<std::uint64_t>(o.rate * o.duration + 0.5);
    if (o.targeted)
        for (auto& s : stats) s.seq_hits.assign(total, 0);
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < nthreads; ++i) threads.emplace_back([&, i] { ctxs[i]->run(); });

    const int pid = o.server_pid;
    const auto rss_before = tree_rss_kib(pid);

    // Connect phase: keep connect_concurrency connections in flight until all are settled.
    std::function<void()> launch_next;
    launch_next = [&] {
        if (sh.stopping.load()) return;
        const std::size_t idx = sh.next_index.fetch_add(1);
        if (idx >= o.connections) return;
        const unsigned t = static_cast<unsigned>(idx % nthreads);
        asio::post(*ctxs[t], [&, idx, t] {
            auto s = std::make_shared<Subscriber>(*ctxs[t], sh, stats[t], idx, [&] { launch_next(); });
            subs[t].push_back(s);
            s->start();
        });
    };
    const auto t_connect0 = Clock::now();
    for (std::size_t i = 0; i < std::min(o.connect_concurrency, o.connections); ++i) launch_next();
    const auto connect_deadline = t_connect0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
        o.connect_timeout + 120.0));
    while (sh.connected.load() + sh.failed.load() < o.connections && Clock::now() < connect_deadline)
        std::this_thread::sleep_for(10ms);
    const double connect_s = std::chrono::duration<double>(Clock::now() - t_connect0).count();
    const std::size_t connected = sh.connected.load();

    // The slow consumers join after the healthy ones, on the first subscriber thread.
    std::vector<std::shared_ptr<SlowSubscriber>> slow;
    for (std::size_t i = 0; i < o.stalled + o.trickle; ++i)
        slow.push_back(std::make_shared<SlowSubscriber>(*ctxs[0], sh, i < o.stalled ? SlowSubscriber::Kind::stalled
                                                                                      : SlowSubscriber::Kind::trickle));
    for (auto& s : slow) asio::post(*ctxs[0], [s] { s->start(); });
    if (!slow.empty()) {
        const auto slow_deadline = Clock::now() + 10s;
        while (sh.slow_connected.load() < slow.size() && Clock::now() < slow_deadline) std::this_thread::sleep_for(5ms);
    }

    // Idle, then the RSS reading.
    // The server's CPU time while its streams idle: what holding them costs (heartbeats, timers).
    const auto cpu_idle0 = tree_cpu_s(pid);
    const auto t_idle0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(o.idle));
    const auto cpu_idle1 = tree_cpu_s(pid);
    const double idle_s = std::chrono::duration<double>(Clock::now() - t_idle0).count();
    const auto rss_connected = tree_rss_kib(pid);
    const std::size_t connected_at_publish = sh.connected.load() - sh.dropped.load();

    // Publish phase.
    asio::io_context pctx(1);
    auto pguard = asio::make_work_guard(pctx);
    std::unique_ptr<PublishPool> pool;
    try {
        pool = std::make_unique<PublishPool>(pctx, o);
    } catch (const std::exception& e) {
        std::cerr << "ssebus-fanout: " << e.what() << "\n";
        std::_Exit(2);
    }
    pool->stats.ok_seq.assign(total, 0);
    std::thread pthread([&] { pctx.run(); });
    std::atomic<bool> publish_done{false};
    const auto cpu_server0 = tree_cpu_s(pid);
    const double cpu_self0 = self_cpu_s();
    const auto busy0 = machine_cpu();
    const std::int64_t publish_start_ns = now_ns();
    asio::post(pctx, [&] {
        pool->start_connections();
        if (total == 0) publish_done = true;
        else pool->run(total, o.duration, [&] { publish_done = true; });
    });
    // Bounded: the publish window plus a grace of 5 s for the last responses.
    const auto publish_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration + 5.0));
    while (!publish_done.load() && Clock::now() < publish_deadline) std::this_thread::sleep_for(5ms);
    const std::int64_t publish_end_ns = now_ns();
    std::this_thread::sleep_for(std::chrono::duration<double>(o.drain));
    const std::int64_t drain_end_ns = now_ns();
    const auto cpu_server1 = tree_cpu_s(pid);
    const auto rss_end = tree_rss_kib(pid);
    const double cpu_self1 = self_cpu_s();
    const auto busy1 = machine_cpu();

    // The slow consumers read what is left: those the server let go see their stream end.
    if (!slow.empty()) {
        const auto until = Clock::now() + 3s;
        asio::post(*ctxs[0], [&] {
            for (auto& s : slow) s->drain(until);
        });
        std::this_thread::sleep_until(until + 100ms);
    }

    // Stop: close everything on its own thread, then let the threads run out.
    sh.stopping = true;
    // Read the publisher's numbers before closing its connections, so that requests still
    // waiting for a response count as unanswered rather than failed.
    std::uint64_t skipped = 0;
    const PublishStats ps = [&] {
        std::promise<PublishStats> p;
        asio::post(pctx, [&] {
            skipped = pool->skipped;
            p.set_value(pool->stats);
        });
        return p.get_future().get();
    }();
    std::promise<void> pclosed;
    asio::post(pctx, [&] {
        pool->closing = true;
        pool->close_all();
        pclosed.set_value();
    });
    pclosed.get_future().wait();
    pguard.reset();
    pctx.stop();
    pthread.join();
    for (unsigned i = 0; i < nthreads; ++i) {
        asio::post(*ctxs[i], [&, i] {
            for (auto& s : subs[i]) s->close();
            if (i == 0)
                for (auto& s : slow) s->close();
        });
        guards[i].reset();
    }
    {
        const auto stop_deadline = Clock::now() + 5s;
        for (auto& c : ctxs)
            while (!c->stopped() && Clock::now() < stop_deadline) std::this_thread::sleep_for(5ms);
        for (auto& c : ctxs) c->stop();
    }
    for (auto& t : threads) t.join();

    // Results.
    std::vector<std::uint32_t> lat;
    std::uint64_t delivered = 0, other = 0, bytes = 0;
    std::int64_t last_rx = 0;
    std::size_t total_samples = 0;
    for (auto& s : stats) total_samples += s.latency_us.size();
    lat.reserve(total_samples);
    for (auto& s : stats) {
        delivered += s.events;
        other += s.other_events;
        bytes += s.bytes;
        last_rx = std::max(last_rx, s.last_receive_ns);
        lat.insert(lat.end(), s.latency_us.begin(), s.latency_us.end());
        s.latency_us = {};
    }
    std::sort(lat.begin(), lat.end());
    // Per stream: how many got every published event, how many none (those still open at the end).
    std::vector<char> live(o.connections, 0);
    std::size_t with_all = 0, with_none = 0, live_at_end = 0;
    for (const auto& per_thread : subs)
        for (const auto& sub : per_thread) {
            if (!sub->live()) continue;
            live[sub->index()] = 1;
            ++live_at_end;
            if (!o.targeted && sub->events() >= ps.ok) ++with_all;
            if (sub->events() == 0) ++with_none;
        }
    // --targeted: each answered publish should have reached its one stream exactly once.
    std::uint64_t t_expected = 0, t_once = 0, t_missing = 0, t_duplicated = 0, t_misdelivered = 0;
    if (o.targeted) {
        for (const auto& st : stats) t_misdelivered += st.misdelivered;
        for (std::uint64_t q = 0; q < total; ++q) {
            if (!ps.ok_seq[q] || !live[q % o.connections]) continue;
            ++t_expected;
            unsigned hits = 0;
            for (const auto& st : stats) hits += st.seq_hits[q];
            if (hits == 1) ++t_once;
            else if (hits == 0) ++t_missing;
            else ++t_duplicated;
        }
    }
    const std::uint64_t expected = o.targeted ? t_expected : ps.ok * connected_at_publish;
    const std::int64_t first_pub = ps.first_ns ? ps.first_ns : publish_start_ns;
    // Delivery window: first publish to the last delivery (the drain is counted only as far as
    // deliveries reach into it).
    const double window_s = std::max(1e-9, static_cast<double>(std::max(last_rx, ps.last_ns) - first_pub) / 1e9);
    const double delivered_per_s = delivered ? static_cast<double>(delivered) / window_s : 0.0;
    std::optional<double> rss_per_conn;
    if (rss_before && rss_connected && connected > 0)
        rss_per_conn = static_cast<double>(*rss_connected - *rss_before) / static_cast<double>(connected);

    nlohmann::json j;
    j["label"] = o.label;
    j["host"] = o.host;
    j["port"] = o.port;
    j["connections_requested"] = o.connections;
    j["connected"] = connected;
    j["failed"] = sh.failed.load();
    j["dropped"] = sh.dropped.load();
    j["connected_at_publish"] = connected_at_publish;
    j["connect_seconds"] = connect_s;
    j["rate"] = o.rate;
    j["duration"] = o.duration;
    j["published"] = ps.ok;
    j["publish_attempts"] = ps.sent;
    j["publish_failed"] = ps.failed;
    j["publish_scheduled"] = total;
    j["publish_skipped"] = skipped;
    j["publish_unanswered"] = ps.sent - ps.ok - ps.failed;
    j["publish_max_lag_ms"] = static_cast<double>(ps.max_lag_ns) / 1e6;
    j["publish_seconds"] = static_cast<double>(publish_end_ns - publish_start_ns) / 1e9;
    if (!ps.first_error.empty()) j["publish_first_error"] = ps.first_error;
    if (ps.any_reported) j["server_reported_delivered"] = ps.server_reported;
    j["expected"] = expected;
    j["delivered"] = delivered;
    j["delivered_ratio"] = expected ? static_cast<double>(delivered) / static_cast<double>(expected) : 0.0;
    j["other_events"] = other;
    j["bytes_received"] = bytes;
    j["delivery_window_seconds"] = window_s;
    j["delivered_per_second"] = delivered_per_s;
    j["latency_ms"] = {{"p50", pct(lat, 50)}, {"p90", pct(lat, 90)}, {"p99", pct(lat, 99)}, {"p999", pct(lat, 99.9)},
                       {"max", lat.empty() ? 0.0 : lat.back() / 1000.0}, {"samples", lat.size()}};
    j["rss_before_kib"] = rss_before ? nlohmann::json(*rss_before) : nlohmann::json(nullptr);
    j["rss_connected_kib"] = rss_connected ? nlohmann::json(*rss_connected) : nlohmann::json(nullptr);
    j["rss_end_kib"] = rss_end ? nlohmann::json(*rss_end) : nlohmann::json(nullptr);
    j["rss_per_idle_connection_kib"] = rss_per_conn ? nlohmann::json(*rss_per_conn) : nlohmann::json(nullptr);
    if (cpu_server0 && cpu_server1) j["server_cpu_seconds"] = *cpu_server1 - *cpu_server0;
    if (cpu_idle0 && cpu_idle1) j["server_idle_cpu_seconds"] = *cpu_idle1 - *cpu_idle0;
    j["idle_seconds"] = idle_s;
    j["client_cpu_seconds"] = cpu_self1 - cpu_self0;
    if (busy0 && busy1) {
        j["machine_busy_seconds"] = busy1->busy - busy0->busy;
        j["machine_irq_seconds"] = busy1->irq - busy0->irq;
        // Everything else: other processes on the machine.
        if (cpu_server0 && cpu_server1)
            j["other_cpu_seconds"] =
                std::max(0.0, (busy1->busy - busy0->busy) - (*cpu_server1 - *cpu_server0) - (cpu_self1 - cpu_self0));
    }
    j["cpus"] = std::thread::hardware_concurrency();
    j["measure_seconds"] = static_cast<double>(drain_end_ns - publish_start_ns) / 1e9;
    j["threads"] = nthreads;
    j["source_ips"] = o.source_ips;
    j["nofile_limit"] = nofile;
    j["slow_consumers"] = {{"stalled", o.stalled}, {"trickle", o.trickle}, {"connected", sh.slow_connected.load()},
                           {"closed_by_server", sh.slow_closed_by_server.load()}};
    j["streams_live_at_end"] = live_at_end;
    if (!o.targeted) j["streams_with_every_event"] = with_all;
    j["streams_with_no_event"] = with_none;
    if (o.targeted)
        j["targeted"] = {{"expected", t_expected}, {"exactly_once", t_once}, {"missing", t_missing},
                         {"duplicated", t_duplicated}, {"misdelivered", t_misdelivered}};
    j["errors"] = sh.errors;
    j["warnings"] = warnings;

    if (o.json) {
        std::cout << j.dump() << std::endl;
    } else {
        std::printf("server              %s %s:%u\n", o.label.empty() ? "-" : o.label.c_str(), o.host.c_str(), o.port);
        std::printf("connections         %zu ok, %zu failed, %zu dropped (of %zu; %.2f s to connect)\n", connected,
                    sh.failed.load(), sh.dropped.load(), o.connections, connect_s);
        std::printf("published           %" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64 " unanswered, %" PRIu64
                    " skipped (of %" PRIu64 " scheduled; max lag %.2f ms)\n",
                    ps.ok, ps.failed, ps.sent - ps.ok - ps.failed, skipped, total, static_cast<double>(ps.max_lag_ns) / 1e6);
        if (!ps.first_error.empty()) std::printf("first publish error %s\n", ps.first_error.c_str());
        std::printf("delivered           %" PRIu64 " of %" PRIu64 " expected (%.2f%%)\n", delivered, expected,
                    expected ? 100.0 * static_cast<double>(delivered) / static_cast<double>(expected) : 0.0);
        std::printf("delivered events/s  %.0f (over %.2f s)\n", delivered_per_s, window_s);
        std::printf("latency ms          p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", pct(lat, 50), pct(lat, 90), pct(lat, 99),
                    lat.empty() ? 0.0 : lat.back() / 1000.0);
        if (rss_per_conn)
            std::printf("server RSS          %ld KiB -> %ld KiB: %.2f KiB per idle connection\n", *rss_before, *rss_connected,
                        *rss_per_conn);
        if (cpu_server0 && cpu_server1)
            std::printf("cpu s (publish)     server %.2f, client %.2f, machine busy %.2f\n", *cpu_server1 - *cpu_server0,
                        cpu_self1 - cpu_self0, busy0 && busy1 ? busy1->busy - busy0->busy : 0.0);
        if (!slow.empty())
            std::printf("slow consumers      %zu stalled + %zu trickling, %zu connected, %zu closed by the server\n",
                        o.stalled, o.trickle, sh.slow_connected.load(), sh.slow_closed_by_server.load());
        if (!o.targeted)
            std::printf("streams             %zu open at the end: %zu got every event, %zu none\n", live_at_end, with_all,
                        with_none);
        else
            std::printf("targeted            %" PRIu64 " expected: %" PRIu64 " exactly once, %" PRIu64 " missing, %" PRIu64
                        " duplicated; %" PRIu64 " misdelivered\n",
                        t_expected, t_once, t_missing, t_duplicated, t_misdelivered);
        for (const auto& [why, n] : sh.errors) std::printf("error               %zu x %s\n", n, why.c_str());
    }
    return 0;
}
