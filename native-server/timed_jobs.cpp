#include "timed_jobs.hpp"

namespace ssebus::server {

struct TimedJobs::Job {
    Job(net::strand<net::any_io_executor>& strand, std::string id, Step step)
        : id(std::move(id)), step(std::move(step)), timer(strand) {}
    std::string id;
    Step step;
    net::steady_timer timer;
    std::atomic<bool> cancelled{false};  // set by stop_all() on any thread, read on the strand
};

TimedJobs::TimedJobs(net::any_io_executor executor, std::chrono::milliseconds every)
    : strand_(net::make_strand(executor)), every_(every) {}

bool TimedJobs::start(const std::string& id, Step step) {
    std::shared_ptr<Job> job;
    {
        std::lock_guard lock(mutex_);
        if (jobs_.count(id)) return false;
        job = std::make_shared<Job>(strand_, id, std::move(step));
        jobs_.emplace(id, job);
    }
    net::post(strand_, [this, job] { run(job); });
    return true;
}

void TimedJobs::stop_all() {
    std::lock_guard lock(mutex_);
    for (auto& [_, job] : jobs_) {
        job->cancelled = true;
        net::post(strand_, [job = job] { job->timer.cancel(); });  // (clang before 16 cannot capture a structured binding)
    }
}

void TimedJobs::finish(const std::string& id) {
    std::lock_guard lock(mutex_);
    jobs_.erase(id);
}

bool TimedJobs::running_job(const std::string& id) const {
    std::lock_guard lock(mutex_);
    return jobs_.count(id) != 0;
}

void TimedJobs::run(const std::shared_ptr<Job>& job) {
    if (job->cancelled) return;
    if (!job->step()) {
        std::lock_guard lock(mutex_);
        // (Unless the step finished it and a new job of the same id has started since.)
        if (const auto it = jobs_.find(job->id); it != jobs_.end() && it->second == job) jobs_.erase(it);
        return;
    }
    job->timer.expires_after(every_);
    job->timer.async_wait([this, job](error_code ec) {
        if (!ec) run(job);
    });
}

}  // namespace ssebus::server
