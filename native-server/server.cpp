#include "server.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>

#include "crypto.hpp"
#include "data_dir.hpp"
#include "http_session.hpp"
#include "log.hpp"
#include "store/sqlite.hpp"

namespace ssebus::server {

namespace {

std::string url_of(const tcp::endpoint& endpoint) {
    const auto address = endpoint.address();
    const auto host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
    return "http://" + host + ":" + std::to_string(endpoint.port());
}

// Every address `host` names, in the resolver's order, without duplicates. A literal
// address is taken as it is; a name that does not resolve is a ConfigError.
std::vector<net::ip::address> resolve(const std::string& host) {
    if (host.empty()) throw ConfigError("--address: empty; give an address or a host name, e.g. 127.0.0.1");
    error_code ec;
    const auto literal = net::ip::make_address(host, ec);
    if (!ec) return {literal};
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    const auto results = resolver.resolve(host, "", tcp::resolver::passive, ec);
    if (ec || results.empty())
        throw ConfigError("--address " + host + ": cannot resolve it (" + (ec ? ec.message() : "no address") + ")");
    std::vector<net::ip::address> out;
    for (const auto& r : results) {
        const auto a = r.endpoint().address();
        if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
    }
    return out;
}

// The records a log keeps, as JSON objects (anything else is skipped).
std::vector<std::pair<std::string, nlohmann::json>> parse_records(const store::Log::Records& records) {
    std::vector<std::pair<std::string, nlohmann::json>> out;
    out.reserve(records.size());
    for (const auto& [id, value] : records) {
        auto record = nlohmann::json::parse(value, nullptr, false);
        if (record.is_object()) out.emplace_back(id, std::move(record));
    }
    return out;
}

std::vector<std::unique_ptr<net::io_context>> make_shards(unsigned threads) {
    std::vector<std::unique_ptr<net::io_context>> shards;
    // Not the concurrency hint 1, although one thread runs each: with it, Asio keeps what a
    // shard's own thread posts in a queue of that thread's, which goes behind what other
    // threads posted meanwhile. A replay's page (posted by the stream's thread) could then
    // fall behind a live event the hub posted after it, and the stream would get them out
    // of order.
    for (unsigned i = 0; i < std::max(1u, threads); ++i) shards.push_back(std::make_unique<net::io_context>());
    return shards;
}

std::vector<net::executor_work_guard<net::io_context::executor_type>> guard(
    const std::vector<std::unique_ptr<net::io_context>>& shards) {
    std::vector<net::executor_work_guard<net::io_context::executor_type>> out;
    for (const auto& s : shards) out.push_back(net::make_work_guard(*s));
    return out;
}

}  // namespace

// The secrets not given are made up; with a data directory they are made up once and kept,
// so that tokens and the key survive a restart.
Config Server::prepare(Config c) {
    std::optional<DataDir> dir;
    if (!c.data_dir.empty()) dir.emplace(c.data_dir);
    auto fill = [&](std::string& value, const char* name) {
        if (!value.empty()) return;
        bool generated = true;
        value = dir ? dir->secret(name, generated) : random_secret();
        (generated ? generated_ : kept_).push_back(name);
    };
    fill(c.jwt_secret, "jwt_secret");
    fill(c.publisher_key, "publisher_key");
    // The demo signs its simulated Mux webhooks with this secret when none is given.
    if (c.demo) fill(c.mux_secret, "mux_secret");
    if (c.threads == 0) c.threads = 1;
    return c;
}

std::unique_ptr<store::Log> Server::open_log(const Config& c) {
    const store::Retention retention{.max_events = c.history_size, .max_age = c.history_max_age};
    if (c.store == "memory") return store::make_memory_log(retention, c.first_id);
    if (c.store.rfind("redis://", 0) == 0) {
        auto options = store::parse_redis_url(c.store);  // its errors name --store and the URL
        options.retention = retention;
        try {
            return store::make_redis_log(std::move(options));
        } catch (const ConfigError& e) {
            // Redis cannot be reached at start: one line that names the flag too.
            throw ConfigError("--store " + c.store + ": " + e.what());
        }
    }
    if (c.store != "sqlite") throw ConfigError("--store " + c.store + ": unknown store; use sqlite or memory");
    if (c.data_dir.empty()) throw ConfigError("--store sqlite needs a data directory (--data-dir)");
    DataDir dir(c.data_dir);
    return store::make_sqlite_log({.path = (dir.path() / "events.db").string(), .retention = retention,
                                   .first_id = c.first_id, .batch_max = c.store_batch,
                                   .sync_full = c.store_sync_full, .vfs = c.store_vfs});
}

Server::Server(Config config, std::unique_ptr<store::Log> injected) try
    : shards_(make_shards(config.threads)),
      work_(guard(shards_)),
      hub_(HubOptions{.history_size = config.history_size, .history_max_age = config.history_max_age,
                      .first_id = config.first_id, .max_streams_per_user = config.max_streams_per_user,
                      .lag_wait = config.lag_wait},
           injected ? std::move(injected) : open_log(config)),
      generators_(shards_[0]->get_executor(), hub_),
      pipeline_(shards_[0]->get_executor(), hub_, videos_, config.demo_step),
      uploads_(shards_[0]->get_executor(), hub_, videos_, config.demo_step),
      app_{.config = prepare(std::move(config)), .hub = hub_, .videos = videos_, .generators = generators_,
           .pipeline = pipeline_, .uploads = uploads_},
      router_(app_) {
    // The hub posts one task per event to each shard with streams it selected.
    hub_.set_shards(shards_.size(), [this](std::size_t k, std::function<void()> task) {
        net::post(*shards_[k], std::move(task));
    });
    // The video records live in the same database as the events (the memory log keeps none).
    auto& log = hub_.log();
    for (auto& [id, record] : parse_records(log.records("video"))) videos_.load(id, std::move(record));
    videos_.persist_to([&log](const std::string& id, const std::optional<nlohmann::json>& record) {
        log.put_record("video", id, record ? std::optional<std::string>(record->dump()) : std::nullopt);
    });
    // A shared log: other servers change the records too, and every server lists the same
    // ones. The change arrives on the log's thread; it is applied on an I/O thread.
    log.watch_records("video", [this](store::Log::Records records) {
        net::post(*shards_[0], [this, records = std::move(records)] { videos_.replace_all(parse_records(records)); });
    });
} catch (const sqlite::Error& e) {
    // Reading the recovered history (the ring, the latest of each type, the records) failed:
    // the file is damaged past what the checks at open found.
    const auto file = config.data_dir.empty() ? std::string("events.db")
                                              : (std::filesystem::path(config.data_dir) / "events.db").string();
    throw ConfigError(file + " cannot be read (" + e.what() +
                      "); move it away (the history starts empty) or restore it from a backup");
}

Server::~Server() {
    stop();
}

void Server::start() {
    const auto& c = app_.config;
    if (!c.static_dir.empty() && !std::filesystem::is_directory(c.static_dir))
        throw ConfigError("--static-dir " + c.static_dir + ": no such directory");
    const auto addresses = resolve(c.address);
    if (c.demo && !c.demo_public_key) {
        for (const auto& a : addresses)
            if (!a.is_loopback())
                throw ConfigError("--demo on " + c.address +
                                  (a.to_string() == c.address ? "" : " (" + a.to_string() + ")") +
                                  ", which is not loopback, would give the publisher key to anyone who can reach it "
                                  "(GET /api/demo/config); add --demo-public-key if that is what you want");
    }
    auto on_connection = [this](tcp::socket&& socket, std::size_t shard) {
        std::make_shared<HttpSession>(std::move(socket), shard, router_, hub_, app_.config)->run();
    };
    std::vector<net::io_context*> shards;
    for (auto& s : shards_) shards.push_back(s.get());
    // With port 0 the first address picks a port and the others take the same one.
    unsigned short port = c.port;
    std::optional<std::system_error> first_error;
    for (const auto& a : addresses) {
        try {
            listeners_.push_back(std::make_shared<Listener>(shards, tcp::endpoint{a, port}, on_connection));
            port = listeners_.back()->local_endpoint().port();
        } catch (const std::system_error& e) {
            // A name's other addresses may be missing here (::1 where IPv6 is off): go on
            // with the rest. Any other failure (the port is taken) is the caller's to see.
            const int err = e.code().value();
            if (addresses.size() == 1 || (err != EADDRNOTAVAIL && err != EAFNOSUPPORT)) throw;
            if (!first_error) first_error = e;
            SSEBUS_LOG(warn, "not listening on one of the addresses", {"remote", a.to_string()}, {"reason", e.what()});
        }
    }
    if (listeners_.empty()) throw *first_error;
    for (auto& l : listeners_) l->run();
    if (c.demo) generators_.start_all();
    for (auto& s : shards_) threads_.emplace_back([&ioc = *s] { ioc.run(); });
}

unsigned short Server::port() const {
    return listeners_.empty() ? 0 : listeners_.front()->local_endpoint().port();
}

std::vector<std::string> Server::urls() const {
    std::vector<std::string> out;
    for (const auto& l : listeners_) out.push_back(url_of(l->local_endpoint()));
    return out;
}

void Server::stop() {
    std::lock_guard lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& l : listeners_) l->stop();
    generators_.stop_all();
    pipeline_.stop_all();
    uploads_.stop_all();
    // Commits what was appended while the I/O threads still run: every pending `done` (a 202,
    // a chain's next step) runs now, while the app, the videos and the generators are alive.
    // An append after this is refused with "the server is stopping".
    hub_.log().stop();
    hub_.close_all("server shutting down");
    // Streams close once their final comment is written; give slow ones a moment, then
    // stop whatever is left (idle keep-alive connections, stuck writes).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (hub_.subscriber_count() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (auto& w : work_) w.reset();
    for (auto& s : shards_) s->stop();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

}  // namespace ssebus::server
