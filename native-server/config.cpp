#include "config.hpp"

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

namespace ssebus::server {

bool debug_env_enables(std::string_view debug) noexcept {
    std::size_t i = 0;
    while (i < debug.size()) {
        const auto end = debug.find_first_of(", ", i);
        const auto item = debug.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
        i = end == std::string_view::npos ? debug.size() : end + 1;
        if (item == "*" || item.rfind("ssebus:", 0) == 0 || item.rfind("sse:", 0) == 0) return true;
    }
    return false;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) noexcept {
    if (text.empty()) return std::nullopt;
    std::int64_t unit = 1;
    switch (text.back()) {
        case 's': unit = 1; text.remove_suffix(1); break;
        case 'm': unit = 60; text.remove_suffix(1); break;
        case 'h': unit = 3'600; text.remove_suffix(1); break;
        case 'd': unit = 86'400; text.remove_suffix(1); break;
        default: break;
    }
    if (text.empty() || text.size() > 12) return std::nullopt;
    std::int64_t n = 0;
    for (char ch : text) {
        if (ch < '0' || ch > '9') return std::nullopt;
        n = n * 10 + (ch - '0');
    }
    return std::chrono::seconds(n * unit);
}

namespace {

// Flag values that become Config fields only after parsing (durations, lists, enums).
struct Raw {
    std::int64_t heartbeat_ms;
    std::int64_t header_timeout_ms;
    std::int64_t demo_step_ms;
    std::int64_t max_age_ms = 0;
    std::int64_t lag_wait_ms;
    std::string cors;
    std::string log_level;
    std::string log_format = "text";
    std::string history_max_age = "0";
    std::string store_sync = "normal";
};

void add_listening_flags(CLI::App& app, Config& c) {
    app.add_option("--address", c.address,
                   "Address or host name to listen on; a name is resolved and every address it gives is used "
                   "(localhost: 127.0.0.1 and ::1)")
        ->envname("SSEBUS_ADDRESS")->capture_default_str();
    app.add_option("--port", c.port, "Port to listen on (0: any free port)")->envname("SSEBUS_PORT")->capture_default_str();
    app.add_option("--static-dir", c.static_dir, "Directory of the web demo to serve at / (default: a built-in page)")
        ->envname("SSEBUS_STATIC_DIR")->check(CLI::ExistingDirectory);
    app.add_option("--data-dir", c.data_dir,
                   "What must survive a restart: the secrets made up when not given (JWT secret, publisher key, "
                   "the demo's Mux secret) in secrets.json. Created with mode 0700")
        ->envname("SSEBUS_DATA_DIR")->capture_default_str()
        ->check(CLI::Validator([](std::string& dir) { return dir.empty() ? std::string("must not be empty") : ""; },
                               ""));
}

void add_limit_flags(CLI::App& app, Config& c, Raw& raw) {
    app.add_option("--store", c.store,
                   "Where events are kept: sqlite (events.db in the data dir; survives restarts and kill -9), "
                   "memory (lost at exit), or redis://host:port[/db][?key=ssebus:events] (Redis Streams: many "
                   "servers share one history and one order; run Redis with appendonly yes)")
        ->envname("SSEBUS_STORE")->capture_default_str()
        ->check(CLI::Validator(
            [](std::string& v) {
                if (v == "memory" || v == "sqlite") return std::string();
                if (v.rfind("redis://", 0) == 0) return std::string();  // the URL is checked at start
                return std::string("must be sqlite, memory or redis://host:port");
            },
            "sqlite|memory|redis://..."));
    app.add_option("--history-size", c.history_size,
                   "Events kept for replay (default: 1000000 with --store sqlite or redis, 10000 with memory)")
        ->envname("SSEBUS_HISTORY_SIZE")->check(CLI::Range(1, 100'000'000));
    app.add_option("--history-max-age", raw.history_max_age,
                   "Drop events older than this: seconds, or with s/m/h/d (90, 15m, 7d; 0: no age limit)")
        ->envname("SSEBUS_HISTORY_MAX_AGE")->capture_default_str()
        ->check(CLI::Validator(
            [](std::string& v) {
                return parse_duration(v) ? std::string() : std::string("not a duration: give seconds or 15m, 2h, 7d");
            },
            "DURATION"));
    app.add_option("--store-batch", c.store_batch,
                   "sqlite: most events per transaction (group commit; 1: every event commits on its own)")
        ->envname("SSEBUS_STORE_BATCH")->capture_default_str()->check(CLI::Range(1, 100'000));
    app.add_option("--store-sync", raw.store_sync,
                   "sqlite: normal (a commit survives a crash or kill -9) or full (also a power loss: an fsync per commit)")
        ->envname("SSEBUS_STORE_SYNC")->capture_default_str()->check(CLI::IsMember({"normal", "full"}));
    app.add_option("--lag-wait-ms", raw.lag_wait_ms,
                   "redis: how long a stream resuming from an id this server has not applied yet waits for it "
                   "(then 503 with Retry-After)")
        ->envname("SSEBUS_LAG_WAIT_MS")->capture_default_str()->check(CLI::Range(0, 60'000));
    app.add_option("--heartbeat-ms", raw.heartbeat_ms, "Comment heartbeat interval")
        ->envname("SSEBUS_HEARTBEAT_MS")->capture_default_str()->check(CLI::Range(10, 3'600'000));
    app.add_option("--stream-max-age-ms", raw.max_age_ms, "Close each stream after this long (0: never); clients resume")
        ->envname("SSEBUS_STREAM_MAX_AGE_MS")->capture_default_str()->check(CLI::Range(0, 86'400'000));
    app.add_option("--retry-ms", c.retry_ms, "Reconnect delay sent to clients as retry:")
        ->envname("SSEBUS_RETRY_MS")->capture_default_str()->check(CLI::Range(0, 86'400'000));
    app.add_option("--queue-max-bytes", c.queue_max_bytes, "Per-stream queue limit in bytes; past it the client is disconnected")
        ->envname("SSEBUS_QUEUE_MAX_BYTES")->capture_default_str()->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 34));
    app.add_option("--queue-max-events", c.queue_max_events, "Per-stream queue limit in events")
        ->envname("SSEBUS_QUEUE_MAX_EVENTS")->capture_default_str()->check(CLI::Range(1, 100'000'000));
    app.add_option("--stream-send-buffer", c.stream_send_buffer,
                   "SO_SNDBUF of each stream in bytes (0: the kernel's autotuning, up to megabytes for a client "
                   "that stopped reading)")
        ->envname("SSEBUS_STREAM_SEND_BUFFER")->capture_default_str()->check(CLI::Range(std::size_t{0}, std::size_t{1} << 30));
    app.add_option("--body-limit", c.body_limit, "Largest request body in bytes (larger: 413)")
        ->envname("SSEBUS_BODY_LIMIT")->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
    app.add_option("--header-timeout-ms", raw.header_timeout_ms, "Time a client has to send a whole request")
        ->envname("SSEBUS_HEADER_TIMEOUT_MS")->capture_default_str()->check(CLI::Range(100, 600'000));
}

void add_access_flags(CLI::App& app, Config& c, Raw& raw) {
    app.add_option("--jwt-secret", c.jwt_secret, "HS256 secret of client tokens (default: made up once, kept in the data dir)")
        ->envname("SSEBUS_JWT_SECRET");
    app.add_option("--publisher-key", c.publisher_key,
                   "Key that publishing requires (default: made up once, kept in the data dir's secrets.json)")
        ->envname("SSEBUS_PUBLISHER_KEY");
    app.add_option("--mux-secret", c.mux_secret, "Mux webhook signing secret (unset: webhooks are refused)")
        ->envname("SSEBUS_MUX_SECRET");
    app.add_option("--cors-origins", raw.cors, "Comma-separated origins allowed by CORS ('*': any, without credentials)")
        ->envname("SSEBUS_CORS_ORIGINS");
    app.add_option("--max-streams-per-user", c.max_streams_per_user, "Open streams one user may hold (more: 429)")
        ->envname("SSEBUS_MAX_STREAMS_PER_USER")->capture_default_str()->check(CLI::Range(1, 1'000'000));
    app.add_option("--threads", c.threads, "I/O threads")->envname("SSEBUS_THREADS")->capture_default_str()
        ->check(CLI::Range(1, 256));
}

void add_demo_and_log_flags(CLI::App& app, Config& c, Raw& raw) {
    app.add_flag("--demo", c.demo,
                 "Run the demo stream generators, and allow demo logins. The demo page gets the publisher key "
                 "from GET /api/demo/config, so whoever reaches the server can publish: on an address that is "
                 "not loopback, --demo also needs --demo-public-key")
        ->envname("SSEBUS_DEMO");
    app.add_flag("--demo-public-key", c.demo_public_key,
                 "Allow --demo on an address that is not loopback, where anyone on the network gets the "
                 "publisher key")
        ->envname("SSEBUS_DEMO_PUBLIC_KEY");
    app.add_option("--demo-step-ms", raw.demo_step_ms, "Pace of the simulated pipeline and uploads")
        ->envname("SSEBUS_DEMO_STEP_MS")->capture_default_str()->check(CLI::Range(1, 60'000));
    app.add_option("--log-level", raw.log_level,
                   "error|warn|info|debug (default info; DEBUG=ssebus:* or DEBUG=sse:* also means debug; "
                   "given, it wins over --quiet)")
        ->envname("SSEBUS_LOG_LEVEL")->check(CLI::IsMember({"error", "warn", "info", "debug"}));
    app.add_option("--log-format", raw.log_format, "text (for a terminal) or json (one object per line)")
        ->envname("SSEBUS_LOG_FORMAT")->capture_default_str()->check(CLI::IsMember({"text", "json"}));
    app.add_flag("--quiet", c.quiet, "The same as --log-level warn (the listening line is always printed)")
        ->envname("SSEBUS_QUIET");

}

}  // namespace

std::optional<Config> parse_config(int argc, const char* const* argv, int& exit_code) {
    Config c;
    c.data_dir = ".ssebus";
    c.store = "sqlite";
    c.history_size = 0;  // by store, below
    CLI::App app{"ssebus-server: Server-Sent Events hub for ssebus front ends"};
    app.get_formatter()->column_width(40);
    // A flag given twice takes its last value, as in most tools: a wrapper's default can
    // come first and the user's own value after it.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    Raw raw{.heartbeat_ms = c.heartbeat.count(), .header_timeout_ms = c.header_timeout.count(),
            .demo_step_ms = c.demo_step.count(), .lag_wait_ms = c.lag_wait.count()};
    add_listening_flags(app, c);
    add_limit_flags(app, c, raw);
    add_access_flags(app, c, raw);
    add_demo_and_log_flags(app, c, raw);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        exit_code = app.exit(e);
        return std::nullopt;
    }
    if (!raw.log_level.empty())
        c.log_level = *log::parse_level(raw.log_level);
    else if (c.quiet)
        c.log_level = log::Level::warn;
    else if (const char* debug = std::getenv("DEBUG"); debug && debug_env_enables(debug))
        c.log_level = log::Level::debug;
    c.log_format = *log::parse_format(raw.log_format);
    c.heartbeat = std::chrono::milliseconds(raw.heartbeat_ms);
    c.header_timeout = std::chrono::milliseconds(raw.header_timeout_ms);
    c.demo_step = std::chrono::milliseconds(raw.demo_step_ms);
    c.stream_max_age = std::chrono::milliseconds(raw.max_age_ms);
    c.lag_wait = std::chrono::milliseconds(raw.lag_wait_ms);
    if (const char* hooks = std::getenv("SSEBUS_TEST_HOOKS")) c.test_hooks = std::string_view(hooks) == "1";
    c.history_max_age = *parse_duration(raw.history_max_age);
    c.store_sync_full = raw.store_sync == "full";
    // SQLite and Redis keep the history outside the process, so they can keep far more: the
    // ring in memory stays at 10,000 events whatever the store.
    if (c.history_size == 0)
        c.history_size = c.store == "sqlite" || c.store.rfind("redis://", 0) == 0 ? 1'000'000 : 10'000;
    for (auto item : CLI::detail::split(raw.cors, ',')) {
        CLI::detail::trim(item);
        if (!item.empty()) c.cors_origins.push_back(item);
    }
    return c;
}

}  // namespace ssebus::server
