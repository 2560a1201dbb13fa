// Accepts connections and hands each to an HttpSession on its own strand. Unlike Beast's
// example, a failed bind is reported to the caller, and transient accept errors (EMFILE
// and friends) pause the loop briefly instead of ending it.
#pragma once

#include <functional>
#include <memory>

#include "net.hpp"

namespace ssebus::server {

class Listener : public std::enable_shared_from_this<Listener> {
public:
    using Handler = std::function<void(tcp::socket&&)>;

    // Opens, binds and listens; throws std::system_error saying what failed.
    Listener(net::io_context& ioc, const tcp::endpoint& endpoint, Handler on_connection);

    void run();
    void stop();
    tcp::endpoint local_endpoint() const;

private:
    void do_accept();
    void on_accept(error_code ec, tcp::socket socket);

    net::io_context& ioc_;
    tcp::acceptor acceptor_;
    net::steady_timer backoff_;
    Handler on_connection_;
};

}  // namespace ssebus::server
