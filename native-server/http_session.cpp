#include "http_session.hpp"

#include "log.hpp"
#include "sse_session.hpp"

namespace ssebus::server {

HttpSession::HttpSession(tcp::socket&& socket, Router& router, Hub& hub, const Config& config)
    : HttpSession(std::move(socket), std::nullopt, router, hub, config) {}

HttpSession::HttpSession(tcp::socket&& socket, std::optional<std::size_t> shard, Router& router, Hub& hub,
                         const Config& config)
    : stream_(std::move(socket)), shard_(shard), router_(router), hub_(hub), config_(config), lag_timer_(stream_.get_executor()) {
    error_code ec;
    const auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
}

void HttpSession::run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpSession::do_read, shared_from_this()));
}

void HttpSession::do_read() {
    parser_.emplace();
    limit_request(*parser_, config_.body_limit);
    // The whole request must arrive within the timeout: a client that trickles its header
    // (slowloris) or idles on keep-alive is dropped.
    stream_.expires_after(config_.header_timeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

void HttpSession::on_read(error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) return do_close();
    // A request Beast could not parse gets a JSON answer before the connection closes.
    if (auto res = unparsable_request(ec, config_.body_limit)) {
        router_.count(res->result());
        return send(std::move(*res));
    }
    if (ec) return fail(ec, "read");

    Request req = parser_->release();
    // A deferred answer comes from any thread; it is written here, on this session's strand.
    // Until then nothing more is read, so pipelined requests are answered in order.
    auto later = [self = shared_from_this()](Response res) {
        net::post(self->stream_.get_executor(), [self, res = std::move(res)]() mutable { self->send(std::move(res)); });
    };
    auto outcome = router_.handle(req, remote_, std::move(later));
    if (auto* res = std::get_if<Response>(&outcome)) return send(std::move(*res));
    if (auto* start = std::get_if<SseStart>(&outcome)) {
        if (hub_.lags_behind(start->last_event_id)) return wait_for_log(std::move(*start), req);
        return start_stream(std::move(*start));
    }
    // Deferred: however long the answer takes, the read's deadline no longer applies.
    stream_.expires_never();
}

void HttpSession::start_stream(SseStart start) {
    const SseLimits limits{config_.queue_max_bytes, config_.queue_max_events, config_.heartbeat,
                           config_.stream_max_age, config_.stream_send_buffer};
    // The stream takes the plain socket; the read's deadline goes with the tcp_stream.
    stream_.expires_never();
    auto session = std::make_shared<SseSession>(stream_.release_socket(), shard_, hub_, std::move(start.subscription),
                                                std::move(start.ticket), limits);
    session->run(std::move(start.head), start.last_event_id, std::move(start.preamble));
    // This HTTP session ends here; the stream owns the socket now.
}

void HttpSession::wait_for_log(SseStart start, const Request& req) {
    waiting_ = std::move(start);
    waiting_head_.base() = req.base();
    stream_.expires_never();
    lag_timer_.expires_after(hub_.lag_wait());
    lag_timer_.async_wait(beast::bind_front_handler(&HttpSession::on_lag_timeout, shared_from_this()));
    // Woken on the thread that applied the id: back to this strand.
    wait_ticket_ = hub_.wait_for_applied(*waiting_->last_event_id, [self = shared_from_this()](bool applied) {
        net::post(self->stream_.get_executor(), [self, applied] { self->on_caught_up(applied); });
    });
}

void HttpSession::on_caught_up(bool applied) {
    if (!waiting_) return;
    lag_timer_.cancel();
    // (Woken by an apply just before the server began to close its streams: not served either.)
    if (applied && !hub_.closing()) {
        auto start = std::move(*waiting_);
        waiting_.reset();
        start_stream(std::move(start));
        hub_.end_wait();  // the stream is the hub's now (or has ended)
        return;
    }
    // The server is stopping: the stream is not served, and gives its place back now, while
    // the hub is there to take it.
    waiting_.reset();
    hub_.end_wait();
    refuse_waiting(http::status::service_unavailable, "the server is stopping");
}

void HttpSession::refuse_waiting(http::status status, std::string_view error) {
    auto res = json_error(waiting_head_, status, error);
    res.set(http::field::retry_after, "1");
    apply_cors(res, waiting_head_, config_.cors_origins);
    router_.count(res.result());
    send(std::move(res));
}

void HttpSession::on_lag_timeout(error_code ec) {
    if (ec || !waiting_) return;
    if (!hub_.cancel_wait(wait_ticket_)) return;  // woken meanwhile: on_caught_up is on its way
    const auto& c = waiting_->subscription->client;
    SSEBUS_LOG(warn, "stream refused: this server lags behind the others", {"status", 503}, {"client", c.client_id},
               {"route", c.route}, {"remote", c.remote}, {"last_event_id", *waiting_->last_event_id},
               {"ms", hub_.lag_wait().count()});
    waiting_.reset();  // the user's place is free for the retry
    hub_.end_wait();
    refuse_waiting(http::status::service_unavailable, "this server is behind the others; retry");
}

void HttpSession::send(Response res) {
    const bool keep_alive = res.keep_alive();
    response_ = std::make_shared<Response>(std::move(res));
    // A client that does not take its answer within the timeout is dropped.
    stream_.expires_after(config_.header_timeout);
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&HttpSession::on_write, shared_from_this(), keep_alive));
}

void HttpSession::on_write(bool keep_alive, error_code ec, std::size_t) {
    response_.reset();
    if (ec) return fail(ec, "write");
    if (!keep_alive) return do_close();
    do_read();
}

void HttpSession::do_close() {
    error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace ssebus::server
