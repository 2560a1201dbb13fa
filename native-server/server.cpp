#include "server.hpp"

#include <chrono>

#include "crypto.hpp"
#include "http_session.hpp"
#include "log.hpp"

namespace ssebus::server {

namespace {

Config with_secrets(Config c) {
    if (c.jwt_secret.empty()) c.jwt_secret = random_secret();
    if (c.publisher_key.empty()) c.publisher_key = random_secret();
    // The demo signs its simulated Mux webhooks with this run's secret when none is given.
    if (c.demo && c.mux_secret.empty()) c.mux_secret = random_secret();
    if (c.threads == 0) c.threads = 1;
    return c;
}

}  // namespace

Server::Server(Config config)
    : ioc_(static_cast<int>(std::max(1u, config.threads))),
      work_(net::make_work_guard(ioc_)),
      hub_(HubOptions{.history_size = config.history_size, .first_id = config.first_id,
                      .max_streams_per_user = config.max_streams_per_user}),
      generators_(ioc_.get_executor(), hub_),
      pipeline_(ioc_.get_executor(), hub_, videos_, config.demo_step),
      uploads_(ioc_.get_executor(), hub_, videos_, config.demo_step),
      app_{.config = with_secrets(std::move(config)), .hub = hub_, .videos = videos_, .generators = generators_,
           .pipeline = pipeline_, .uploads = uploads_},
      router_(app_) {}

Server::~Server() {
    stop();
}

void Server::start() {
    const auto address = net::ip::make_address(app_.config.address);
    listener_ = std::make_shared<Listener>(ioc_, tcp::endpoint{address, app_.config.port},
                                           [this](tcp::socket&& socket) {
                                               std::make_shared<HttpSession>(std::move(socket), router_, hub_,
                                                                             app_.config)->run();
                                           });
    listener_->run();
    if (app_.config.demo) generators_.start_all();
    for (unsigned i = 0; i < app_.config.threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
}

unsigned short Server::port() const {
    return listener_ ? listener_->local_endpoint().port() : 0;
}

void Server::stop() {
    std::lock_guard lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    if (listener_) listener_->stop();
    generators_.stop_all();
    pipeline_.stop_all();
    uploads_.stop_all();
    hub_.close_all("server shutting down");
    // Streams close once their final comment is written; give slow ones a moment, then
    // stop whatever is left (idle keep-alive connections, stuck writes).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (hub_.subscriber_count() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

}  // namespace ssebus::server
