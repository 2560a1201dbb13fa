// The SQLite log: events.db in the data directory. WAL, synchronous=NORMAL, one writer
// thread with group commit, a separate connection for reads.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "config.hpp"
#include "log.hpp"
#include "store/event_log.hpp"
#include "store/sqlite.hpp"

namespace ssebus::server::store {

namespace {

// "SSEB": PRAGMA application_id of an ssebus event log; user_version is the schema's.
constexpr std::int64_t application_id = 0x53534542;
constexpr std::int64_t schema_version = 1;
// Rows retention deletes per transaction, so that a large trim never holds the writer long.
constexpr std::int64_t delete_batch = 1'000;

const char* const schema = R"sql(
CREATE TABLE events(
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
  stream TEXT NOT NULL, target_kind INTEGER NOT NULL, target_id TEXT NOT NULL,
  retry INTEGER, message TEXT NOT NULL);
CREATE INDEX events_ts ON events(ts);
CREATE TABLE latest(
  name TEXT PRIMARY KEY, id INTEGER NOT NULL, ts INTEGER NOT NULL, data TEXT NOT NULL,
  stream TEXT NOT NULL, target_kind INTEGER NOT NULL, target_id TEXT NOT NULL,
  retry INTEGER, message TEXT NOT NULL);
CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE records(kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY(kind, id));
)sql";

const char* const select_columns = "SELECT id, ts, name, data, stream, target_kind, target_id, retry, message FROM ";

EventPtr event_of(const sqlite::Statement& s) {
    Event e{.name = std::string(s.text(2)), .data = std::string(s.text(3)), .stream = std::string(s.text(4)),
            .target = {static_cast<Target::Kind>(s.integer(5)), std::string(s.text(6))},
            .retry_ms = s.is_null(7) ? std::nullopt : std::optional<std::uint32_t>(static_cast<std::uint32_t>(s.integer(7))),
            .message = std::string(s.text(8))};
    return std::make_shared<const PublishedEvent>(static_cast<std::uint64_t>(s.integer(0)), std::move(e), s.integer(1),
                                                  std::chrono::steady_clock::now());
}

void bind_event(sqlite::Statement& s, const PublishedEvent& e, int first) {
    const auto& ev = e.event();
    s.bind(first, static_cast<std::int64_t>(e.id()))
        .bind(first + 1, static_cast<std::int64_t>(e.timestamp_ms()))
        .bind(first + 2, ev.name)
        .bind(first + 3, ev.data)
        .bind(first + 4, ev.stream)
        .bind(first + 5, static_cast<std::int64_t>(ev.target.kind))
        .bind(first + 6, ev.target.id);
    if (ev.retry_ms) s.bind(first + 7, static_cast<std::int64_t>(*ev.retry_ms));
    else s.bind_null(first + 7);
    s.bind(first + 8, ev.message);
}

std::string describe(const sqlite::Error& e) {
    return std::string(sqlite3_errstr(e.code)) + " (" + e.what() + ")";
}

// An exclusive lock on events.db.lock, held while the log is open: SQLite's WAL lets two
// processes share a database, and two servers must not.
class FileLock {
public:
    explicit FileLock(const std::string& path) : path_(path) {
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd_ < 0)
            throw ConfigError(path + ": cannot create the lock file (" + std::strerror(errno) +
                              "); check that the data directory (--data-dir) is writable");
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            ::close(fd_);
            if (err == EWOULDBLOCK)
                throw ConfigError(path + " is locked: another ssebus-server is using this data directory; stop it "
                                  "or give this one another --data-dir");
            throw ConfigError(path + ": cannot lock it (" + std::strerror(err) + ")");
        }
    }
    ~FileLock() { ::close(fd_); }
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

private:
    std::string path_;
    int fd_ = -1;
};

class SqliteLog final : public Log {
public:
    explicit SqliteLog(SqliteOptions options)
        : options_(std::move(options)), lock_(options_.path + ".lock"), numbering_(options_.first_id) {
        if (options_.retention.max_events == 0) options_.retention.max_events = 1;
        if (options_.batch_max == 0) options_.batch_max = 1;
        try {
            open();
        } catch (const sqlite::Error& e) {
            throw ConfigError(options_.path + ": cannot open it as an ssebus event log: " + describe(e) +
                              "; move the file away (the history starts empty) or give another --data-dir");
        }
    }

    ~SqliteLog() override { stop(); }

    std::string_view kind() const noexcept override { return "sqlite"; }
    std::string_view durability() const noexcept override { return options_.sync_full ? "power loss" : "crash"; }

    void start(Sink sink) override {
        apply_ = std::move(sink.apply);
        writer_ = std::thread([this] { run(); });
    }

    void stop() override {
        {
            std::lock_guard lock(queue_mutex_);
            if (stopping_) return;
            stopping_ = true;
        }
        queue_cv_.notify_all();
        if (writer_.joinable()) writer_.join();
    }

    void append(Event event, SteadyTime published_at, AppendDone done) override {
        std::string refusal;
        {
            std::lock_guard lock(queue_mutex_);
            if (stopping_) {
                refusal = "the server is stopping";
            } else if (queue_.size() >= options_.max_pending) {
                refusal = "the store is behind: " + std::to_string(queue_.size()) +
                          " writes are waiting; retry shortly";
            } else {
                queue_.push_back({std::move(event), published_at, std::move(done)});
                if (queue_.size() == 1) queue_cv_.notify_one();
                return;
            }
        }
        // Answered outside the lock: `done` may append again.
        if (done) done(nullptr, 0, refusal);
    }

    std::vector<EventPtr> read_after(std::uint64_t after, std::size_t max) override {
        // Ids are below 2^63 (microseconds of the clock): an id above can have nothing after it.
        if (after >= static_cast<std::uint64_t>(INT64_MAX)) return {};
        std::lock_guard lock(read_mutex_);
        sqlite::ResetOnExit reset(read_after_);
        read_after_.bind(1, static_cast<std::int64_t>(after)).bind(2, static_cast<std::int64_t>(max));
        std::vector<EventPtr> out;
        while (read_after_.step()) out.push_back(event_of(read_after_));
        return out;
    }

    std::vector<EventPtr> newest(std::size_t max) override {
        std::lock_guard lock(read_mutex_);
        auto s = reader_->prepare(std::string(select_columns) + "events ORDER BY id DESC LIMIT ?");
        s.bind(1, static_cast<std::int64_t>(max));
        std::vector<EventPtr> out;
        while (s.step()) out.push_back(event_of(s));
        std::reverse(out.begin(), out.end());
        return out;
    }

    std::vector<EventPtr> latest_per_type() override {
        std::lock_guard lock(read_mutex_);
        auto s = reader_->prepare("SELECT id, ts, name, data, stream, target_kind, target_id, retry, message "
                                  "FROM latest ORDER BY id");
        std::vector<EventPtr> out;
        while (s.step()) out.push_back(event_of(s));
        return out;
    }

    Window window() override {
        std::lock_guard lock(window_mutex_);
        auto w = window_;
        w.count = count_;
        if (options_.retention.max_age.count() > 0 && w.count > 0) {
            // Events past the age limit that the writer has not deleted yet are not retained.
            std::lock_guard read(read_mutex_);
            sqlite::ResetOnExit reset(oldest_kept_);
            oldest_kept_.bind(1, oldest_ts());
            if (oldest_kept_.step() && !oldest_kept_.is_null(0)) {
                const auto earliest = static_cast<std::uint64_t>(oldest_kept_.integer(0));
                if (earliest > w.earliest) {
                    // The newest expired event still in the table, not earliest - 1: ids
                    // jump across a restart.
                    sqlite::ResetOnExit reset_below(newest_below_);
                    newest_below_.bind(1, static_cast<std::int64_t>(earliest));
                    if (newest_below_.step() && !newest_below_.is_null(0))
                        w.dropped_up_to = std::max(w.dropped_up_to, static_cast<std::uint64_t>(newest_below_.integer(0)));
                    w.earliest = earliest;
                }
            } else {
                w.dropped_up_to = std::max(w.dropped_up_to, w.newest);
                w.earliest = 0;
                w.count = 0;
            }
        }
        return w;
    }

    Health health() override {
        std::lock_guard lock(window_mutex_);
        return health_;
    }

    LogStats stats() override {
        std::lock_guard lock(window_mutex_);
        return stats_;
    }

    void put_record(std::string_view kind, const std::string& id, std::optional<std::string> value) override {
        std::lock_guard lock(queue_mutex_);
        if (stopping_) return;
        queue_.push_back({.record = Record{std::string(kind), id, std::move(value)}});
        if (queue_.size() == 1) queue_cv_.notify_one();
    }

    std::vector<std::pair<std::string, std::string>> records(std::string_view kind) override {
        std::lock_guard lock(read_mutex_);
        auto s = reader_->prepare("SELECT id, value FROM records WHERE kind = ? ORDER BY seq");
        s.bind(1, kind);
        std::vector<std::pair<std::string, std::string>> out;
        while (s.step()) out.emplace_back(std::string(s.text(0)), std::string(s.text(1)));
        return out;
    }

private:
    struct Record {
        std::string kind, id;
        std::optional<std::string> value;
    };
    struct Pending {
        Event event;
        SteadyTime published_at;
        AppendDone done;
        std::optional<Record> record;  // set: a record to put, not an event
    };

    std::int64_t oldest_ts() const {
        return now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(options_.retention.max_age).count();
    }

    void use_wal(sqlite::Database& db) {
        // SQLite answers with the mode it is in: anything but wal (a file system without shared
        // memory, a read-only directory) would lose the concurrency and durability we promise.
        if (const auto mode = db.scalar_text("PRAGMA journal_mode=WAL"); mode != "wal")
            throw ConfigError(options_.path + ": cannot use WAL mode (journal_mode is " + mode +
                              "); put the data directory (--data-dir) on a local, writable file system");
    }

    void open() {
        writer_db_.emplace(options_.path, options_.vfs);
        auto& db = *writer_db_;
        if (db.read_only())
            throw ConfigError(options_.path + " is read-only: the server cannot record events; make it writable "
                              "(chmod u+w) or give another --data-dir");
        // Corruption found now, not at the first read: bounded to the first problem found.
        if (auto check = db.scalar_text("PRAGMA quick_check(1)"); check != "ok") {
            std::replace(check.begin(), check.end(), '\n', ' ');  // one line
            throw ConfigError(options_.path + " is corrupt (" + check +
                              "); move it away (the history starts empty) or restore it from a backup");
        }
        const auto app = db.scalar("PRAGMA application_id");
        const auto version = db.scalar("PRAGMA user_version");
        const auto tables = db.scalar("SELECT count(*) FROM sqlite_schema");
        if (app == 0 && version == 0 && tables == 0) {
            use_wal(db);
            db.exec("BEGIN IMMEDIATE");
            db.exec(schema);
            db.exec(("PRAGMA application_id=" + std::to_string(application_id)).c_str());
            db.exec(("PRAGMA user_version=" + std::to_string(schema_version)).c_str());
            auto s = db.prepare("INSERT INTO meta(key, value) VALUES('origin', ?), ('dropped_up_to', 0), ('last_id', 0)");
            s.bind(1, static_cast<std::int64_t>(numbering_.origin())).run();
            db.exec("COMMIT");
            SSEBUS_LOG(debug, "store created", {"store", "sqlite"}, {"file", options_.path});
        } else if (app != application_id) {
            throw ConfigError(options_.path + ": not an ssebus event log (a SQLite database of another application, "
                              "application_id " + std::to_string(app) + "); move it away or give another --data-dir");
        } else if (version != schema_version) {
            throw ConfigError(options_.path + ": an ssebus event log of schema version " + std::to_string(version) +
                              ", this server reads version " + std::to_string(schema_version) +
                              "; move it away or run the server that wrote it");
        } else {
            use_wal(db);
        }
        // NORMAL in WAL mode: a commit is durable once it is in the WAL file, which survives
        // a crash or kill -9 of the process; the WAL is synced at checkpoints, so an OS
        // crash or power loss may lose the last commits. FULL (--store-sync full) syncs the
        // WAL at every commit, once per group commit. See the README.
        db.exec(options_.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        db.exec("PRAGMA busy_timeout=2000");
        insert_ = db.prepare("INSERT INTO events(id, ts, name, data, stream, target_kind, target_id, retry, message) "
                             "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
        upsert_latest_ = db.prepare(
            "INSERT INTO latest(id, ts, name, data, stream, target_kind, target_id, retry, message) "
            "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET id=excluded.id, ts=excluded.ts, "
            "data=excluded.data, stream=excluded.stream, target_kind=excluded.target_kind, "
            "target_id=excluded.target_id, retry=excluded.retry, message=excluded.message");
        set_meta_ = db.prepare("UPDATE meta SET value = ? WHERE key = ?");
        // RETURNING id: the newest id actually deleted is what dropped_up_to records (ids
        // jump across a restart, so the new earliest id - 1 would claim ids never issued).
        delete_oldest_ = db.prepare("DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?) RETURNING id");
        delete_older_ = db.prepare("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < ? ORDER BY id LIMIT ?) RETURNING id");
        trim_latest_ = db.prepare("DELETE FROM latest WHERE name IN (SELECT name FROM latest ORDER BY id LIMIT ?)");
        put_record_ = db.prepare(
            "INSERT INTO records(kind, id, seq, value) VALUES(?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM records), ?) "
            "ON CONFLICT(kind, id) DO UPDATE SET value = excluded.value");
        delete_record_ = db.prepare("DELETE FROM records WHERE kind = ? AND id = ?");
        probe_ = db.prepare("INSERT INTO meta(key, value) VALUES('probe', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");

        // Recovery: the window and the numbering continue where the file ends.
        const auto meta = [&](const char* key) {
            auto s = db.prepare("SELECT value FROM meta WHERE key = ?");
            s.bind(1, key);
            return s.step() ? static_cast<std::uint64_t>(s.integer(0)) : 0;
        };
        window_.origin = meta("origin");
        window_.dropped_up_to = meta("dropped_up_to");
        window_.newest = std::max<std::uint64_t>(meta("last_id"), static_cast<std::uint64_t>(db.scalar("SELECT coalesce(max(id), 0) FROM events")));
        window_.earliest = static_cast<std::uint64_t>(db.scalar("SELECT coalesce(min(id), 0) FROM events"));
        count_ = static_cast<std::uint64_t>(db.scalar("SELECT count(*) FROM events"));
        load_latest_names();
        numbering_.continue_after(window_.newest);
        if (window_.origin == 0) window_.origin = numbering_.origin();

        reader_.emplace(options_.path, options_.vfs);
        reader_->exec("PRAGMA busy_timeout=2000");
        read_after_ = reader_->prepare(std::string(select_columns) + "events WHERE id > ? ORDER BY id LIMIT ?");
        oldest_kept_ = reader_->prepare("SELECT min(id) FROM events WHERE ts >= ?");
        newest_below_ = reader_->prepare("SELECT max(id) FROM events WHERE id < ?");
        any_older_ = reader_->prepare("SELECT 1 FROM events WHERE ts < ? LIMIT 1");
        SSEBUS_LOG(debug, "store opened", {"store", "sqlite"}, {"file", options_.path}, {"events", count_},
                   {"earliest", window_.earliest}, {"newest", window_.newest}, {"types", latest_names_.size()});
    }

    // The writer thread: takes what was appended, commits it in one transaction (up to
    // batch_max events, or what arrives within batch_window), then applies it.
    void run() {
        std::vector<Pending> batch;
        auto last_probe = std::chrono::steady_clock::now();
        for (;;) {
            {
                std::unique_lock lock(queue_mutex_);
                const bool busy = retention_pending();
                queue_cv_.wait_for(lock, busy ? std::chrono::milliseconds(0) : std::chrono::milliseconds(250),
                                   [&] { return stopping_ || !queue_.empty(); });
                if (queue_.empty() && stopping_) {
                    lock.unlock();
                    // Records of a batch that failed: one last try before stopping.
                    if (!unwritten_records_.empty()) commit(batch);
                    return;
                }
                take(batch, lock);
            }
            if (!batch.empty()) commit(batch);
            batch.clear();
            if (!healthy()) {
                const auto now = std::chrono::steady_clock::now();
                if (now - last_probe >= std::chrono::milliseconds(500)) {
                    last_probe = now;
                    probe();
                }
            } else {
                retain();
            }
        }
    }

    void take(std::vector<Pending>& batch, std::unique_lock<std::mutex>&) {
        std::size_t events = 0;
        while (!queue_.empty() && events < options_.batch_max) {
            if (!queue_.front().record) ++events;
            batch.push_back(std::move(queue_.front()));
            queue_.pop_front();
        }
    }

    // A failed transaction's end: ROLLBACK if one is open, ignoring its own failure (the
    // error being reported is the one that matters).
    static void rollback_quietly(sqlite::Database& db) {
        if (!db.in_transaction()) return;
        try {
            db.exec("ROLLBACK");
        } catch (const sqlite::Error&) {
        }
    }

    // The store cannot write: not ready until a probe succeeds; logged once per outage.
    void mark_unhealthy(const std::string& error, const char* during, std::size_t refused) {
        bool was_ready;
        {
            std::lock_guard lock(window_mutex_);
            was_ready = health_.ready;
            health_ = {false, "the store cannot write: " + error};
            stats_.failed_writes += refused;
        }
        if (was_ready)
            SSEBUS_LOG(error, "store write failed", {"store", "sqlite"}, {"file", options_.path}, {"reason", error},
                       {"during", during}, {"refused", refused});
    }

    bool healthy() {
        std::lock_guard lock(window_mutex_);
        return health_.ready;
    }

    void commit(std::vector<Pending>& batch) {
        if (!unwritten_records_.empty()) {
            // They were put before anything in this batch.
            batch.insert(batch.begin(), std::make_move_iterator(unwritten_records_.begin()),
                         std::make_move_iterator(unwritten_records_.end()));
            unwritten_records_.clear();
        }
        auto& db = *writer_db_;
        const auto began = std::chrono::steady_clock::now();
        const auto last_before = numbering_.last();
        std::vector<EventPtr> committed;
        committed.reserve(batch.size());
        std::string error;
        try {
            db.exec("BEGIN IMMEDIATE");
            auto write = [&](Pending& p) {
                if (p.record) {
                    auto& r = *p.record;
                    if (r.value) put_record_.bind(1, r.kind).bind(2, r.id).bind(3, *r.value).run();
                    else delete_record_.bind(1, r.kind).bind(2, r.id).run();
                    committed.push_back(nullptr);
                    return;
                }
                auto e = std::make_shared<const PublishedEvent>(numbering_.next(), std::move(p.event), now_ms(),
                                                                p.published_at);
                bind_event(insert_, *e, 1);
                insert_.run();
                bind_event(upsert_latest_, *e, 1);
                upsert_latest_.run();
                committed.push_back(std::move(e));
            };
            for (auto& p : batch) write(p);
            // Group commit: what arrived while this transaction was open joins it, up to
            // batch_max events or batch_window.
            std::size_t events = static_cast<std::size_t>(
                std::count_if(committed.begin(), committed.end(), [](auto& e) { return e != nullptr; }));
            while (events < options_.batch_max && std::chrono::steady_clock::now() - began < options_.batch_window) {
                std::vector<Pending> more;
                {
                    std::unique_lock lock(queue_mutex_);
                    if (queue_.empty()) break;
                    while (!queue_.empty() && events + more.size() < options_.batch_max) {
                        more.push_back(std::move(queue_.front()));
                        queue_.pop_front();
                    }
                }
                // Into the batch first: if a write fails, each of them still gets its answer.
                const std::size_t first_new = batch.size();
                for (auto& p : more) batch.push_back(std::move(p));
                for (std::size_t j = first_new; j < batch.size(); ++j) {
                    write(batch[j]);
                    if (!batch[j].record) ++events;
                }
            }
            set_meta_.bind(1, static_cast<std::int64_t>(numbering_.last())).bind(2, "last_id").run();
            db.exec("COMMIT");
        } catch (const sqlite::Error& e) {
            error = describe(e);
            rollback_quietly(db);
        }
        const auto took = std::chrono::steady_clock::now() - began;
        if (error.empty())
            // Only names whose rows committed: a rolled-back name would make trim_latest_
            // delete real rows of other names.
            for (auto& e : committed)
                if (e) latest_names_.insert(e->event().name);
        if (!error.empty()) {
            numbering_.rewind(last_before);
            std::size_t refused = 0;
            for (auto& p : batch)
                if (!p.record) ++refused;
            mark_unhealthy(error, "commit", refused);
            // A record has no one to answer: it is kept for the next batch, not dropped (a
            // 202'd video:created must keep its record).
            for (auto& p : batch)
                if (p.record) unwritten_records_.push_back(std::move(p));
            for (auto& p : batch)
                if (p.done) p.done(nullptr, 0, "the store cannot write: " + error);
            return;
        }
        std::uint64_t events = 0;
        for (auto& e : committed)
            if (e) ++events;
        bool recovered = false;
        {
            std::lock_guard lock(window_mutex_);
            if (events > 0) {
                if (window_.earliest == 0) window_.earliest = committed_first(committed);
                window_.newest = numbering_.last();
                count_ += events;
            }
            recovered = !health_.ready;
            health_ = {};
            ++stats_.commits;
            stats_.events_committed += events;
            stats_.batch_max = std::max(stats_.batch_max, events);
            const auto ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
            stats_.commit_ns_sum += ns;
            stats_.commit_ns_max = std::max(stats_.commit_ns_max, ns);
        }
        if (recovered) SSEBUS_LOG(info, "store writable again", {"store", "sqlite"}, {"file", options_.path});
        for (std::size_t i = 0; i < batch.size(); ++i) {
            auto& e = committed[i];
            if (!e) continue;
            const auto delivered = apply_ ? apply_(e) : 0;
            if (batch[i].done) batch[i].done(std::move(e), delivered, {});
        }
    }

    static std::uint64_t committed_first(const std::vector<EventPtr>& committed) {
        for (auto& e : committed)
            if (e) return e->id();
        return 0;
    }

    void load_latest_names() {
        latest_names_.clear();
        auto s = writer_db_->prepare("SELECT name FROM latest");
        while (s.step()) latest_names_.emplace(s.text(0));
    }

    bool retention_pending() {
        std::lock_guard lock(window_mutex_);
        return health_.ready && count_ > options_.retention.max_events;
    }

    // One step of retention, in its own small transaction: by count, then by age, then the
    // latest-of-each-type table past its cap.
    void retain() {
        auto& db = *writer_db_;
        std::uint64_t count;
        {
            std::lock_guard lock(window_mutex_);
            count = count_;
        }
        const bool by_age = options_.retention.max_age.count() > 0;
        const bool by_count = count > options_.retention.max_events;
        const bool latest_over = latest_names_.size() > max_latest_types;
        if (!by_count && !by_age && !latest_over) return;
        try {
            if (by_age && !by_count && !latest_over) {
                // Only when something is old enough: cheap thanks to the ts index. (Inside
                // the try: a read error here is a store failure, not std::terminate.)
                std::lock_guard read(read_mutex_);
                sqlite::ResetOnExit reset(any_older_);
                any_older_.bind(1, oldest_ts());
                if (!any_older_.step()) return;
            }
            db.exec("BEGIN IMMEDIATE");
            std::int64_t deleted = 0;
            std::uint64_t newest_deleted = 0;
            auto drain = [&](sqlite::Statement& s) {
                sqlite::ResetOnExit reset(s);
                while (s.step()) {
                    ++deleted;
                    newest_deleted = std::max(newest_deleted, static_cast<std::uint64_t>(s.integer(0)));
                }
            };
            if (by_count) {
                delete_oldest_.bind(1, std::min<std::int64_t>(delete_batch, static_cast<std::int64_t>(count - options_.retention.max_events)));
                drain(delete_oldest_);
            }
            if (by_age) {
                delete_older_.bind(1, oldest_ts()).bind(2, delete_batch);
                drain(delete_older_);
            }
            if (latest_over) {
                trim_latest_.bind(1, static_cast<std::int64_t>(latest_names_.size() - max_latest_types)).run();
                load_latest_names();
            }
            const auto earliest = static_cast<std::uint64_t>(db.scalar("SELECT coalesce(min(id), 0) FROM events"));
            std::uint64_t dropped;
            {
                std::lock_guard lock(window_mutex_);
                dropped = std::max(window_.dropped_up_to, newest_deleted);
            }
            if (deleted > 0) set_meta_.bind(1, static_cast<std::int64_t>(dropped)).bind(2, "dropped_up_to").run();
            db.exec("COMMIT");
            std::lock_guard lock(window_mutex_);
            count_ -= std::min<std::uint64_t>(count_, static_cast<std::uint64_t>(deleted));
            window_.earliest = earliest;
            if (deleted > 0) window_.dropped_up_to = std::max(window_.dropped_up_to, dropped);
        } catch (const sqlite::Error& e) {
            rollback_quietly(db);
            // A store that cannot delete cannot write either: report it, and probe until it can
            // (rather than retrying the deletion at once, again and again).
            mark_unhealthy(describe(e), "retention", 0);
        }
    }

    // While the store cannot write: a tiny transaction, to report ready again as soon as it can.
    void probe() {
        auto& db = *writer_db_;
        try {
            db.exec("BEGIN IMMEDIATE");
            probe_.bind(1, now_ms()).run();
            db.exec("COMMIT");
        } catch (const sqlite::Error& e) {
            rollback_quietly(db);
            return;
        }
        {
            std::lock_guard lock(window_mutex_);
            health_ = {};
        }
        SSEBUS_LOG(info, "store writable again", {"store", "sqlite"}, {"file", options_.path});
    }

    SqliteOptions options_;
    FileLock lock_;
    Numbering numbering_;
    Apply apply_;

    std::optional<sqlite::Database> writer_db_;  // the writer thread's only, after open()
    sqlite::Statement insert_ = placeholder();
    sqlite::Statement upsert_latest_ = placeholder();
    sqlite::Statement set_meta_ = placeholder();
    sqlite::Statement delete_oldest_ = placeholder();
    sqlite::Statement delete_older_ = placeholder();
    sqlite::Statement trim_latest_ = placeholder();
    sqlite::Statement put_record_ = placeholder();
    sqlite::Statement delete_record_ = placeholder();
    sqlite::Statement probe_ = placeholder();
    std::unordered_set<std::string> latest_names_;  // the names in table latest (writer thread)

    std::mutex read_mutex_;
    std::optional<sqlite::Database> reader_;
    sqlite::Statement read_after_ = placeholder();
    sqlite::Statement oldest_kept_ = placeholder();
    sqlite::Statement newest_below_ = placeholder();
    sqlite::Statement any_older_ = placeholder();

    std::mutex queue_mutex_;
    std::condition_variable queue_cv_;
    std::deque<Pending> queue_;
    std::vector<Pending> unwritten_records_;  // the writer's: records of a failed batch
    bool stopping_ = false;
    std::thread writer_;

    std::mutex window_mutex_;
    Window window_;
    std::uint64_t count_ = 0;
    Health health_;
    LogStats stats_;

    static sqlite::Statement placeholder() { return sqlite::Statement::empty(); }
};

}  // namespace

std::unique_ptr<Log> make_sqlite_log(SqliteOptions options) {
    return std::make_unique<SqliteLog>(std::move(options));
}

}  // namespace ssebus::server::store
