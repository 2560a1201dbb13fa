// One line per event worth telling an operator; shutdown noise is filtered out.
#pragma once

#include <string_view>

#include "net.hpp"

namespace ssebus::server {

void set_quiet(bool quiet) noexcept;
void log_info(std::string_view message);
// Reports a failed asynchronous step, unless it is the expected noise of a closing socket.
void fail(error_code ec, std::string_view what);

}  // namespace ssebus::server
