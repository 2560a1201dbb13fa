#include "demo.hpp"

#include <array>
#include <atomic>
#include <random>

namespace ssebus::server {

// ---------------------------------------------------------------- stream generators

struct StreamGenerators::Generator {
    Generator(net::strand<net::any_io_executor>& strand, std::string id, std::chrono::milliseconds every)
        : id(std::move(id)), every(every), timer(strand) {}
    std::string id;
    std::chrono::milliseconds every;
    net::steady_timer timer;
    std::string status = "stopped";  // running | paused | stopped
    std::uint64_t sent = 0;
    std::uint64_t generation = 0;    // a stop/start invalidates ticks already scheduled
};

namespace {

struct StreamSpec {
    const char* id;
    std::chrono::milliseconds every;
};
constexpr std::array<StreamSpec, 4> demo_streams{{
    {"default", std::chrono::milliseconds(2000)},
    {"system", std::chrono::milliseconds(3000)},
    {"user-activity", std::chrono::milliseconds(2500)},
    {"notifications", std::chrono::milliseconds(5000)},
}};

std::mt19937& rng() {
    thread_local std::mt19937 gen{std::random_device{}()};
    return gen;
}

template <typename T, std::size_t N>
const T& pick(const std::array<T, N>& items) {
    return items[std::uniform_int_distribution<std::size_t>(0, N - 1)(rng())];
}

Event demo_event(const std::string& stream, std::uint64_t n, std::size_t clients) {
    static const std::array<std::string, 5> users{"ana", "ben", "chen", "dara", "eli"};
    static const std::array<std::string, 4> actions{"signed in", "watched a video", "liked a video", "left a comment"};
    static const std::array<std::string, 3> levels{"info", "success", "warning"};
    Event e;
    e.stream = stream;
    if (stream == "system") {
        const int cpu = std::uniform_int_distribution<int>(3, 65)(rng());
        e.name = "system:metrics";
        e.message = "CPU " + std::to_string(cpu) + "%, " + std::to_string(clients) + " clients";
        e.data = nlohmann::json{{"cpu", cpu}, {"clients", clients}, {"sequence", n}}.dump();
    } else if (stream == "user-activity") {
        const auto& user = pick(users);
        const auto& action = pick(actions);
        e.name = "user:activity";
        e.message = user + " " + action;
        e.data = nlohmann::json{{"user", user}, {"action", action}, {"sequence", n}}.dump();
    } else if (stream == "notifications") {
        const auto& level = pick(levels);
        e.name = "notification";
        e.message = "Notification #" + std::to_string(n);
        e.data = nlohmann::json{{"level", level}, {"sequence", n}}.dump();
    } else {
        e.name = "tick";
        e.message = "Tick #" + std::to_string(n) + " on " + stream;
        e.data = nlohmann::json{{"sequence", n}}.dump();
    }
    return e;
}

}  // namespace

StreamGenerators::StreamGenerators(net::any_io_executor executor, Hub& hub)
    : strand_(net::make_strand(executor)), hub_(hub) {
    for (const auto& s : demo_streams) generators_.emplace(s.id, std::make_shared<Generator>(strand_, s.id, s.every));
}

StreamGenerators::~StreamGenerators() = default;

bool StreamGenerators::known(const std::string& stream) {
    for (const auto& s : demo_streams)
        if (stream == s.id) return true;
    return false;
}

std::optional<std::string> StreamGenerators::control(const std::string& stream, std::string_view action,
                                                     std::string& error) {
    std::lock_guard lock(mutex_);
    const auto it = generators_.find(stream);
    if (it == generators_.end()) {
        error = "unknown stream '" + stream + "'; the demo streams are default, system, user-activity, notifications";
        return std::nullopt;
    }
    auto& g = it->second;
    if (action == "start") {
        if (g->status != "running") {
            if (g->status == "stopped") g->sent = 0;
            g->status = "running";
            ++g->generation;
            schedule(g);
        }
    } else if (action == "stop") {
        g->status = "stopped";
        ++g->generation;
        net::post(strand_, [g] { g->timer.cancel(); });
    } else if (action == "pause") {
        if (g->status == "running") g->status = "paused";
    } else if (action == "resume") {
        if (g->status == "paused") g->status = "running";
        else if (g->status == "stopped") {
            error = "stream '" + stream + "' is stopped; start it instead";
            return std::nullopt;
        }
    } else {
        error = "unknown action '" + std::string(action) + "'; use start, stop, pause or resume";
        return std::nullopt;
    }
    return g->status;
}

void StreamGenerators::start_all() {
    std::string ignored;
    for (const auto& s : demo_streams) control(s.id, "start", ignored);
}

void StreamGenerators::stop_all() {
    std::string ignored;
    for (const auto& s : demo_streams) control(s.id, "stop", ignored);
}

nlohmann::json StreamGenerators::list() const {
    const auto stats = hub_.stats();
    nlohmann::json out = nlohmann::json::array();
    std::lock_guard lock(mutex_);
    for (const auto& s : demo_streams) {
        const auto& g = generators_.at(s.id);
        const auto clients = stats.clients_by_stream.count(s.id) ? stats.clients_by_stream.at(s.id) : 0;
        out.push_back({{"id", g->id}, {"status", g->status}, {"events_sent", g->sent},
                       {"interval_ms", g->every.count()}, {"clients", clients}});
    }
    return out;
}

// Called with mutex_ held.
void StreamGenerators::schedule(const std::shared_ptr<Generator>& g) {
    const auto generation = g->generation;
    net::post(strand_, [this, g, generation] {
        g->timer.expires_after(g->every);
        g->timer.async_wait([this, g, generation](error_code ec) {
            if (ec) return;
            {
                std::lock_guard lock(mutex_);
                if (g->generation != generation || g->status == "stopped") return;
            }
            tick(g);
            std::lock_guard lock(mutex_);
            if (g->generation == generation && g->status != "stopped") schedule(g);
        });
    });
}

void StreamGenerators::tick(const std::shared_ptr<Generator>& g) {
    std::uint64_t n;
    {
        std::lock_guard lock(mutex_);
        if (g->status != "running") return;  // paused: the clock runs, nothing is sent
        n = ++g->sent;
    }
    hub_.publish(demo_event(g->id, n, hub_.subscriber_count()));
}

// ---------------------------------------------------------------- pipeline

struct Pipeline::Job {
    Job(net::strand<net::any_io_executor>& strand, std::string id, std::string fail)
        : video_id(std::move(id)), fail_stage(std::move(fail)), timer(strand) {}
    std::string video_id;
    std::string fail_stage;
    net::steady_timer timer;
    int stage = 0;
    int progress = 0;
    std::atomic<bool> cancelled{false};  // set by stop_all() on any thread, read on the strand
};

namespace {

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

}  // namespace

Pipeline::Pipeline(net::any_io_executor executor, Hub& hub, mux::VideoStore& videos, std::chrono::milliseconds step)
    : strand_(net::make_strand(executor)), hub_(hub), videos_(videos), step_(step) {}

bool Pipeline::start(const std::string& video_id, const std::string& fail_stage) {
    std::shared_ptr<Job> job;
    {
        std::lock_guard lock(mutex_);
        if (jobs_.count(video_id)) return false;
        job = std::make_shared<Job>(strand_, video_id, fail_stage);
        jobs_.emplace(video_id, job);
    }
    videos_.upsert(video_id, {{"status", "processing"}});
    net::post(strand_, [this, job] { step(job); });
    return true;
}

std::optional<nlohmann::json> Pipeline::last_update(const std::string& video_id) const {
    std::lock_guard lock(mutex_);
    const auto it = last_.find(video_id);
    if (it == last_.end()) return std::nullopt;
    return it->second;
}

void Pipeline::stop_all() {
    std::lock_guard lock(mutex_);
    for (auto& [_, job] : jobs_) {
        job->cancelled = true;
        net::post(strand_, [job = job] { job->timer.cancel(); });  // (clang before 16 cannot capture a structured binding)
    }
}

void Pipeline::publish(const std::shared_ptr<Job>& job, const std::string& event_type, const std::string& status,
                       const std::string& message, int progress) {
    nlohmann::json data{{"videoId", job->video_id}, {"eventType", event_type}, {"status", status},
                        {"message", message}, {"progress", progress}, {"timestamp", iso8601(now_ms())}};
    {
        std::lock_guard lock(mutex_);
        last_[job->video_id] = data;
        if (last_.size() > 10'000) last_.erase(last_.begin());
    }
    hub_.publish({.name = "video_update", .data = data.dump(), .stream = stream_of(job->video_id), .message = message});
}

void Pipeline::step(const std::shared_ptr<Job>& job) {
    if (job->cancelled) return;
    auto finish = [&] {
        std::lock_guard lock(mutex_);
        jobs_.erase(job->video_id);
    };
    if (job->stage >= static_cast<int>(stages.size())) {
        const auto record = videos_.upsert(job->video_id, {{"status", "ready"}});
        publish(job, "video_status_update", "ready", "Video is ready", 100);
        hub_.notify_all("video:status:ready", record);
        hub_.notify_all("video:updated", record);
        return finish();
    }
    const Stage& stage = stages[static_cast<std::size_t>(job->stage)];
    if (job->fail_stage == stage.name && job->progress >= 50) {
        const auto record = videos_.upsert(job->video_id, {{"status", "errored"}});
        publish(job, "video_error", "error", std::string("Failed while ") + stage.name, job->progress);
        hub_.notify_all("video:status:updated", record);
        hub_.notify_all("video:updated", record);
        return finish();
    }
    publish(job, stage.event_type, stage.name,
            std::string(1, static_cast<char>(std::toupper(stage.name[0]))) + (stage.name + 1) + " " +
                std::to_string(job->progress) + "%",
            job->progress);
    job->progress += stage.step;
    if (job->progress > 100) {
        ++job->stage;
        job->progress = 0;
    }
    job->timer.expires_after(step_);
    job->timer.async_wait([this, job](error_code ec) {
        if (!ec) step(job);
    });
}

// ---------------------------------------------------------------- uploads

struct Uploads::Upload {
    Upload(net::strand<net::any_io_executor>& strand, std::string id, std::string filename, Target target)
        : id(std::move(id)), filename(std::move(filename)), target(std::move(target)), timer(strand) {}
    std::string id;
    std::string filename;
    Target target;
    net::steady_timer timer;
    int progress = -1;  // -1: not started
    std::atomic<bool> cancelled{false};  // set by stop_all() on any thread, read on the strand
};

Uploads::Uploads(net::any_io_executor executor, Hub& hub, mux::VideoStore& videos, std::chrono::milliseconds step)
    : strand_(net::make_strand(executor)), hub_(hub), videos_(videos), step_(step) {}

std::string Uploads::start(const std::string& filename, Target target) {
    std::shared_ptr<Upload> upload;
    {
        std::lock_guard lock(mutex_);
        upload = std::make_shared<Upload>(strand_, "upload-" + std::to_string(next_++), filename, std::move(target));
        uploads_.emplace(upload->id, upload);
    }
    net::post(strand_, [this, upload] { step(upload); });
    return upload->id;
}

void Uploads::stop_all() {
    std::lock_guard lock(mutex_);
    for (auto& [_, u] : uploads_) {
        u->cancelled = true;
        net::post(strand_, [u = u] { u->timer.cancel(); });  // (clang before 16 cannot capture a structured binding)
    }
}

void Uploads::step(const std::shared_ptr<Upload>& u) {
    if (u->cancelled) return;
    auto send = [&](std::string name, nlohmann::json data) {
        hub_.publish({.name = std::move(name), .data = data.dump(), .target = u->target});
    };
    if (u->progress < 0) {
        send("video:upload:started", {{"uploadId", u->id}, {"filename", u->filename}});
        u->progress = 0;
    } else if (u->progress < 100) {
        u->progress = std::min(100, u->progress + 10);
        send("video:upload:progress", {{"uploadId", u->id}, {"filename", u->filename}, {"progress", u->progress}});
    } else {
        const std::string video_id = "video-" + u->id.substr(std::string("upload-").size()) + "-" +
                                     std::to_string(now_ms() % 100000);
        const auto record = videos_.upsert(video_id, {{"status", "preparing"}, {"uploadId", u->id},
                                                      {"title", u->filename}});
        send("video:upload:completed", {{"uploadId", u->id}, {"filename", u->filename}, {"videoId", video_id}});
        hub_.notify_all("video:created", record);
        std::lock_guard lock(mutex_);
        uploads_.erase(u->id);
        return;
    }
    u->timer.expires_after(step_);
    u->timer.async_wait([this, u](error_code ec) {
        if (!ec) step(u);
    });
}

}  // namespace ssebus::server
