// One hiredis asynchronous connection, driven by an Asio io_context: hiredis's event hooks
// (addRead, delRead, addWrite, delWrite, cleanup) wait on the connection's descriptor with an
// asio::posix::stream_descriptor, and Asio timers give commands the timeout hiredis 0.14
// lacks. Everything runs on the io_context's one thread; failures arrive through callbacks.
#pragma once

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net.hpp"

namespace ssebus::server::store::redis {

// A command's end: the reply (valid only during the call), or null and why there is none
// (the connection failed or timed out, or Redis answered with an error, whose text it is).
using ReplyDone = std::function<void(const redisReply* reply, const std::string& error)>;

class Connection {
public:
    Connection(net::io_context& io, std::string host, unsigned short port, std::chrono::milliseconds timeout);
    ~Connection();  // on the io_context's thread, or after it stopped
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Connects; `done` runs once with an empty error when connected, or why not. `lost` runs
    // when an established connection ends by itself (Redis went away, a command timed out).
    void connect(std::function<void(const std::string& error)> done, std::function<void(const std::string& error)> lost);
    bool connected() const noexcept { return ctx_ != nullptr && connected_; }

    // Sends a command (its arguments as they are, binary-safe); `done` runs once. With no
    // connection, `done` gets the error later, never inline. `extra` lengthens the timeout
    // (XREAD BLOCK waits on purpose).
    void command(const std::vector<std::string>& args, ReplyDone done,
                 std::chrono::milliseconds extra = std::chrono::milliseconds(0));

    // Drops the connection: every command still waiting gets `reason`. `lost` is not called.
    void close(const std::string& reason);

    std::string address() const { return host_ + ":" + std::to_string(port_); }

private:
    struct Socket;  // the descriptor and what waits on it; outlives the context in handlers
    struct Call {
        ReplyDone done;
        Connection* self;
    };

    static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
    static void on_connect(const redisAsyncContext* ac, int status);
    static void on_disconnect(const redisAsyncContext* ac, int status);
    static void add_read(void* data);
    static void del_read(void* data);
    static void add_write(void* data);
    static void del_write(void* data);
    static void cleanup(void* data);

    void wait_read();
    void wait_write();
    void arm_timer();
    void on_timer();
    void fail(const std::string& reason);  // frees the context: every waiting command fails

    net::io_context& io_;
    std::string host_;
    unsigned short port_;
    std::chrono::milliseconds timeout_;
    redisAsyncContext* ctx_ = nullptr;
    bool connected_ = false;
    std::shared_ptr<Socket> socket_;
    std::string reason_;  // why the context is being freed, for the commands it fails
    std::function<void(const std::string&)> connect_done_;
    std::function<void(const std::string&)> lost_;
    // When each command sent must be answered by, in sending order (Redis answers in order).
    std::deque<std::chrono::steady_clock::time_point> deadlines_;
    net::steady_timer timer_;
    bool timer_armed_ = false;
};

// "Connection refused" -> "connection refused": hiredis's messages, as our reasons read.
std::string lower_first(std::string text);

}  // namespace ssebus::server::store::redis
