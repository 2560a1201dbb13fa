#include "demo_streams.hpp"

#include <array>
#include <random>

#include "log.hpp"

namespace ssebus::server {

struct StreamGenerators::Generator {
    Generator(net::strand<net::any_io_executor>& strand, std::string id, std::chrono::milliseconds every)
        : id(std::move(id)), every(every), timer(strand) {}
    std::string id;
    std::chrono::milliseconds every;
    net::steady_timer timer;
    GeneratorStatus status = GeneratorStatus::stopped;
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

std::string_view to_string(GeneratorStatus status) noexcept {
    switch (status) {
        case GeneratorStatus::running: return "running";
        case GeneratorStatus::paused: return "paused";
        case GeneratorStatus::stopped: return "stopped";
    }
    return "stopped";
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
    const auto before = g->status;
    if (action == "start") {
        if (g->status != GeneratorStatus::running) {
            if (g->status == GeneratorStatus::stopped) g->sent = 0;
            g->status = GeneratorStatus::running;
            ++g->generation;
            schedule(g);
        }
    } else if (action == "stop") {
        g->status = GeneratorStatus::stopped;
        ++g->generation;
        net::post(strand_, [g] { g->timer.cancel(); });
    } else if (action == "pause") {
        if (g->status == GeneratorStatus::running) g->status = GeneratorStatus::paused;
    } else if (action == "resume") {
        if (g->status == GeneratorStatus::paused) g->status = GeneratorStatus::running;
        else if (g->status == GeneratorStatus::stopped) {
            error = "stream '" + stream + "' is stopped; start it instead";
            return std::nullopt;
        }
    } else {
        error = "unknown action '" + std::string(action) + "'; use start, stop, pause or resume";
        return std::nullopt;
    }
    if (g->status != before)
        SSEBUS_LOG(debug, "generator", {"id", stream}, {"action", action}, {"status", to_string(g->status)});
    return std::string(to_string(g->status));
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
        out.push_back({{"id", g->id}, {"status", to_string(g->status)}, {"events_sent", g->sent},
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
                if (g->generation != generation || g->status == GeneratorStatus::stopped) return;
            }
            tick(g);
            std::lock_guard lock(mutex_);
            if (g->generation == generation && g->status != GeneratorStatus::stopped) schedule(g);
        });
    });
}

void StreamGenerators::tick(const std::shared_ptr<Generator>& g) {
    std::uint64_t n;
    {
        std::lock_guard lock(mutex_);
        if (g->status != GeneratorStatus::running) return;  // paused: the clock runs, nothing is sent
        n = ++g->sent;
    }
    // Fire and forget: an I/O thread does not wait for the commit (a refusal is logged by
    // the store, and the next tick tries again).
    hub_.publish(demo_event(g->id, n, hub_.subscriber_count()), PublishDone{});
}

}  // namespace ssebus::server
