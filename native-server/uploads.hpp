// POST /api/uploads: video:upload:started, video:upload:progress {progress 0..100},
// video:upload:completed, then the new video's video:created.
#pragma once

#include <chrono>
#include <string>

#include "event.hpp"
#include "hub.hpp"
#include "mux.hpp"
#include "net.hpp"
#include "timed_jobs.hpp"

namespace ssebus::server {

class Uploads {
public:
    Uploads(net::any_io_executor executor, Hub& hub, mux::VideoStore& videos, std::chrono::milliseconds step);
    // Returns the upload id: "upload-" and 16 random hex digits, unique across runs (a new
    // upload never replaces the video of an earlier run's upload).
    std::string start(const std::string& filename, Target target);
    void stop_all() { jobs_.stop_all(); }

private:
    struct Upload;
    bool step(Upload& upload);

    Hub& hub_;
    mux::VideoStore& videos_;
    TimedJobs jobs_;
};

}  // namespace ssebus::server
