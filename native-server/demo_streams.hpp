// The demo streams `default`, `system`, `user-activity` and `notifications`, each publishing
// {id, type, message, data, timestamp, stream_id} events at its own pace.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "hub.hpp"
#include "net.hpp"

namespace ssebus::server {

enum class GeneratorStatus { running, paused, stopped };
std::string_view to_string(GeneratorStatus status) noexcept;  // "running", "paused", "stopped"

class StreamGenerators {
public:
    StreamGenerators(net::any_io_executor executor, Hub& hub);
    ~StreamGenerators();

    static bool known(const std::string& stream);
    // action: start | stop | pause | resume. Returns the new status as to_string() spells it,
    // or nullopt for an unknown stream or action (`error` says which).
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

}  // namespace ssebus::server
