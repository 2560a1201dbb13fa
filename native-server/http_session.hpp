// One HTTP connection: reads requests (bounded in size and time), answers them through the
// router (now, or later from any thread), and hands the socket to an SseSession when a
// request opens a stream.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config.hpp"
#include "hub.hpp"
#include "net.hpp"
#include "routes.hpp"

namespace ssebus::server {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
public:
    // `socket`'s executor is shard `shard`'s io_context (one thread): a stream it opens stays there.
    HttpSession(tcp::socket&& socket, std::optional<std::size_t> shard, Router& router, Hub& hub, const Config& config);
    // No shard: `socket`'s executor is a strand, and the hub posts each event to each stream.
    HttpSession(tcp::socket&& socket, Router& router, Hub& hub, const Config& config);
    void run();

private:
    void do_read();
    void on_read(error_code ec, std::size_t bytes);
    void send(Response res);
    void on_write(bool keep_alive, error_code ec, std::size_t bytes);
    void start_stream(SseStart start);
    // A shared log's stream whose Last-Event-ID this server has not applied yet (another
    // server issued it): waits, without a thread, for the hub to apply it, at most the hub's
    // lag_wait; then the stream starts, or the client gets 503 and retries.
    void wait_for_log(SseStart start, const Request& req);
    // Woken by the hub: it applied the id (`applied`), or it is closing every stream.
    void on_caught_up(bool applied);
    void on_lag_timeout(error_code ec);
    // The waiting stream's answer instead: `status` with Retry-After: 1.
    void refuse_waiting(http::status status, std::string_view error);
    void do_close();

    beast::tcp_stream stream_;
    std::optional<std::size_t> shard_;
    beast::flat_buffer buffer_;
    std::optional<RequestParser> parser_;
    std::shared_ptr<Response> response_;  // kept alive while it is written
    Router& router_;
    Hub& hub_;
    const Config& config_;
    std::string remote_;
    std::optional<SseStart> waiting_;  // a stream waiting for the log (wait_for_log)
    Request waiting_head_;             // its request's head, for the 503
    std::uint64_t wait_ticket_ = 0;
    net::steady_timer lag_timer_;
};

}  // namespace ssebus::server
