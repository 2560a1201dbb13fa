// One HTTP connection: reads requests (bounded in size and time), answers them through the
// router (now, or later from any thread), and hands the socket to an SseSession when a
// request opens a stream.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config.hpp"
#include "hub.hpp"
#include "net.hpp"
#include "routes.hpp"

namespace ssebus::server {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
public:
    HttpSession(tcp::socket&& socket, Router& router, Hub& hub, const Config& config);
    void run();

private:
    void do_read();
    void on_read(error_code ec, std::size_t bytes);
    void send(Response res);
    void on_write(bool keep_alive, error_code ec, std::size_t bytes);
    void start_stream(SseStart start);
    void do_close();

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<RequestParser> parser_;
    std::shared_ptr<Response> response_;  // kept alive while it is written
    Router& router_;
    Hub& hub_;
    const Config& config_;
    std::string remote_;
};

}  // namespace ssebus::server
