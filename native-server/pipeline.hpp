// POST /videos/{id}/process: downloading -> transcoding -> uploading -> ready, as
// `video_update` events on the stream "video/<id>", with the record kept in the store.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "hub.hpp"
#include "mux.hpp"
#include "net.hpp"
#include "timed_jobs.hpp"

namespace ssebus::server {

class Pipeline {
public:
    Pipeline(net::any_io_executor executor, Hub& hub, mux::VideoStore& videos, std::chrono::milliseconds step);

    static std::string stream_of(const std::string& video_id) { return "video/" + video_id; }
    // False when the video is already being processed. `fail_stage` simulates an error there.
    // A video that reaches ready without a duration (an upload) gets one, as Mux would give it.
    bool start(const std::string& video_id, const std::string& fail_stage);
    // The last update of a video, for a client that connects mid-way.
    std::optional<nlohmann::json> last_update(const std::string& video_id) const;
    void stop_all() { jobs_.stop_all(); }

private:
    struct Job;
    bool step(Job& job);
    void publish(const Job& job, const std::string& event_type, const std::string& status, const std::string& message,
                 int progress);

    Hub& hub_;
    mux::VideoStore& videos_;
    TimedJobs jobs_;
    mutable std::mutex mutex_;
    std::map<std::string, nlohmann::json> last_;
};

}  // namespace ssebus::server
