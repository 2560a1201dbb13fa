#include "pipeline.hpp"

#include <array>
#include <cctype>
#include <memory>
#include <random>

#include "event.hpp"

namespace ssebus::server {

struct Pipeline::Job {
    std::string video_id;
    std::string fail_stage;
    int stage = 0;
    int progress = 0;
};

namespace {

// An event to every client, without waiting for its commit (an I/O thread runs this).
void notify_all(Hub& hub, std::string name, const nlohmann::json& record) {
    hub.publish({.name = std::move(name), .data = record.dump(), .target = {Target::Kind::all, {}}}, PublishDone{});
}

struct Stage {
    const char* name;        // "downloading"
    const char* event_type;  // "video_downloading"
    int step;                // progress per tick
};
constexpr std::array<Stage, 3> stages{{
    {"downloading", "video_downloading", 25},
    {"transcoding", "video_transcoding", 20},
    {"uploading", "video_uploading", 25},
}};

// Seconds, with a tenth: what Mux reports once it has read the file.
double simulated_duration() {
    thread_local std::mt19937 gen{std::random_device{}()};
    return std::uniform_int_distribution<int>(150, 6000)(gen) / 10.0;
}

}  // namespace

Pipeline::Pipeline(net::any_io_executor executor, Hub& hub, mux::VideoStore& videos, std::chrono::milliseconds step)
    : hub_(hub), videos_(videos), jobs_(std::move(executor), step) {}

bool Pipeline::start(const std::string& video_id, const std::string& fail_stage) {
    if (jobs_.running_job(video_id)) return false;
    // Before the first step, which may run at once; a second start of the same video in
    // between finds the record already processing and is refused below.
    videos_.upsert(video_id, {{"status", "processing"}});
    auto job = std::make_shared<Job>(Job{.video_id = video_id, .fail_stage = fail_stage});
    return jobs_.start(video_id, [this, job] { return step(*job); });
}

std::optional<nlohmann::json> Pipeline::last_update(const std::string& video_id) const {
    std::lock_guard lock(mutex_);
    const auto it = last_.find(video_id);
    if (it == last_.end()) return std::nullopt;
    return it->second;
}

void Pipeline::publish(const Job& job, const std::string& event_type, const std::string& status,
                       const std::string& message, int progress) {
    nlohmann::json data{{"videoId", job.video_id}, {"eventType", event_type}, {"status", status},
                        {"message", message}, {"progress", progress}, {"timestamp", iso8601(now_ms())}};
    {
        std::lock_guard lock(mutex_);
        last_[job.video_id] = data;
        if (last_.size() > 10'000) last_.erase(last_.begin());
    }
    // Fire and forget, in order (the log applies appends in order): no I/O thread waits for
    // a commit.
    hub_.publish({.name = "video_update", .data = data.dump(), .stream = stream_of(job.video_id), .message = message},
                 PublishDone{});
}

bool Pipeline::step(Job& job) {
    if (job.stage >= static_cast<int>(stages.size())) {
        nlohmann::json fields{{"status", "ready"}};
        const auto before = videos_.get(job.video_id);
        if (!before || !before->contains("duration") || (*before)["duration"].is_null())
            fields["duration"] = simulated_duration();
        const auto record = videos_.upsert(job.video_id, fields);
        jobs_.finish(job.video_id);  // a client that hears "ready" may process the video again
        publish(job, "video_status_update", "ready", "Video is ready", 100);
        notify_all(hub_, "video:status:ready", record);
        notify_all(hub_, "video:updated", record);
        return false;
    }
    const Stage& stage = stages[static_cast<std::size_t>(job.stage)];
    if (job.fail_stage == stage.name && job.progress >= 50) {
        const auto record = videos_.upsert(job.video_id, {{"status", "errored"}});
        jobs_.finish(job.video_id);
        publish(job, "video_error", "error", std::string("Failed while ") + stage.name, job.progress);
        notify_all(hub_, "video:status:updated", record);
        notify_all(hub_, "video:updated", record);
        return false;
    }
    publish(job, stage.event_type, stage.name,
            std::string(1, static_cast<char>(std::toupper(stage.name[0]))) + (stage.name + 1) + " " +
                std::to_string(job.progress) + "%",
            job.progress);
    job.progress += stage.step;
    if (job.progress > 100) {
        ++job.stage;
        job.progress = 0;
    }
    return true;
}

}  // namespace ssebus::server
