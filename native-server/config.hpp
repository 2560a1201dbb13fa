// The server's settings: command-line flags, each also an environment variable.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <string>
#include <vector>

#include "log.hpp"

namespace ssebus::server {

struct Config {
    std::string address = "127.0.0.1";
    unsigned short port = 8080;
    std::string static_dir;                   // empty: the built-in page
    // What must survive a restart: the generated secrets (secrets.json). Empty: nothing
    // is kept (secrets last one run); the command line's default is ./.ssebus.
    std::string data_dir;
    // The event log: "memory", "sqlite" (events.db in data_dir) or
    // "redis://host:port[/db][?key=name]" (Redis Streams, shared by many servers). The command
    // line's default is sqlite; a Config made in code keeps memory unless it says otherwise.
    std::string store = "memory";
    std::size_t history_size = 10'000;        // retained events (the command line's sqlite and redis default: 1,000,000)
    // Shared logs (redis): how long a stream resuming from an id this server has not applied
    // yet waits for it before it gets 503 with Retry-After.
    std::chrono::milliseconds lag_wait{2'000};
    std::chrono::seconds history_max_age{0};  // retained events' age limit; 0: none
    std::size_t store_batch = 1'000;          // sqlite: events per transaction (1: each commits on its own)
    bool store_sync_full = false;             // sqlite: synchronous=FULL, an fsync per commit (--store-sync full)
    std::string store_vfs;                    // sqlite: the VFS (tests: the fault VFS); empty: SQLite's default
    std::chrono::milliseconds heartbeat{15'000};
    std::chrono::milliseconds stream_max_age{0};  // 0: streams are never rotated
    std::uint32_t retry_ms = 3'000;           // sent as `retry:` at the start of every stream
    std::size_t queue_max_bytes = 1 << 20;    // per stream; past it the client is disconnected
    std::size_t queue_max_events = 1'000;
    std::size_t stream_send_buffer = 0;       // SO_SNDBUF of a stream; 0: the kernel's autotuning
    std::size_t body_limit = 64 * 1024;
    std::chrono::milliseconds header_timeout{10'000};
    std::string jwt_secret;                   // empty: made up once, kept in the data dir
    std::string publisher_key;                // empty: made up once, kept in the data dir
    std::string mux_secret;                   // empty: Mux webhooks are refused (with --demo: made up and kept)
    std::vector<std::string> cors_origins;    // allow-list; "*" allows any origin without credentials
    std::size_t max_streams_per_user = 5;
    unsigned threads = 2;
    bool demo = false;                        // demo generators, demo login, demo config route
    // --demo hands the publisher key to anyone who asks (GET /api/demo/config); on an address
    // that is not loopback the server refuses to start unless this says that is wanted.
    bool demo_public_key = false;
    std::chrono::milliseconds demo_step{400}; // pace of the demo pipeline and uploads
    std::optional<std::uint64_t> first_id;    // for tests; default: the clock in microseconds
    // Routes for tests under /api/_test/ (POST /api/_test/pause-applying): only with the
    // environment variable SSEBUS_TEST_HOOKS=1, never from a flag.
    bool test_hooks = false;
    // The log is the process's: main() applies these (log::set_level, log::set_format);
    // a Server does not. parse_config() turns quiet into log_level = warn.
    bool quiet = false;
    log::Level log_level = log::Level::info;
    log::Format log_format = log::Format::text;
};

// The settings a flag value makes impossible (a name that does not resolve, a directory that
// is not there): what() is one line naming the flag and the value. main() exits with 2.
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// True when the DEBUG environment variable (a comma- or space-separated list, as Node's
// `debug` package reads it) names ssebus: `ssebus:*`, `sse:*`, `*`, or any `ssebus:…`/`sse:…`.
bool debug_env_enables(std::string_view debug) noexcept;

// A duration in seconds: "90", "90s", "15m", "2h", "7d". nullopt when it is not one.
std::optional<std::chrono::seconds> parse_duration(std::string_view text) noexcept;

// Parses argv (and SSEBUS_* environment variables). Returns nullopt after printing help or
// an error; `exit_code` then says how to exit.
std::optional<Config> parse_config(int argc, const char* const* argv, int& exit_code);

}  // namespace ssebus::server
