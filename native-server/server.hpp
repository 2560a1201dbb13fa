// The whole server in one object: I/O threads, the hub, the demo publishers, the routes and
// the listener. main.cpp and the tests start it the same way. Each I/O thread runs a shard of
// its own, an io_context, and each connection stays on the shard that accepted it; shard 0
// also runs the listeners, the demo publishers, the pipeline and the uploads.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "demo.hpp"
#include "hub.hpp"
#include "listener.hpp"
#include "mux.hpp"
#include "net.hpp"
#include "routes.hpp"

namespace ssebus::server {

class Server {
public:
    // Makes up the secrets that are not given (kept in config.data_dir when it is set).
    // Throws ConfigError when the data directory cannot be created or written. `log`, when
    // given, is used instead of the one config.store names (tests drive a log of their own).
    explicit Server(Config config, std::unique_ptr<store::Log> log = nullptr);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Resolves the address, binds every address it names and starts the threads. Throws
    // ConfigError for settings that cannot work (a name that does not resolve, --demo on a
    // public address without demo_public_key, a missing static dir), std::system_error when
    // it cannot listen.
    void start();
    // Stops accepting, closes every stream after a final comment, and returns when the
    // threads have ended (within about 2 s, whatever the clients do). Idempotent.
    void stop();

    unsigned short port() const;
    // One URL per address listened on: http://127.0.0.1:8080, http://[::1]:8080.
    std::vector<std::string> urls() const;
    // The names of the secrets made up by this run ("jwt_secret", "publisher_key",
    // "mux_secret"), and those read back from the data directory.
    const std::vector<std::string>& generated_secrets() const { return generated_; }
    const std::vector<std::string>& kept_secrets() const { return kept_; }
    const Config& config() const { return app_.config; }
    Hub& hub() { return hub_; }

private:
    Config prepare(Config config);
    // The log config.store names; throws ConfigError when it cannot be opened.
    static std::unique_ptr<store::Log> open_log(const Config& config);

    std::vector<std::string> generated_;
    std::vector<std::string> kept_;
    // One per I/O thread (config.threads), each run by its thread alone.
    std::vector<std::unique_ptr<net::io_context>> shards_;
    std::vector<net::executor_work_guard<net::io_context::executor_type>> work_;
    Hub hub_;
    mux::VideoStore videos_;
    StreamGenerators generators_;
    Pipeline pipeline_;
    Uploads uploads_;
    App app_;
    Router router_;
    std::vector<std::shared_ptr<Listener>> listeners_;
    std::vector<std::thread> threads_;
    std::mutex stop_mutex_;
    bool stopped_ = false;
};

}  // namespace ssebus::server
