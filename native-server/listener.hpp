// Accepts connections and hands each to an HttpSession on the next shard, round robin: the
// connection is accepted onto that shard's io_context, which one thread runs, so it needs no
// strand. Unlike Beast's example, a failed bind is reported to the caller, and transient
// accept errors (EMFILE and friends) pause the loop briefly instead of ending it.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "net.hpp"

namespace ssebus::server {

class Listener : public std::enable_shared_from_this<Listener> {
public:
    // The connection, and the index in `shards` of the io_context its socket is on.
    using Handler = std::function<void(tcp::socket&&, std::size_t shard)>;

    // Opens, binds and listens, on shards[0]; throws std::system_error saying what failed.
    Listener(std::vector<net::io_context*> shards, const tcp::endpoint& endpoint, Handler on_connection);
    // One io_context that any number of threads run: each connection gets a strand of it
    // instead of a shard.
    Listener(net::io_context& ioc, const tcp::endpoint& endpoint, std::function<void(tcp::socket&&)> on_connection);

    void run();
    void stop();
    tcp::endpoint local_endpoint() const;

private:
    void do_accept();
    void on_accept(error_code ec, tcp::socket socket);

    std::vector<net::io_context*> shards_;
    std::size_t next_ = 0;  // the shard of the next connection
    std::size_t accepting_on_ = 0;
    bool strands_ = false;  // the second constructor's
    tcp::acceptor acceptor_;
    net::steady_timer backoff_;
    Handler on_connection_;
};

}  // namespace ssebus::server
