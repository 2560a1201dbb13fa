// /metrics: the hub's counters and histogram and the HTTP responses in the Prometheus text
// format.
#pragma once

#include <cstdint>
#include <string>

#include "hub.hpp"

namespace ssebus::server {

struct ResponseCounts {
    std::uint64_t class_2xx = 0, class_4xx = 0, class_5xx = 0;
};

std::string prometheus_text(const HubStats& stats, const ResponseCounts& responses);

}  // namespace ssebus::server
