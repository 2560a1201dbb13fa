// What the web demo shows happening: stream generators, a simulated video processing
// pipeline and simulated uploads. Each is an ordinary publisher to the hub.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "hub.hpp"
#include "mux.hpp"
#include "net.hpp"

namespace ssebus::server {

// The demo streams `default`, `system`, `user-activity` and `notifications`, each publishing
// {id, type, message, data, timestamp, stream_id} events at its own pace.
class StreamGenerators {
public:
    StreamGenerators(net::any_io_executor executor, Hub& hub);
    ~StreamGenerators();

    static bool known(const std::string& stream);
    // action: start | stop | pause | resume. Returns the new status, or nullopt for an
    // unknown stream or action (`error` says which).
    std::optional<std::string> control(const std::string& stream, std::string_view action, std::string& error);
    void start_all();
    void stop_all();
    nlohmann::json list() const;

private:
    struct Generator;
    void schedule(const std::shared_ptr<Generator>& g);
    void tick(const std::shared_ptr<Generator>& g);

    net::strand<net::any_io_executor> strand_;
    Hub& hub_;
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Generator>> generators_;
};

// POST /videos/{id}/process: downloading -> transcoding -> uploading -> ready, as
// `video_update` events on the stream "video/<id>", with the record kept in the store.
class Pipeline {
public:
    Pipeline(net::any_io_executor executor, Hub& hub, mux::VideoStore& videos, std::chrono::milliseconds step);

    static std::string stream_of(const std::string& video_id) { return "video/" + video_id; }
    // False when the video is already being processed. `fail_stage` simulates an error there.
    bool start(const std::string& video_id, const std::string& fail_stage);
    // The last update of a video, for a client that connects mid-way.
    std::optional<nlohmann::json> last_update(const std::string& video_id) const;
    void stop_all();

private:
    struct Job;
    void step(const std::shared_ptr<Job>& job);
    void publish(const std::shared_ptr<Job>& job, const std::string& event_type, const std::string& status,
                 const std::string& message, int progress);

    net::strand<net::any_io_executor> strand_;
    Hub& hub_;
    mux::VideoStore& videos_;
    std::chrono::milliseconds step_;
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Job>> jobs_;
    std::map<std::string, nlohmann::json> last_;
};

// POST /api/uploads: video:upload:started, video:upload:progress {progress 0..100},
// video:upload:completed, then the new video's video:created.
class Uploads {
public:
    Uploads(net::any_io_executor executor, Hub& hub, mux::VideoStore& videos, std::chrono::milliseconds step);
    // Returns the upload id.
    std::string start(const std::string& filename, Target target);
    void stop_all();

private:
    struct Upload;
    void step(const std::shared_ptr<Upload>& upload);

    net::strand<net::any_io_executor> strand_;
    Hub& hub_;
    mux::VideoStore& videos_;
    std::chrono::milliseconds step_;
    std::mutex mutex_;
    std::uint64_t next_ = 1;
    std::map<std::string, std::shared_ptr<Upload>> uploads_;
};

}  // namespace ssebus::server
