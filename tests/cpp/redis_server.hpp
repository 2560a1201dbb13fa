// A redis-server of a test's own: on 127.0.0.1 and a free port, in a temporary directory,
// killed and waited for when the test ends (and by the kernel if the test process dies).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "server_support.hpp"
#include "store/event_log.hpp"

namespace test {

class RedisServer {
public:
    // `aof`: appendonly yes (appendfsync always), so that a restart keeps everything.
    explicit RedisServer(bool aof = false) : aof_(aof), port_(free_port()) { start(); }
    ~RedisServer() { stop(); }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    unsigned short port() const { return port_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    ssebus::server::store::RedisOptions options(std::string key = "ssebus:test") const {
        return {.host = "127.0.0.1", .port = port_, .key = std::move(key), .timeout = std::chrono::milliseconds(2'000)};
    }

    // Starts it (again, on the same port and directory) and waits until it answers.
    void start() {
        if (pid_ > 0) return;
        const auto port = std::to_string(port_);
        const auto dir = dir_.path.string();
        std::vector<std::string> args{"redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", dir,
                                      "--save", "", "--appendonly", aof_ ? "yes" : "no", "--appendfsync", "always",
                                      "--daemonize", "no", "--logfile", (dir_.path / "redis.log").string()};
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv("/usr/bin/redis-server", argv.data());
            ::_exit(127);
        }
        if (!eventually([&] { return cli("PING") == "PONG"; }, std::chrono::milliseconds(10'000)))
            throw std::runtime_error("redis-server did not start on port " + port);
    }

    // SIGKILL (a crash) and wait for it.
    void kill() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = 0;
    }
    void stop() { kill(); }

    // redis-cli's answer to one command (its output without the trailing newline).
    std::string cli(const std::string& command) const {
        const auto line = "redis-cli -h 127.0.0.1 -p " + std::to_string(port_) + " " + command + " 2>/dev/null";
        std::string out;
        if (FILE* p = ::popen(line.c_str(), "r")) {
            char buffer[4096];
            while (std::size_t n = std::fread(buffer, 1, sizeof buffer, p)) out.append(buffer, n);
            ::pclose(p);
        }
        while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
        return out;
    }

private:
    static unsigned short free_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        socklen_t len = sizeof addr;
        ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        ::close(fd);
        return ntohs(addr.sin_port);
    }

    TempDir dir_;
    bool aof_;
    unsigned short port_;
    pid_t pid_ = 0;
};

}  // namespace test
