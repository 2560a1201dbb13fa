// The memory log: today's bounded history, lost when the process ends.
#include <algorithm>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "store/event_log.hpp"

namespace ssebus::server::store {

namespace {

class MemoryLog final : public Log {
public:
    MemoryLog(Retention retention, std::optional<std::uint64_t> first_id) : retention_(retention), numbering_(first_id) {
        if (retention_.max_events == 0) retention_.max_events = 1;
    }

    std::string_view kind() const noexcept override { return "memory"; }
    std::string_view durability() const noexcept override { return "none"; }

    void start(Sink sink) override {
        std::lock_guard lock(mutex_);
        apply_ = std::move(sink.apply);
    }

    void stop() override {
        std::lock_guard lock(mutex_);
        stopped_ = true;
    }

    void append(Event event, SteadyTime published_at, AppendDone done) override {
        EventPtr e;
        std::size_t delivered = 0;
        {
            // Numbering and applying under one lock: events reach the hub in id order.
            std::unique_lock lock(mutex_);
            if (stopped_) {
                // As the other logs: nothing is accepted after stop().
                lock.unlock();
                if (done) done(nullptr, 0, "the server is stopping");
                return;
            }
            e = std::make_shared<const PublishedEvent>(numbering_.next(), std::move(event), now_ms(), published_at);
            history_.push_back(e);
            while (history_.size() > retention_.max_events) drop_front();
            trim_by_age();
            auto& latest = latest_[e->event().name];
            latest = e;
            if (latest_.size() > max_latest_types) {
                auto oldest = std::min_element(latest_.begin(), latest_.end(),
                                               [](auto& a, auto& b) { return a.second->id() < b.second->id(); });
                latest_.erase(oldest);
            }
            ++stats_.commits;
            ++stats_.events_committed;
            stats_.batch_max = 1;
            if (apply_) delivered = apply_(e);
        }
        if (done) done(std::move(e), delivered, {});
    }

    std::vector<EventPtr> read_after(std::uint64_t after, std::size_t max) override {
        std::lock_guard lock(mutex_);
        trim_by_age();
        auto it = std::upper_bound(history_.begin(), history_.end(), after,
                                   [](std::uint64_t id, const EventPtr& e) { return id < e->id(); });
        std::vector<EventPtr> out;
        for (; it != history_.end() && out.size() < max; ++it) out.push_back(*it);
        return out;
    }

    std::vector<EventPtr> newest(std::size_t max) override {
        std::lock_guard lock(mutex_);
        trim_by_age();
        const auto n = std::min(max, history_.size());
        return {history_.end() - static_cast<std::ptrdiff_t>(n), history_.end()};
    }

    std::vector<EventPtr> latest_per_type() override {
        std::lock_guard lock(mutex_);
        std::vector<EventPtr> out;
        for (auto& [_, e] : latest_) out.push_back(e);
        std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a->id() < b->id(); });
        return out;
    }

    Window window() override {
        std::lock_guard lock(mutex_);
        trim_by_age();
        return {.earliest = history_.empty() ? 0 : history_.front()->id(),
                .newest = numbering_.last() >= numbering_.origin() ? numbering_.last() : 0,
                .count = history_.size(),
                .dropped_up_to = dropped_up_to_,
                .origin = numbering_.origin()};
    }

    Health health() override { return {}; }

    LogStats stats() override {
        std::lock_guard lock(mutex_);
        return stats_;
    }

    void put_record(std::string_view, const std::string&, std::optional<std::string>) override {}
    std::vector<std::pair<std::string, std::string>> records(std::string_view) override { return {}; }

private:
    void drop_front() {
        dropped_up_to_ = history_.front()->id();
        history_.pop_front();
    }

    void trim_by_age() {
        if (retention_.max_age.count() == 0) return;
        const auto oldest_kept = now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(retention_.max_age).count();
        while (!history_.empty() && history_.front()->timestamp_ms() < oldest_kept) drop_front();
    }

    Retention retention_;
    std::mutex mutex_;
    Numbering numbering_;
    Apply apply_;
    std::deque<EventPtr> history_;
    std::unordered_map<std::string, EventPtr> latest_;
    std::uint64_t dropped_up_to_ = 0;
    bool stopped_ = false;
    LogStats stats_;
};

}  // namespace

std::unique_ptr<Log> make_memory_log(Retention retention, std::optional<std::uint64_t> first_id) {
    return std::make_unique<MemoryLog>(retention, first_id);
}

}  // namespace ssebus::server::store
