#include "listener.hpp"

#include <system_error>

#include "log.hpp"

namespace ssebus::server {

Listener::Listener(std::vector<net::io_context*> shards, const tcp::endpoint& endpoint, Handler on_connection)
    : shards_(std::move(shards)), acceptor_(*shards_.at(0)), backoff_(acceptor_.get_executor()),
      on_connection_(std::move(on_connection)) {
    const auto where = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
    error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) throw std::system_error(ec, "cannot open a socket for " + where);
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    acceptor_.bind(endpoint, ec);
    if (ec) throw std::system_error(ec, "cannot listen on " + where);
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) throw std::system_error(ec, "cannot listen on " + where);
}

Listener::Listener(net::io_context& ioc, const tcp::endpoint& endpoint, std::function<void(tcp::socket&&)> on_connection)
    : Listener(std::vector<net::io_context*>{&ioc}, endpoint,
               [on_connection = std::move(on_connection)](tcp::socket&& socket, std::size_t) {
                   on_connection(std::move(socket));
               }) {
    strands_ = true;
}

void Listener::run() {
    net::dispatch(acceptor_.get_executor(), beast::bind_front_handler(&Listener::do_accept, shared_from_this()));
}

void Listener::stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
        error_code ignored;
        self->backoff_.cancel();
        self->acceptor_.close(ignored);
    });
}

tcp::endpoint Listener::local_endpoint() const {
    error_code ec;
    return acceptor_.local_endpoint(ec);
}

void Listener::do_accept() {
    auto on_accept = beast::bind_front_handler(&Listener::on_accept, shared_from_this());
    if (strands_) return acceptor_.async_accept(net::make_strand(*shards_[0]), std::move(on_accept));
    // Each connection goes to the next shard, where it stays.
    accepting_on_ = next_;
    next_ = (next_ + 1) % shards_.size();
    acceptor_.async_accept(*shards_[accepting_on_], std::move(on_accept));
}

void Listener::on_accept(error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
        fail(ec, "accept");
        // Out of descriptors or buffers: wait for some to be freed, then go on accepting.
        backoff_.expires_after(std::chrono::milliseconds(50));
        backoff_.async_wait([self = shared_from_this()](error_code wait_ec) {
            if (!wait_ec) self->do_accept();
        });
        return;
    }
    on_connection_(std::move(socket), accepting_on_);
    do_accept();
}

}  // namespace ssebus::server
