#include "store/redis_asio.hpp"

#include <cctype>

namespace ssebus::server::store::redis {

// What one hiredis context waits on. hiredis frees the context, and closes its descriptor,
// after calling cleanup: cleanup releases the descriptor from Asio (which cancels the waits)
// so that it is closed once, by hiredis. The handlers of those waits hold the Socket, and so
// does the Socket itself until the context is gone, since hiredis calls the disconnect
// callback after cleanup.
struct Connection::Socket {
    Socket(net::io_context& io, Connection* owner, redisAsyncContext* ac) : descriptor(io), owner(owner), ctx(ac) {}

    net::posix::stream_descriptor descriptor;
    Connection* owner;
    redisAsyncContext* ctx;  // null once hiredis cleaned up
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
    bool freeing = false;     // we asked hiredis to free it: its disconnect is not a loss
    std::string reason;       // why it was freed, for the commands still waiting
    std::shared_ptr<Socket> self;
};

std::string lower_first(std::string text) {
    if (!text.empty() && text.size() > 1 && std::islower(static_cast<unsigned char>(text[1])))
        text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    return text;
}

Connection::Connection(net::io_context& io, std::string host, unsigned short port, std::chrono::milliseconds timeout)
    : io_(io), host_(std::move(host)), port_(port), timeout_(timeout), timer_(io) {}

Connection::~Connection() {
    connect_done_ = nullptr;
    close("the connection is closing");
    if (socket_) socket_->owner = nullptr;
    timer_.cancel();
}

void Connection::connect(std::function<void(const std::string&)> done, std::function<void(const std::string&)> lost) {
    close("reconnecting");
    connect_done_ = std::move(done);
    lost_ = std::move(lost);
    redisAsyncContext* ac = redisAsyncConnect(host_.c_str(), port_);
    if (ac == nullptr || ac->err) {
        const std::string why = ac ? lower_first(ac->errstr) : "out of memory";
        if (ac) redisAsyncFree(ac);  // no hooks set yet: nothing else runs
        net::post(io_, [d = std::move(connect_done_), why] { d(why); });
        return;
    }
    auto s = std::make_shared<Socket>(io_, this, ac);
    s->self = s;
    s->descriptor.assign(ac->c.fd);
    socket_ = s;
    ctx_ = ac;
    connected_ = false;
    ac->data = s.get();
    ac->ev.data = s.get();
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    // Last: hiredis waits for the first write event, through the hooks above, to see the
    // connection established.
    redisAsyncSetConnectCallback(ac, on_connect);
    deadlines_.push_back(std::chrono::steady_clock::now() + timeout_);
    arm_timer();
}

void Connection::on_connect(const redisAsyncContext* ac, int status) {
    auto* s = static_cast<Socket*>(ac->data);
    auto* self = s->owner;
    if (self == nullptr || self->socket_.get() != s) return;
    if (!self->deadlines_.empty()) self->deadlines_.pop_front();
    auto done = std::move(self->connect_done_);
    self->connect_done_ = nullptr;
    if (status != REDIS_OK) {
        // hiredis frees the context after this returns.
        const std::string why = lower_first(ac->errstr);
        self->ctx_ = nullptr;
        s->freeing = true;
        if (done) net::post(self->io_, [done, why] { done(why); });
        return;
    }
    self->connected_ = true;
    if (done) net::post(self->io_, [done] { done({}); });
}

void Connection::on_disconnect(const redisAsyncContext* ac, int /*status*/) {
    auto* s = static_cast<Socket*>(ac->data);
    auto* self = s->owner;
    if (self == nullptr || self->socket_.get() != s) return;
    self->ctx_ = nullptr;
    self->connected_ = false;
    self->deadlines_.clear();
    if (s->freeing) return;
    const std::string why = ac->err ? lower_first(ac->errstr) : "the connection closed";
    if (self->lost_) net::post(self->io_, [lost = self->lost_, why] { lost(why); });
}

void Connection::command(const std::vector<std::string>& args, ReplyDone done, std::chrono::milliseconds extra) {
    if (!connected()) {
        net::post(io_, [done = std::move(done)] { done(nullptr, "not connected"); });
        return;
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (auto& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
    }
    auto* call = new Call{std::move(done), this};
    if (redisAsyncCommandArgv(ctx_, on_reply, call, static_cast<int>(argv.size()), argv.data(), lengths.data()) != REDIS_OK) {
        net::post(io_, [d = std::move(call->done)] { d(nullptr, "the connection is closing"); });
        delete call;
        return;
    }
    deadlines_.push_back(std::chrono::steady_clock::now() + timeout_ + extra);
    arm_timer();
}

void Connection::on_reply(redisAsyncContext* ac, void* r, void* privdata) {
    std::unique_ptr<Call> call(static_cast<Call*>(privdata));
    auto* s = static_cast<Socket*>(ac->data);
    auto* reply = static_cast<redisReply*>(r);
    if (reply == nullptr) {
        // The context is being freed: answered later, outside hiredis.
        std::string why = !s->reason.empty() ? s->reason : ac->err ? lower_first(ac->errstr) : "the connection closed";
        net::post(s->descriptor.get_executor(), [d = std::move(call->done), why] { d(nullptr, why); });
        return;
    }
    if (auto* self = s->owner; self && self->socket_.get() == s && !self->deadlines_.empty())
        self->deadlines_.pop_front();
    if (reply->type == REDIS_REPLY_ERROR) {
        call->done(nullptr, std::string(reply->str, reply->len));
        return;
    }
    call->done(reply, {});
}

void Connection::close(const std::string& reason) {
    connected_ = false;
    deadlines_.clear();
    if (auto done = std::move(connect_done_)) {
        connect_done_ = nullptr;
        net::post(io_, [done, reason] { done(reason); });
    }
    if (ctx_ == nullptr) return;
    auto* ac = ctx_;
    ctx_ = nullptr;
    socket_->freeing = true;
    socket_->reason = reason;
    // Inside a hiredis callback the context is freed when the callback returns.
    redisAsyncFree(ac);
}

void Connection::fail(const std::string& reason) {
    if (ctx_ == nullptr) return;
    const bool was_connected = connected_;
    close(reason);  // a connection still being made: its done gets the reason
    if (was_connected && lost_) net::post(io_, [lost = lost_, reason] { lost(reason); });
}

void Connection::arm_timer() {
    if (timer_armed_ || deadlines_.empty()) return;
    timer_armed_ = true;
    timer_.expires_at(deadlines_.front());
    timer_.async_wait([this](error_code ec) {
        // Cancelled only by the destructor: `this` may be gone.
        if (ec) return;
        timer_armed_ = false;
        on_timer();
    });
}

void Connection::on_timer() {
    if (deadlines_.empty()) return;
    if (deadlines_.front() <= std::chrono::steady_clock::now()) {
        fail(connected_ ? "no answer within " + std::to_string(timeout_.count()) + " ms"
                        : "no connection within " + std::to_string(timeout_.count()) + " ms");
        return;
    }
    arm_timer();
}

void Connection::wait_read() {
    auto s = socket_;
    if (!s || s->reading || !s->want_read || s->ctx == nullptr) return;
    s->reading = true;
    s->descriptor.async_wait(net::posix::stream_descriptor::wait_read, [s](error_code ec) {
        s->reading = false;
        if (ec || s->ctx == nullptr) return;
        redisAsyncHandleRead(s->ctx);
        if (s->ctx && s->owner && s->owner->socket_ == s) s->owner->wait_read();
    });
}

void Connection::wait_write() {
    auto s = socket_;
    if (!s || s->writing || !s->want_write || s->ctx == nullptr) return;
    s->writing = true;
    s->descriptor.async_wait(net::posix::stream_descriptor::wait_write, [s](error_code ec) {
        s->writing = false;
        if (ec || s->ctx == nullptr) return;
        redisAsyncHandleWrite(s->ctx);
        if (s->ctx && s->owner && s->owner->socket_ == s) s->owner->wait_write();
    });
}

void Connection::add_read(void* data) {
    auto* s = static_cast<Socket*>(data);
    s->want_read = true;
    if (s->owner && s->owner->socket_.get() == s) s->owner->wait_read();
}

void Connection::del_read(void* data) { static_cast<Socket*>(data)->want_read = false; }

void Connection::add_write(void* data) {
    auto* s = static_cast<Socket*>(data);
    s->want_write = true;
    if (s->owner && s->owner->socket_.get() == s) s->owner->wait_write();
}

void Connection::del_write(void* data) { static_cast<Socket*>(data)->want_write = false; }

void Connection::cleanup(void* data) {
    auto* s = static_cast<Socket*>(data);
    s->want_read = s->want_write = false;
    s->ctx = nullptr;
    // hiredis closes the descriptor: Asio lets go of it (cancelling the waits) and never closes it.
    error_code ignored;
    s->descriptor.cancel(ignored);
    s->descriptor.release();
    // Alive until hiredis has finished with the context (its disconnect callback comes next).
    net::post(s->descriptor.get_executor(), [keep = std::move(s->self)] {});
}

}  // namespace ssebus::server::store::redis
