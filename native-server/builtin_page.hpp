// The page served at / when no web demo directory is given: the routes, and live events
// through a plain EventSource.
#pragma once

#include <string_view>

namespace ssebus::server {

std::string_view builtin_page();

}  // namespace ssebus::server
