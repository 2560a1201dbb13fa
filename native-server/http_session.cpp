#include "http_session.hpp"

#include "log.hpp"
#include "sse_session.hpp"

namespace ssebus::server {

namespace {
constexpr std::uint32_t header_limit = 16 * 1024;
}

HttpSession::HttpSession(tcp::socket&& socket, Router& router, Hub& hub, const Config& config)
    : stream_(std::move(socket)), router_(router), hub_(hub), config_(config) {
    error_code ec;
    const auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
}

void HttpSession::run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpSession::do_read, shared_from_this()));
}

void HttpSession::do_read() {
    parser_.emplace();
    parser_->body_limit(config_.body_limit);
    parser_->header_limit(header_limit);
    // The whole request must arrive within the timeout: a client that trickles its header
    // (slowloris) or idles on keep-alive is dropped.
    stream_.expires_after(config_.header_timeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

void HttpSession::on_read(error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) return do_close();
    // A request Beast could not parse gets a JSON answer before the connection closes.
    const bool bad_request = ec && ec.category() == error_code(http::error::body_limit).category() &&
                             ec != http::error::partial_message;
    if (bad_request) {
        Request req;
        req.version(11);
        req.keep_alive(false);
        const bool body = ec == http::error::body_limit;
        const bool header = ec == http::error::header_limit;
        auto res = json_error(req, body ? http::status::payload_too_large
                                        : header ? http::status::request_header_fields_too_large
                                                 : http::status::bad_request,
                              body ? "the request body is larger than " + std::to_string(config_.body_limit) + " bytes"
                                   : header ? std::string("the request header is too large")
                                            : "malformed HTTP request: " + ec.message());
        res.keep_alive(false);
        router_.count(res.result());
        return send(std::move(res));
    }
    if (ec) return fail(ec, "read");

    Request req = parser_->release();
    auto outcome = router_.handle(req, remote_);
    if (auto* res = std::get_if<Response>(&outcome)) return send(std::move(*res));
    start_stream(req, std::move(std::get<SseStart>(outcome)));
}

void HttpSession::start_stream(const Request& req, SseStart start) {
    auto ticket = hub_.admit(start.subscription->client);
    if (!ticket) return send(router_.too_many_streams(req));
    const SseLimits limits{config_.queue_max_bytes, config_.queue_max_events, config_.heartbeat,
                           config_.stream_max_age};
    auto session = std::make_shared<SseSession>(std::move(stream_), hub_, std::move(start.subscription),
                                                std::move(*ticket), limits);
    session->run(std::move(start.head), start.last_event_id, std::move(start.preamble));
    // This HTTP session ends here; the stream owns the socket now.
}

void HttpSession::send(Response res) {
    const bool keep_alive = res.keep_alive();
    response_ = std::make_shared<Response>(std::move(res));
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
