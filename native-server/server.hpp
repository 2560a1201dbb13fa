// The whole server in one object: I/O threads, the hub, the demo publishers, the routes and
// the listener. main.cpp and the tests start it the same way.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <condition_variable>
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
    explicit Server(Config config);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds and starts the threads. Throws std::system_error when it cannot listen.
    void start();
    // Stops accepting, closes every stream after a final comment, and returns when the
    // threads have ended (within about 2 s, whatever the clients do). Idempotent.
    void stop();

    unsigned short port() const;
    const Config& config() const { return app_.config; }
    Hub& hub() { return hub_; }
    mux::VideoStore& videos() { return videos_; }
    StreamGenerators& generators() { return generators_; }

private:
    net::io_context ioc_;
    net::executor_work_guard<net::io_context::executor_type> work_;
    Hub hub_;
    mux::VideoStore videos_;
    StreamGenerators generators_;
    Pipeline pipeline_;
    Uploads uploads_;
    App app_;
    Router router_;
    std::shared_ptr<Listener> listener_;
    std::vector<std::thread> threads_;
    std::mutex stop_mutex_;
    bool stopped_ = false;
};

}  // namespace ssebus::server
