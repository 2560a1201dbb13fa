#include <algorithm>
#include <chrono>

#include "store/event_log.hpp"

namespace ssebus::server::store {

namespace {

std::uint64_t clock_us() {
    using namespace std::chrono;
    return static_cast<std::uint64_t>(duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace

Numbering::Numbering(std::optional<std::uint64_t> first_id)
    : last_(first_id ? *first_id - 1 : clock_us() - 1),
      origin_(first_id ? *first_id : last_ + 1) {}

void Numbering::continue_after(std::uint64_t newest) noexcept {
    last_ = std::max(last_, newest);
}

std::uint64_t Numbering::next() noexcept {
    return ++last_;
}

}  // namespace ssebus::server::store
