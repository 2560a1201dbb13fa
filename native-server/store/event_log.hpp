// The event log behind the hub: it numbers events, makes them durable, keeps the retained
// history and serves replays. The hub keeps the live fan-out and a ring of the newest events
// as a cache; everything older comes from here.
//
// Kinds: MemoryLog (a bounded deque, lost at exit), SqliteLog (events.db, the default) and
// RedisLog (Redis Streams, shared by many servers). Redis's committed events arrive from a
// read loop, not from append()'s caller, which is why commits reach the hub through the
// `Apply` callback given to start() and not as append()'s return value; its reads complete
// later on its own thread, which is why replays read pages through read_page().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "event.hpp"

namespace ssebus::server::store {

// What the log retains, and the ids around it.
struct Window {
    std::uint64_t earliest = 0;       // the oldest retained id; 0 when nothing is retained
    std::uint64_t newest = 0;         // the newest id ever committed; 0 when none
    std::uint64_t count = 0;          // retained events
    std::uint64_t dropped_up_to = 0;  // the newest id that retention removed; 0 when none
    // The first id this log may have issued: an id below origin - 1 came from elsewhere
    // (another server, or the memory log's previous run).
    std::uint64_t origin = 0;
    // Shared logs: the newest id any server issued, as last seen (Redis's meta `last`), which
    // may be ahead of `newest` (this server's loop has not applied it yet). 0: not known, or
    // a log that only this server appends to (then it is `newest`). An id above it was never
    // issued: a gap, not a reason to wait.
    std::uint64_t issued = 0;
};

struct Retention {
    std::size_t max_events = 10'000;      // at least 1
    std::chrono::seconds max_age{0};      // 0: no age limit
};

// How ids are made: a run starts at max(the clock in microseconds, the newest stored id + 1)
// and counts up by one, so ids keep increasing across restarts and stores, and a run's ids
// are dense; or, for tests, from first_id.
class Numbering {
public:
    explicit Numbering(std::optional<std::uint64_t> first_id = {});
    // Continues after `newest` (an id read back from a store).
    void continue_after(std::uint64_t newest) noexcept;
    std::uint64_t next() noexcept;
    std::uint64_t last() const noexcept { return last_; }
    void rewind(std::uint64_t last) noexcept { last_ = last; }  // ids of a batch that failed to commit
    // The first id this numbering can give: where a new log's history begins.
    std::uint64_t origin() const noexcept { return origin_; }

private:
    std::uint64_t last_;
    std::uint64_t origin_;
};

// Whether the log can take writes now, and why not.
struct Health {
    bool ready = true;
    std::string reason;  // empty when ready
};

struct LogStats {
    std::uint64_t commits = 0;            // transactions committed (memory: appends)
    std::uint64_t events_committed = 0;   // the sum of the batch sizes
    std::uint64_t batch_max = 0;          // the largest batch
    std::uint64_t failed_writes = 0;      // events refused because the store could not write
    std::uint64_t commit_ns_sum = 0;      // time spent in commits (BEGIN to COMMIT)
    std::uint64_t commit_ns_max = 0;
};

// Every committed event, in id order, one call at a time (never concurrently), on a thread
// of the log's choosing. Returns how many streams the event was sent to.
using Apply = std::function<std::size_t(const EventPtr& event)>;
// An append's end, called after Apply for its event: the committed event and how many
// streams got it, or null and why it was refused (the store could not write).
using AppendDone = std::function<void(EventPtr event, std::size_t delivered, const std::string& error)>;
// The log found that history the hub may have applied is gone (Redis lost its data, or the
// chain of previous-id links broke): every open stream is told of a gap. `requested` is the
// newest id applied before, `earliest` the first id the log has after it.
using Lost = std::function<void(std::uint64_t requested, std::uint64_t earliest)>;

// Where committed events go: start() gets both. `lost` may be empty.
struct Sink {
    Apply apply;
    Lost lost;
};

// One page of a replay: up to `max` retained events after `after`, in id order, and the
// window as it was when they were read. When events after `after` are gone, the page's
// window.dropped_up_to is above `after` (a log that links ids, as Redis does, reports the
// previous id of the page's first event there when it is not `after`). `error` set: the log
// could not be read, and the rest is empty.
struct Page {
    std::vector<EventPtr> events;
    Window window;
    std::string error;
};
using PageDone = std::function<void(Page page)>;

class Log {
public:
    virtual ~Log() = default;

    virtual std::string_view kind() const noexcept = 0;  // "memory", "sqlite", "redis"
    // What a commit survives: "none" (memory), "crash" (sqlite, synchronous=NORMAL: a
    // process crash or kill -9), "power loss" (sqlite, synchronous=FULL: an fsync per commit).
    // Redis: from its appendonly / appendfsync at connect ("unknown" when CONFIG is refused).
    virtual std::string_view durability() const noexcept = 0;
    // Starts committing: from now on appended events are numbered, committed and passed to
    // `sink.apply`. Called once, after the recovered history was read (newest, latest_per_type).
    virtual void start(Sink sink) = 0;
    // Commits what was appended (every `done` runs), then stops. Idempotent; no append after.
    virtual void stop() = 0;

    // Numbers `event` and makes it durable; then `apply` and `done` run, in id order.
    // Never blocks on the store: `done` may run later, on another thread.
    virtual void append(Event event, SteadyTime published_at, AppendDone done) = 0;

    // Up to `max` retained events with an id above `after`, in id order. Blocks until read:
    // not for I/O threads when the log is remote (use read_page).
    virtual std::vector<EventPtr> read_after(std::uint64_t after, std::size_t max) = 0;
    // The same, and the window, for a replay: `done` runs once, inline (memory, sqlite) or
    // later on the log's own thread (redis). Never blocks the caller on a remote store.
    virtual void read_page(std::uint64_t after, std::size_t max, PageDone done) {
        Page page;
        try {
            page.events = read_after(after, max);
            page.window = window();
        } catch (const std::exception& e) {
            page = Page{.error = e.what()};
        }
        done(std::move(page));
    }
    // Whether other servers append to this log too (redis): an id above the newest applied
    // may have been issued already, by another server, and arrive here shortly.
    virtual bool shared() const noexcept { return false; }
    // Shared logs: the newest id any server issued, read from the store now (window().issued
    // is only as fresh as the log's last read, so an id above it may still have been issued).
    // `done` runs once, later, on the log's own thread, with 0 when the store cannot tell
    // (unreachable, stopping). Others answer inline with the newest id they committed.
    virtual void read_issued(std::function<void(std::uint64_t issued)> done) {
        std::uint64_t newest = 0;
        try {
            newest = window().newest;
        } catch (const std::exception&) {
        }
        done(newest);
    }
    // The newest `max` retained events, in id order.
    virtual std::vector<EventPtr> newest(std::size_t max) = 0;
    // The latest event of each name (at most 1,024 names, the most recent), in id order.
    // Kept apart from the history: retention does not remove them.
    virtual std::vector<EventPtr> latest_per_type() = 0;
    virtual Window window() = 0;
    virtual Health health() = 0;
    virtual LogStats stats() = 0;

    // Small records that survive with the log (the video records): `value` empty removes.
    // Written in order with the events; stores without durability keep nothing.
    virtual void put_record(std::string_view kind, const std::string& id, std::optional<std::string> value) = 0;
    // Every record of `kind`, in the order they were first put.
    virtual std::vector<std::pair<std::string, std::string>> records(std::string_view kind) = 0;
    using Records = std::vector<std::pair<std::string, std::string>>;
    // Shared logs: `changed` runs (on the log's thread) with every record of `kind` whenever
    // another server changed them, so that every server lists the same records. Others never
    // call it.
    virtual void watch_records(std::string_view /*kind*/, std::function<void(Records)> /*changed*/) {}

    // A test hook: the log applies nothing for `pause` (redis: its read loop waits), as a
    // server that lags behind the others would. Others ignore it.
    virtual void pause_applying(std::chrono::milliseconds /*pause*/) {}
};

inline constexpr std::size_t max_latest_types = 1024;

std::unique_ptr<Log> make_memory_log(Retention retention, std::optional<std::uint64_t> first_id = {});

struct SqliteOptions {
    std::string path;                   // .../events.db
    Retention retention;
    std::optional<std::uint64_t> first_id;
    std::size_t batch_max = 1'000;      // events per transaction; 1: each event commits on its own
    bool sync_full = false;             // synchronous=FULL (an fsync per commit) instead of NORMAL
    std::chrono::microseconds batch_window{2'000};
    std::string vfs;                    // empty: SQLite's default ("unix"); tests use the fault VFS
    // Appends waiting for the writer, at most: past it append() refuses at once (the route
    // answers 503 with Retry-After) instead of queueing without bound behind a slow disk.
    std::size_t max_pending = 100'000;
};

// Opens (creating it if needed) the database and reads its window. Throws ConfigError,
// naming the file and what to do, when it is corrupt, foreign, or in use by another server.
std::unique_ptr<Log> make_sqlite_log(SqliteOptions options);

struct RedisOptions {
    std::string host = "127.0.0.1";
    unsigned short port = 6379;
    unsigned db = 0;
    std::string key = "ssebus:events";  // the stream; its meta hash, latest and records keys start with it
    // XADD MAXLEN ~ max_events (whole stream nodes: up to ~100 more may stay); max_age: an
    // exact XTRIM MINID now - max_age every second (~ could keep a small stream's old entries).
    Retention retention;
    std::chrono::milliseconds timeout{2'000};  // a command with no answer by then fails (hiredis 0.14 has none)
    std::size_t max_pending = 100'000;  // appends not answered yet (queued, sent, or committed and not applied here), at most: past it append() refuses at once
};

// Parses `redis://host:port[/db][?key=name]` (Boost.URL). Throws ConfigError naming what is wrong.
RedisOptions parse_redis_url(std::string_view url);

// Connects, loads the script, reads the window and warms the newest events; throws
// ConfigError, naming the address and what to do, when Redis cannot be reached at start.
std::unique_ptr<Log> make_redis_log(RedisOptions options);

}  // namespace ssebus::server::store
