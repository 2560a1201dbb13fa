// ssebus-floor: the physical floor of SSE fan-out on this machine.
//
// What any fan-out server must at least do for one delivery: one write() of an SSE frame
// (~200 bytes) to one loopback TCP socket, and, on the client side, one read() woken by
// epoll. This program does only that, with nothing else around it (no HTTP, no queues, no
// timers, no allocation per delivery), and reports the cost in µs per delivery:
//
//   writer  CPU (getrusage user + sys) / (N x E)   comparable to a server's own CPU per delivery
//   writer + reader CPU / (N x E)                  what the pair costs the machine
//   wall time per delivery of the write loop alone, and of write + read
//
// Two processes (fork): the writer holds the listener and the N server-side sockets, the reader
// the N client-side ones, so each holds N descriptors and N = 10,000 fits an open-files limit
// of 20,000 (one process holding both ends would need 2N + a few). Loopback TCP does the
// receiving side's protocol work in the sender's system call (softirq on the same CPU), so
// the writer's CPU time holds it, as a server's does.
//
// Events go out in lock step by default: the writer writes event k to every socket, then
// waits until the reader has read all N frames of it before writing event k + 1, so every
// read finds one frame: the situation of a low publish rate, where nothing amortises.
// --pipeline writes the events back to back instead (reads then gather several frames).
//
// The reader connects from source addresses 127.0.0.1..127.0.0.K (--source-ips, bound with
// IP_BIND_ADDRESS_NO_PORT) so that 10,000+ connections stay clear of one address's ephemeral
// ports. Every phase is bounded (--timeout); loopback only.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::size_t connections = 10'000;
    std::size_t events = 50;
    std::size_t frame_bytes = 200;
    unsigned source_ips = 8;
    unsigned timeout_s = 120;
    bool pipeline = false;
    bool json = false;
};

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "ssebus-floor: %s\n", why.c_str());
    std::exit(2);
}

[[noreturn]] void die_errno(const std::string& what) { die(what + ": " + std::strerror(errno)); }

std::size_t parse_count(std::string_view flag, const char* v, std::size_t lo, std::size_t hi) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        die(std::string(flag) + " must be a whole number in " + std::to_string(lo) + ".." + std::to_string(hi) +
            ", not '" + v + "'");
    return static_cast<std::size_t>(n);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) die(std::string(a) + " needs a value");
            return argv[++i];
        };
        if (a == "--connections") o.connections = parse_count(a, value(), 1, 1'000'000);
        else if (a == "--events") o.events = parse_count(a, value(), 1, 1'000'000);
        else if (a == "--frame-bytes") o.frame_bytes = parse_count(a, value(), 16, 65'536);
        else if (a == "--source-ips") o.source_ips = static_cast<unsigned>(parse_count(a, value(), 1, 254));
        else if (a == "--timeout") o.timeout_s = static_cast<unsigned>(parse_count(a, value(), 1, 3600));
        else if (a == "--pipeline") o.pipeline = true;
        else if (a == "--json") o.json = true;
        else if (a == "-h" || a == "--help") {
            std::printf(
                "ssebus-floor [--connections N=10000] [--events E=50] [--frame-bytes B=200] [--source-ips K=8]\n"
                "             [--pipeline] [--timeout S=120] [--json]\n"
                "Writes E frames of B bytes to each of N loopback TCP connections (writer and reader in two\n"
                "processes) and prints the CPU and wall µs per delivery.\n");
            std::exit(0);
        } else {
            die("unknown argument: " + std::string(a) + " (try --help)");
        }
    }
    return o;
}

double cpu_seconds(const rusage& r) {
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

double self_cpu() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return cpu_seconds(r);
}

// Busy time of the whole machine (every CPU, all but idle and iowait), in seconds.
double machine_busy() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    if (!(f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu") return -1;
    return static_cast<double>(user + nice + system + irq + softirq + steal) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void write_all(int fd, const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n) {
        const ssize_t w = ::write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die_errno("control pipe write");
        c += w;
        n -= static_cast<std::size_t>(w);
    }
}

// Blocks until n bytes arrived; false on end of file.
bool read_all(int fd, void* p, std::size_t n) {
    char* c = static_cast<char*>(p);
    while (n) {
        const ssize_t r = ::read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die_errno("control pipe read");
        if (r == 0) return false;
        c += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

void set_nonblocking(int fd) {
    const int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die_errno("fcntl O_NONBLOCK");
}

// What the reader sends back at the end.
struct ReaderReport {
    double cpu_s = 0;          // its CPU time over the event phase
    double last_read_s = 0;    // from the writer's start signal to the last byte read
    std::uint64_t bytes = 0;   // every byte read
    std::uint64_t reads = 0;   // read() calls that returned data
    std::uint64_t wakes = 0;   // epoll_wait returns
    std::uint64_t short_fds = 0;  // connections that did not get every frame
    char error[160] = {};
};

// ------------------------------------------------------------------ the reader (child)

// Connects N sockets to the writer's port, then reads until every one has E frames. Sends one
// byte on `ack` each time a whole event has arrived on every socket (lock step), then the report.
[[noreturn]] void reader(const Options& o, std::uint16_t port, int go, int ack) {
    ReaderReport rep;
    auto fail = [&](const std::string& why) {
        std::snprintf(rep.error, sizeof rep.error, "%s", why.c_str());
        const char tag = 'E';
        write_all(ack, &tag, 1);
        write_all(ack, &rep, sizeof rep);
        std::_Exit(1);
    };
    std::vector<int> fds;
    fds.reserve(o.connections);
    for (std::size_t i = 0; i < o.connections; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) fail(std::string("socket: ") + std::strerror(errno));
        int one = 1;
        ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in src{};
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000001u + static_cast<std::uint32_t>(i % o.source_ips));
        if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) < 0) fail(std::string("bind: ") + std::strerror(errno));
        sockaddr_in dst{};
        dst.sin_family = AF_INET;
        dst.sin_addr.s_addr = htonl(0x7f000001u);
        dst.sin_port = htons(port);
        // Blocking: loopback completes the handshake into the accept queue, which the writer drains.
        if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) < 0)
            fail("connect #" + std::to_string(i) + ": " + std::strerror(errno));
        set_nonblocking(fd);
        fds.push_back(fd);
    }
    const int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) fail(std::string("epoll_create1: ") + std::strerror(errno));
    for (std::size_t i = 0; i < fds.size(); ++i) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) fail(std::string("epoll_ctl: ") + std::strerror(errno));
    }
    const char ready = 'R';
    write_all(ack, &ready, 1);

    char start = 0;
    if (!read_all(go, &start, 1)) std::_Exit(1);
    const auto t0 = Clock::now();
    const double cpu0 = self_cpu();
    std::vector<std::uint64_t> got(fds.size(), 0);
    const std::uint64_t per_event = static_cast<std::uint64_t>(o.frame_bytes) * fds.size();
    const std::uint64_t total = per_event * o.events;
    std::uint64_t next_ack = per_event;
    std::vector<epoll_event> evs(1024);
    std::vector<char> buf(65'536);
    while (rep.bytes < total) {
        const int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 1000);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(std::string("epoll_wait: ") + std::strerror(errno));
        ++rep.wakes;
        for (int k = 0; k < n; ++k) {
            const auto i = evs[static_cast<std::size_t>(k)].data.u64;
            for (;;) {
                const ssize_t r = ::read(fds[i], buf.data(), buf.size());
                if (r > 0) {
                    ++rep.reads;
                    got[i] += static_cast<std::uint64_t>(r);
                    rep.bytes += static_cast<std::uint64_t>(r);
                    if (static_cast<std::size_t>(r) < buf.size()) break;  // drained: no second read for EAGAIN
                    continue;
                }
                if (r < 0 && errno == EINTR) continue;
                if (r < 0 && errno == EAGAIN) break;
                fail(r == 0 ? "a connection ended early" : std::string("read: ") + std::strerror(errno));
            }
        }
        while (!o.pipeline && rep.bytes >= next_ack && next_ack <= total) {
            const char tick = 'A';
            write_all(ack, &tick, 1);
            next_ack += per_event;
        }
    }
    rep.last_read_s = seconds_since(t0);
    rep.cpu_s = self_cpu() - cpu0;
    for (auto g : got)
        if (g != static_cast<std::uint64_t>(o.frame_bytes) * o.events) ++rep.short_fds;
    const char tag = 'D';
    write_all(ack, &tag, 1);
    write_all(ack, &rep, sizeof rep);
    std::_Exit(0);
}

// ------------------------------------------------------------------ the writer (parent)

// One SSE frame of exactly `bytes` bytes: id, event, and a JSON data line padded to size.
std::string make_frame(std::size_t bytes) {
    std::string f = "id: 1764000000000000\nevent: bench:tick\ndata: {\"ts\":1764000000000000000,\"seq\":1,\"pad\":\"";
    const std::string tail = "\"}\n\n";
    if (f.size() + tail.size() < bytes) f.append(bytes - f.size() - tail.size(), 'x');
    f += tail;
    if (f.size() > bytes) f = std::string(bytes - 2, 'x') + "\n\n";  // tiny frames: no SSE fields
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);

    // Each process holds N sockets plus a few descriptors.
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < o.connections + 32)
        die("the open-files limit is " + std::to_string(rl.rlim_cur) + " (hard limit), below connections + 32 = " +
            std::to_string(o.connections + 32) + ": lower --connections");

    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0) die_errno("socket");
    int one = 1;
    ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(0x7f000001u);
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die_errno("bind 127.0.0.1:0");
    if (::listen(lfd, 4096) < 0) die_errno("listen");
    socklen_t alen = sizeof addr;
    if (::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen) < 0) die_errno("getsockname");
    const std::uint16_t port = ntohs(addr.sin_port);

    int go[2], ack[2];
    if (::pipe2(go, O_CLOEXEC) < 0 || ::pipe2(ack, O_CLOEXEC) < 0) die_errno("pipe");
    const pid_t child = ::fork();
    if (child < 0) die_errno("fork");
    if (child == 0) {
        ::close(lfd);
        ::close(go[1]);
        ::close(ack[0]);
        alarm(o.timeout_s);  // bounded: SIGALRM ends it
        reader(o, port, go[0], ack[1]);
    }
    ::close(go[0]);
    ::close(ack[1]);
    alarm(o.timeout_s);
    auto reap = [&] {
        ::kill(child, SIGKILL);
        ::waitpid(child, nullptr, 0);
    };

    const auto tc0 = Clock::now();
    std::vector<int> fds;
    fds.reserve(o.connections);
    while (fds.size() < o.connections) {
        const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && errno == EINTR) continue;
        if (fd < 0) {
            reap();
            die_errno("accept after " + std::to_string(fds.size()) + " connections");
        }
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fds.push_back(fd);
    }
    char tag = 0;
    if (!read_all(ack[0], &tag, 1) || tag != 'R') {
        ReaderReport rep;
        if (tag == 'E' && read_all(ack[0], &rep, sizeof rep)) {
            reap();
            die(std::string("reader: ") + rep.error);
        }
        reap();
        die("the reader ended before it was ready");
    }
    const double connect_s = seconds_since(tc0);

    const std::string frame = make_frame(o.frame_bytes);
    // A socket whose send buffer was full (only with --pipeline): the rest of its frames
    // are written when epoll says it can take more.
    const int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die_errno("epoll_create1");
    std::vector<std::uint64_t> owed(fds.size(), 0);  // bytes not yet written, per socket
    std::uint64_t eagain = 0, partial = 0;
    auto flush = [&](std::size_t i) -> bool {  // true when nothing is owed any more
        while (owed[i]) {
            // Every frame is the same bytes: the offset into the current one follows from what is owed.
            const std::size_t off = (frame.size() - static_cast<std::size_t>(owed[i] % frame.size())) % frame.size();
            const std::size_t len = frame.size() - off;
            const ssize_t w = ::write(fds[i], frame.data() + off, len);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0 && errno == EAGAIN) {
                ++eagain;
                return false;
            }
            if (w < 0) {
                reap();
                die_errno("write");
            }
            if (static_cast<std::size_t>(w) < len) ++partial;
            owed[i] -= static_cast<std::uint64_t>(w);
        }
        return true;
    };

    const double busy0 = machine_busy();
    const double cpu0 = self_cpu();
    const auto t0 = Clock::now();
    const char start = 'G';
    write_all(go[1], &start, 1);
    double write_s = 0;  // the write loops alone
    std::vector<std::size_t> pending;
    for (std::size_t e = 0; e < o.events; ++e) {
        const auto tw = Clock::now();
        for (std::size_t i = 0; i < fds.size(); ++i) {
            const bool was_owed = owed[i] != 0;
            owed[i] += frame.size();
            if (was_owed) continue;  // already waiting for EPOLLOUT
            if (!flush(i)) {
                epoll_event ev{};
                ev.events = EPOLLOUT | EPOLLONESHOT;
                ev.data.u64 = i;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0 && (errno != EEXIST || epoll_ctl(ep, EPOLL_CTL_MOD, fds[i], &ev) < 0)) {
                    reap();
                    die_errno("epoll_ctl");
                }
                pending.push_back(i);
            }
        }
        write_s += seconds_since(tw);
        if (!o.pipeline) {
            if (!pending.empty()) {
                reap();
                die("a send buffer filled up in lock step: the reader is not reading");
            }
            if (!read_all(ack[0], &tag, 1) || tag != 'A') break;  // the reader failed: its report says why
        }
    }
    // Whatever is still owed (--pipeline only).
    std::vector<epoll_event> evs(1024);
    while (!pending.empty()) {
        const int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 1000);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            reap();
            die_errno("epoll_wait");
        }
        for (int k = 0; k < n; ++k) {
            const auto i = static_cast<std::size_t>(evs[static_cast<std::size_t>(k)].data.u64);
            if (!flush(i)) {
                epoll_event ev{};
                ev.events = EPOLLOUT | EPOLLONESHOT;
                ev.data.u64 = i;
                epoll_ctl(ep, EPOLL_CTL_MOD, fds[i], &ev);
            }
        }
        std::erase_if(pending, [&](std::size_t i) { return owed[i] == 0; });
    }
    const double writer_cpu = self_cpu() - cpu0;

    // Lock step leaves the last ack unread only when the reader failed; the pipeline sends none.
    ReaderReport rep;
    for (bool have_tag = tag == 'E';; have_tag = false) {  // 'E': the reader failed mid-way, its report follows
        if (!have_tag && !read_all(ack[0], &tag, 1)) {
            reap();
            die("the reader ended without a report");
        }
        if (tag == 'A') continue;
        if (!read_all(ack[0], &rep, sizeof rep)) {
            reap();
            die("the reader's report was cut short");
        }
        break;
    }
    const double total_wall = seconds_since(t0);
    const double busy1 = machine_busy();
    int status = 0;
    ::waitpid(child, &status, 0);
    if (tag == 'E') die(std::string("reader: ") + rep.error);
    // The reader's CPU time, by its own count, over the same phase.
    const double reader_cpu = rep.cpu_s;
    const double deliveries = static_cast<double>(o.connections) * static_cast<double>(o.events);
    const double other = busy0 >= 0 && busy1 >= 0 ? std::max(0.0, (busy1 - busy0) - writer_cpu - reader_cpu) : -1;
    const double wall_total = std::max(total_wall, rep.last_read_s);

    const double us = 1e6 / deliveries;
    if (o.json) {
        std::printf(
            "{\"connections\":%zu,\"events\":%zu,\"frame_bytes\":%zu,\"mode\":\"%s\",\"deliveries\":%.0f,"
            "\"connect_seconds\":%.3f,\"writer_cpu_seconds\":%.4f,\"reader_cpu_seconds\":%.4f,"
            "\"write_cpu_us_per_delivery\":%.4f,\"write_read_cpu_us_per_delivery\":%.4f,"
            "\"write_wall_us_per_delivery\":%.4f,\"write_read_wall_us_per_delivery\":%.4f,"
            "\"bytes_read\":%llu,\"reads\":%llu,\"reader_wakes\":%llu,\"short_connections\":%llu,"
            "\"eagain\":%llu,\"partial_writes\":%llu,\"measure_seconds\":%.4f,\"other_cpu_seconds\":%.4f}\n",
            o.connections, o.events, frame.size(), o.pipeline ? "pipeline" : "lockstep", deliveries, connect_s,
            writer_cpu, reader_cpu, writer_cpu * us, (writer_cpu + reader_cpu) * us, write_s * us, wall_total * us,
            static_cast<unsigned long long>(rep.bytes), static_cast<unsigned long long>(rep.reads),
            static_cast<unsigned long long>(rep.wakes), static_cast<unsigned long long>(rep.short_fds),
            static_cast<unsigned long long>(eagain), static_cast<unsigned long long>(partial), wall_total, other);
    } else {
        std::printf("connections          %zu (%.2f s to connect), %zu events of %zu bytes, %s\n", o.connections, connect_s,
                    o.events, frame.size(), o.pipeline ? "pipelined" : "in lock step");
        std::printf("write                CPU %.3f µs / delivery, wall %.3f µs / delivery (writer CPU %.3f s)\n",
                    writer_cpu * us, write_s * us, writer_cpu);
        std::printf("write + read         CPU %.3f µs / delivery, wall %.3f µs / delivery (reader CPU %.3f s)\n",
                    (writer_cpu + reader_cpu) * us, wall_total * us, reader_cpu);
        std::printf("reader               %llu bytes in %llu reads, %llu wakes; %llu connections short\n",
                    static_cast<unsigned long long>(rep.bytes), static_cast<unsigned long long>(rep.reads),
                    static_cast<unsigned long long>(rep.wakes), static_cast<unsigned long long>(rep.short_fds));
        if (other >= 0) std::printf("other load           %.2f cores\n", other / wall_total);
    }
    return rep.short_fds == 0 && rep.bytes == static_cast<std::uint64_t>(deliveries) * frame.size() ? 0 : 1;
}
