#include "log.hpp"

#include <atomic>
#include <iostream>
#include <mutex>

namespace ssebus::server {

namespace {
std::atomic<bool> quiet{false};
std::mutex out_mutex;
}  // namespace

void set_quiet(bool q) noexcept { quiet = q; }

void log_info(std::string_view message) {
    if (quiet) return;
    std::lock_guard lock(out_mutex);
    std::clog << "ssebus-server: " << message << std::endl;
}

void fail(error_code ec, std::string_view what) {
    if (ec == net::error::operation_aborted || ec == beast::error::timeout || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::error::broken_pipe || ec == http::error::end_of_stream ||
        ec == net::error::not_connected || ec == net::error::bad_descriptor)
        return;
    std::lock_guard lock(out_mutex);
    std::clog << "ssebus-server: " << what << ": " << ec.message() << std::endl;
}

}  // namespace ssebus::server
