// Jobs that advance one step per tick, on one strand, until they finish or stop_all()
// cancels them: the skeleton the demo pipeline and the simulated uploads share.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "net.hpp"

namespace ssebus::server {

class TimedJobs {
public:
    // One step of a job, run on the strand. It returns true to run again after the
    // interval, false when the job is done.
    using Step = std::function<bool()>;

    TimedJobs(net::any_io_executor executor, std::chrono::milliseconds every);

    // Runs `step` now (posted to the strand), then every interval while it returns true.
    // False, and nothing runs, when a job with this id is still running.
    bool start(const std::string& id, Step step);
    // Called by a job's step before it publishes that it is done: from then on a job with
    // the same id may start (the step still returns false).
    void finish(const std::string& id);
    // Cancels every job: none runs another step. Idempotent, from any thread.
    void stop_all();
    bool running_job(const std::string& id) const;

private:
    struct Job;
    void run(const std::shared_ptr<Job>& job);

    net::strand<net::any_io_executor> strand_;
    std::chrono::milliseconds every_;
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Job>> jobs_;
};

}  // namespace ssebus::server
