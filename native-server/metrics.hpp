// /metrics: the hub's counters, the routes' own counts and the HTTP responses in the
// Prometheus text format.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hub.hpp"

namespace ssebus::server {

struct ResponseCounts {
    std::uint64_t class_2xx = 0, class_4xx = 0, class_5xx = 0;
};

// Counts by event name with bounded cardinality: the first `tracked` names are counted one
// by one and every later name counts as "other"; top() gives the `shown` largest and the
// rest summed as "other", so /metrics never has more than shown + 1 series. Thread-safe.
class NameCounts {
public:
    explicit NameCounts(std::size_t tracked = 256, std::size_t shown = 20) : tracked_(tracked), shown_(shown) {}
    void add(std::string_view name);
    // Largest first (ties by name), then {"other", n} when anything else was counted.
    std::vector<std::pair<std::string, std::uint64_t>> top() const;

private:
    std::size_t tracked_;
    std::size_t shown_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::uint64_t> counts_;
    std::uint64_t untracked_ = 0;
};

using CountsByName = std::vector<std::pair<std::string, std::uint64_t>>;

std::string prometheus_text(const HubStats& stats, const ResponseCounts& responses,
                            const CountsByName& published_by_name = {});

}  // namespace ssebus::server
