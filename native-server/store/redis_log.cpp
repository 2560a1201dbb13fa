// The Redis log: one Redis stream shared by every server. A Lua script is the only
// sequencer (id = max(TIME in µs, last + 1), each entry linked to the previous id by its
// field p); each server applies the stream with one XREAD BLOCK loop, its own appends
// included, so that every server applies the same events in the same order.
//
// Keys, all starting with the stream's key K:
//   K                      the stream: entries <id>-0 {p, t, i, s, n, d, [r], [m], w}
//   K:meta                 hash: last (the newest id issued), origin (the first)
//   K:latest, K:latest:ids the latest entry of each name (packed), and name -> id, at most 1,024
//   K:records:<kind>       hash id -> value; K:records:<kind>:order zset (first-put order),
//                          K:records:<kind>:seq the counter behind it
//
// One thread of the log's own runs an io_context with two connections: `cmd` (appends,
// pages, the window, records, trimming) and `loop` (XREAD BLOCK only). append() and
// read_page() only post to it; the blocking reads wait for it, with the timeout.
#include <boost/url.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "config.hpp"
#include "log.hpp"
#include "store/event_log.hpp"
#include "store/redis_asio.hpp"

namespace ssebus::server::store {

namespace {

using namespace std::chrono_literals;
using redis::Connection;

// KEYS: stream, meta, latest, latest ids. ARGV: maxlen, then 7 per event: target kind,
// target id, stream, name, data, retry ('' none), message. Returns the ids, in order, then
// meta's origin.
const char* const append_script = R"lua(
local stream, meta, latest, latest_ids = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local maxlen = ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local wall = string.format('%.0f', math.floor(now / 1000))
local last = tonumber(redis.call('HGET', meta, 'last') or '0')
if last == 0 then
  local top = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if #top > 0 then last = tonumber(string.match(top[1][1], '^(%d+)')) end
end
local function pack(...)
  local out = {}
  for _, v in ipairs({...}) do out[#out + 1] = #v .. ':' .. v end
  return table.concat(out)
end
local ids = {}
local newest_of = {}  -- name -> the ARGV index of its last event in this batch
local prev = string.format('%.0f', last)
for b = 2, #ARGV, 7 do
  local id = now
  if id <= last then id = last + 1 end
  local sid = string.format('%.0f', id)
  -- One call per shape, no table: this loop is where Redis spends its time.
  local r, m = ARGV[b + 5], ARGV[b + 6]
  if r == '' and m == '' then
    redis.call('XADD', stream, 'MAXLEN', '~', maxlen, sid .. '-0', 'p', prev, 't', ARGV[b], 'i', ARGV[b + 1],
               's', ARGV[b + 2], 'n', ARGV[b + 3], 'd', ARGV[b + 4], 'w', wall)
  elseif m == '' then
    redis.call('XADD', stream, 'MAXLEN', '~', maxlen, sid .. '-0', 'p', prev, 't', ARGV[b], 'i', ARGV[b + 1],
               's', ARGV[b + 2], 'n', ARGV[b + 3], 'd', ARGV[b + 4], 'r', r, 'w', wall)
  elseif r == '' then
    redis.call('XADD', stream, 'MAXLEN', '~', maxlen, sid .. '-0', 'p', prev, 't', ARGV[b], 'i', ARGV[b + 1],
               's', ARGV[b + 2], 'n', ARGV[b + 3], 'd', ARGV[b + 4], 'm', m, 'w', wall)
  else
    redis.call('XADD', stream, 'MAXLEN', '~', maxlen, sid .. '-0', 'p', prev, 't', ARGV[b], 'i', ARGV[b + 1],
               's', ARGV[b + 2], 'n', ARGV[b + 3], 'd', ARGV[b + 4], 'r', r, 'm', m, 'w', wall)
  end
  last = id
  prev = sid
  ids[#ids + 1] = sid
  newest_of[ARGV[b + 3]] = b
end
-- The latest of each name: once per name and batch.
for name, b in pairs(newest_of) do
  local sid = ids[(b - 2) / 7 + 1]
  redis.call('HSET', latest, name, pack(sid, ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], wall))
  redis.call('ZADD', latest_ids, sid, name)
end
redis.call('HSET', meta, 'last', string.format('%.0f', last))
redis.call('HSETNX', meta, 'origin', ids[1])
local over = redis.call('ZCARD', latest_ids) - 1024
if over > 0 then
  local names = redis.call('ZRANGE', latest_ids, 0, over - 1)
  redis.call('ZREMRANGEBYRANK', latest_ids, 0, over - 1)
  redis.call('HDEL', latest, unpack(names))
end
ids[#ids + 1] = redis.call('HGET', meta, 'origin')
return ids
)lua";

// KEYS: records hash, order zset, seq counter. ARGV: id, '1' put / '0' remove, value.
const char* const record_script = R"lua(
if ARGV[2] == '0' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
if redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) == 1 then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
end
return 1
)lua";

// KEYS: stream. ARGV: the age in µs. Trims what is older by Redis's own clock.
const char* const trim_script = R"lua(
local time = redis.call('TIME')
local cut = tonumber(time[1]) * 1000000 + tonumber(time[2]) - tonumber(ARGV[1])
if cut <= 0 then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', string.format('%.0f', cut))
)lua";

constexpr std::size_t append_batch = 1'000;   // events per EVALSHA
constexpr int max_in_flight = 2;              // EVALSHAs sent and not answered: Redis runs one while the next is sent
constexpr int read_count = 1'000;              // entries per XREAD
constexpr auto read_block = 1'000ms;           // XREAD BLOCK
constexpr auto refresh_every = 200ms;          // the window, at most this often after appends
constexpr auto housekeeping_every = 1'000ms;   // age trimming, the window, watched records
constexpr auto backoff_min = 50ms;
constexpr auto backoff_max = 2'000ms;

using Records = Log::Records;

std::string_view text_of(const redisReply* r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? std::string_view(r->str, r->len)
                                                                                 : std::string_view();
}

// "1796000000000000-0" or "1796000000000000": the part before '-'. 0 when not a number.
std::uint64_t id_of(std::string_view text) {
    std::uint64_t v = 0;
    const auto end = text.find('-');
    if (end != std::string_view::npos) text = text.substr(0, end);
    std::from_chars(text.data(), text.data() + text.size(), v);
    return v;
}

std::int64_t int_of(std::string_view text) {
    std::int64_t v = 0;
    std::from_chars(text.data(), text.data() + text.size(), v);
    return v;
}

// A stream entry, as XRANGE / XREAD give it: [id, [field, value, ...]].
struct Entry {
    std::uint64_t id = 0;
    std::uint64_t prev = 0;
    Event event;
    std::int64_t wall_ms = 0;
};

std::optional<Entry> entry_of(const redisReply* r) {
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return std::nullopt;
    const auto* fields = r->element[1];
    if (fields->type != REDIS_REPLY_ARRAY) return std::nullopt;
    Entry e;
    e.id = id_of(text_of(r->element[0]));
    for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
        const auto f = text_of(fields->element[i]);
        const auto v = text_of(fields->element[i + 1]);
        if (f.size() != 1) continue;
        switch (f[0]) {
            case 'p': e.prev = id_of(v); break;
            case 't': e.event.target.kind = static_cast<Target::Kind>(int_of(v)); break;
            case 'i': e.event.target.id = v; break;
            case 's': e.event.stream = v; break;
            case 'n': e.event.name = v; break;
            case 'd': e.event.data = v; break;
            case 'r': e.event.retry_ms = static_cast<std::uint32_t>(int_of(v)); break;
            case 'm': e.event.message = v; break;
            case 'w': e.wall_ms = int_of(v); break;
        }
    }
    if (e.id == 0) return std::nullopt;
    return e;
}

std::vector<Entry> entries_of(const redisReply* r) {
    std::vector<Entry> out;
    if (!r || r->type != REDIS_REPLY_ARRAY) return out;
    out.reserve(r->elements);
    for (std::size_t i = 0; i < r->elements; ++i)
        if (auto e = entry_of(r->element[i])) out.push_back(std::move(*e));
    return out;
}

EventPtr published(Entry&& e, SteadyTime at = std::chrono::steady_clock::now()) {
    return std::make_shared<const PublishedEvent>(e.id, std::move(e.event), e.wall_ms, at);
}

std::vector<EventPtr> events_of(const redisReply* r) {
    std::vector<EventPtr> out;
    for (auto& e : entries_of(r)) out.push_back(published(std::move(e)));
    return out;
}

// The latest hash's values: "<len>:<bytes>" for id, kind, target id, stream, data, retry,
// message, wall ms.
std::optional<EventPtr> unpack_latest(std::string_view name, std::string_view packed) {
    std::vector<std::string_view> parts;
    while (!packed.empty() && parts.size() < 8) {
        const auto colon = packed.find(':');
        if (colon == std::string_view::npos) return std::nullopt;
        const auto n = static_cast<std::size_t>(int_of(packed.substr(0, colon)));
        if (colon + 1 + n > packed.size()) return std::nullopt;
        parts.push_back(packed.substr(colon + 1, n));
        packed.remove_prefix(colon + 1 + n);
    }
    if (parts.size() != 8) return std::nullopt;
    Entry e{.id = id_of(parts[0]),
            .event = {.name = std::string(name), .data = std::string(parts[4]), .stream = std::string(parts[3]),
                      .target = {static_cast<Target::Kind>(int_of(parts[1])), std::string(parts[2])},
                      .retry_ms = parts[5].empty() ? std::nullopt
                                                   : std::optional<std::uint32_t>(static_cast<std::uint32_t>(int_of(parts[5]))),
                      .message = std::string(parts[6])},
            .wall_ms = int_of(parts[7])};
    return published(std::move(e));
}

// Commands sent at once (pipelined) whose replies are read in turn; `done` runs after the
// last one with the first error (empty when none).
struct Step {
    std::vector<std::string> args;
    std::function<void(const redisReply*)> on;  // on success only; may be empty
    bool optional = false;                     // its error is not the pipeline's
};

void pipeline(Connection& c, std::vector<Step> steps, std::function<void(const std::string& error)> done) {
    struct State {
        std::string error;
        std::function<void(const std::string&)> done;
    };
    auto state = std::make_shared<State>(State{{}, std::move(done)});
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const bool last = i + 1 == steps.size();
        c.command(steps[i].args, [state, on = std::move(steps[i].on), optional = steps[i].optional, last](
                                     const redisReply* r, const std::string& error) {
            if (!error.empty()) {
                if (!optional && state->error.empty()) state->error = error;
            } else if (on && state->error.empty()) {
                on(r);
            }
            if (last && state->done) state->done(state->error);
        });
    }
    if (steps.empty()) state->done({});
}

class RedisLog final : public Log {
public:
    explicit RedisLog(RedisOptions options)
        : options_(std::move(options)),
          meta_(options_.key + ":meta"),
          latest_(options_.key + ":latest"),
          latest_ids_(options_.key + ":latest:ids"),
          work_(net::make_work_guard(io_)),
          housekeeping_(io_),
          refresh_timer_(io_),
          loop_timer_(io_),
          cmd_timer_(io_),
          stop_timer_(io_) {
        if (options_.retention.max_events == 0) options_.retention.max_events = 1;
        if (options_.max_pending == 0) options_.max_pending = 1;
        thread_ = std::thread([this] { io_.run(); });
        try {
            open();
        } catch (...) {
            stop();
            throw;
        }
    }

    ~RedisLog() override { stop(); }

    std::string_view kind() const noexcept override { return "redis"; }
    std::string_view durability() const noexcept override { return durability_; }
    bool shared() const noexcept override { return true; }

    void start(Sink sink) override {
        net::post(io_, [this, sink = std::move(sink)]() mutable {
            sink_ = std::move(sink);
            started_ = true;
            do_read();
        });
    }

    void stop() override {
        bool first = false;
        {
            std::lock_guard lock(mutex_);
            if (!stopping_) first = stopping_ = true;
        }
        if (first)
            net::post(io_, [this] {
                stop_requested_ = true;
                // What Redis has not answered by then is refused.
                stop_timer_.expires_after(options_.timeout * 2);
                stop_timer_.async_wait([this](error_code ec) {
                    if (!ec) finish();
                });
                maybe_finish();
            });
        std::lock_guard join(join_mutex_);
        if (thread_.joinable()) thread_.join();
        joined_ = true;
    }

    void append(Event event, SteadyTime published_at, AppendDone done) override {
        std::string refusal;
        {
            std::lock_guard lock(mutex_);
            if (stopping_) {
                refusal = "the server is stopping";
            } else if (!health_.ready) {
                refusal = health_.reason;
                ++stats_.failed_writes;
            } else if (pending_ >= options_.max_pending) {
                refusal = "redis: the store is behind: " + std::to_string(pending_) +
                          " writes are waiting; retry shortly";
                ++stats_.failed_writes;
            } else {
                // Pending until answered: queued, sent, or committed and waiting for the loop,
                // so that a slow apply refuses appends instead of holding ever more.
                ++pending_;
                auto answer = [this, done = std::move(done)](EventPtr e, std::size_t delivered, const std::string& error) {
                    {
                        std::lock_guard lock(mutex_);
                        --pending_;
                    }
                    if (done) done(std::move(e), delivered, error);
                };
                queue_.push_back({.event = std::move(event), .published_at = published_at, .done = std::move(answer)});
                kick();
                return;
            }
        }
        if (done) done(nullptr, 0, refusal);
    }

    std::vector<EventPtr> read_after(std::uint64_t after, std::size_t max) override {
        return blocking<std::vector<EventPtr>>([this, after, max](auto done) {
            cmd_->command({"XRANGE", options_.key, "(" + std::to_string(after), "+", "COUNT", std::to_string(max)},
                          [done](const redisReply* r, const std::string& error) { done(events_of(r), error); });
        });
    }

    void read_page(std::uint64_t after, std::size_t max, PageDone done) override {
        bool stopping;
        {
            std::lock_guard lock(mutex_);
            stopping = stopping_;
        }
        if (stopping) {
            // The redis thread may never run what is posted now (it ends once stopped).
            done(Page{.error = "redis: the server is stopping"});
            return;
        }
        net::post(io_, [this, after, max, done = std::move(done)]() mutable {
            if (finished_ || !cmd_) {
                done(Page{.error = "redis: the server is stopping"});
                return;
            }
            // What was applied when the page was asked for: an event applied while XRANGE
            // runs may be in the reply or not, and must not make an empty page a gap.
            const auto applied = last_applied_;
            cmd_->command({"XRANGE", options_.key, "(" + std::to_string(after), "+", "COUNT", std::to_string(max)},
                          [this, after, applied, done = std::move(done)](const redisReply* r, const std::string& error) {
                              if (!error.empty()) {
                                  done(Page{.error = "redis: " + error});
                                  return;
                              }
                              Page page;
                              page.window = window();
                              auto entries = entries_of(r);
                              if (!entries.empty() && entries.front().prev > after)
                                  page.window.dropped_up_to = std::max(page.window.dropped_up_to, entries.front().prev);
                              if (entries.empty() && applied > after)
                                  page.window.dropped_up_to = std::max(page.window.dropped_up_to, applied);
                              page.events.reserve(entries.size());
                              for (auto& e : entries) page.events.push_back(published(std::move(e)));
                              done(std::move(page));
                          });
        });
    }

    std::vector<EventPtr> newest(std::size_t max) override {
        auto out = blocking<std::vector<EventPtr>>([this, max](auto done) {
            cmd_->command({"XREVRANGE", options_.key, "+", "-", "COUNT", std::to_string(max)},
                          [this, done](const redisReply* r, const std::string& error) {
                              auto events = events_of(r);
                              std::reverse(events.begin(), events.end());
                              // Before start(): the loop begins after what the caller now holds.
                              if (!started_ && !events.empty()) {
                                  last_applied_ = std::max(last_applied_, events.back()->id());
                                  expect_prev_ = last_applied_;
                              }
                              done(std::move(events), error);
                          });
        });
        return out;
    }

    std::vector<EventPtr> latest_per_type() override {
        return blocking<std::vector<EventPtr>>([this](auto done) {
            cmd_->command({"HGETALL", latest_}, [done](const redisReply* r, const std::string& error) {
                std::vector<EventPtr> out;
                if (r && r->type == REDIS_REPLY_ARRAY)
                    for (std::size_t i = 0; i + 1 < r->elements; i += 2)
                        if (auto e = unpack_latest(text_of(r->element[i]), text_of(r->element[i + 1]))) out.push_back(*e);
                std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a->id() < b->id(); });
                done(std::move(out), error);
            });
        });
    }

    Window window() override {
        std::lock_guard lock(mutex_);
        return window_;
    }

    void read_issued(std::function<void(std::uint64_t)> done) override {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) {
                // The redis thread may never run what is posted now (it ends once stopped).
                done(0);
                return;
            }
        }
        net::post(io_, [this, done = std::move(done)]() mutable {
            if (finished_ || !cmd_ || !cmd_->connected()) {
                done(0);
                return;
            }
            cmd_->command({"HGET", meta_, "last"}, [this, done = std::move(done)](const redisReply* r, const std::string& error) {
                if (!error.empty()) {
                    done(0);
                    return;
                }
                const auto last = id_of(text_of(r));
                // Nothing issued yet (or Redis lost its data): only what this server applied.
                std::uint64_t issued;
                {
                    std::lock_guard lock(mutex_);
                    window_.issued = std::max(window_.issued, last);
                    issued = std::max(last, last_applied_);
                }
                done(issued);
            });
        });
    }

    Health health() override {
        std::lock_guard lock(mutex_);
        return health_;
    }

    LogStats stats() override {
        std::lock_guard lock(mutex_);
        return stats_;
    }

    void put_record(std::string_view kind, const std::string& id, std::optional<std::string> value) override {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        // Counted now, not when sent: a watch's snapshot must not undo it (poll_records).
        const auto seq = ++record_seq_;
        auto& puts = puts_[std::string(kind)][id];
        puts.last = seq;
        ++puts.pending;
        queue_.push_back({.record = Record{std::string(kind), id, std::move(value), seq}});
        kick();
    }

    Records records(std::string_view kind) override {
        return blocking<Records>([this, kind = std::string(kind)](auto done) { fetch_records(kind, done); });
    }

    void watch_records(std::string_view kind, std::function<void(Records)> changed) override {
        net::post(io_, [this, kind = std::string(kind), changed = std::move(changed)]() mutable {
            watches_.push_back({kind, std::move(changed), {}, false});
            poll_records(watches_.size() - 1);
        });
    }

    void pause_applying(std::chrono::milliseconds pause) override {
        net::post(io_, [this, pause] {
            paused_until_ = std::chrono::steady_clock::now() + pause;
        });
    }

private:
    struct Record {
        std::string kind, id;
        std::optional<std::string> value;
        std::uint64_t seq = 0;  // put_record's count when it was put
    };
    struct Puts {  // this server's puts of one record
        std::uint64_t last = 0;    // the seq of the newest
        std::size_t pending = 0;   // put and not written (or dropped) yet
    };
    struct Item {
        Event event;
        SteadyTime published_at;
        AppendDone done;
        std::optional<Record> record;  // set: a record to put, not an event
    };
    struct Waiting {  // an append Redis numbered, until the loop applies it
        SteadyTime published_at;
        AppendDone done;
        Event event;  // for its answer if retention removes it before the loop reads it
    };
    struct Applied {  // an own event the loop applied before the EVALSHA's answer came
        EventPtr event;
        std::size_t delivered;
    };
    struct Watch {
        std::string kind;
        std::function<void(Records)> changed;
        Records seen;
        bool polling;
    };

    // ---- start-up ------------------------------------------------------------------

    void open() {
        const std::string where = options_.host + ":" + std::to_string(options_.port);
        auto opened = std::make_shared<std::promise<std::string>>();
        auto result = opened->get_future();
        net::post(io_, [this, opened] {
            cmd_ = std::make_unique<Connection>(io_, options_.host, options_.port, options_.timeout);
            loop_ = std::make_unique<Connection>(io_, options_.host, options_.port, options_.timeout);
            open_cmd([this, opened](const std::string& error) {
                if (!error.empty()) {
                    opened->set_value(error);
                    return;
                }
                open_loop([opened](const std::string& error) { opened->set_value(error); });
            });
        });
        if (result.wait_for(options_.timeout * 3) != std::future_status::ready)
            throw ConfigError("cannot reach Redis at " + where + " (no answer): start redis-server or fix --store");
        if (const auto error = result.get(); !error.empty())
            throw ConfigError("cannot reach Redis at " + where + " (" + error + "): start redis-server or fix --store");
        net::post(io_, [this] { housekeep(); });
        SSEBUS_LOG(debug, "store opened", {"store", "redis"}, {"address", where}, {"key", options_.key},
                   {"events", window().count}, {"newest", window().newest}, {"durability", durability_});
    }

    // Connects `cmd`: SELECT, the scripts, the durability (first time), the window.
    void open_cmd(std::function<void(const std::string&)> done) {
        cmd_->connect(
            [this, done = std::move(done)](const std::string& error) {
                if (!error.empty()) return done(error);
                std::vector<Step> steps;
                if (options_.db != 0) steps.push_back({{"SELECT", std::to_string(options_.db)}});
                steps.push_back({{"SCRIPT", "LOAD", append_script}, [this](const redisReply* r) { append_sha_ = text_of(r); }});
                steps.push_back({{"SCRIPT", "LOAD", record_script}, [this](const redisReply* r) { record_sha_ = text_of(r); }});
                if (!asked_durability_) {
                    asked_durability_ = true;
                    auto aof = std::make_shared<std::string>();
                    steps.push_back({{"CONFIG", "GET", "appendonly"}, [aof](const redisReply* r) {
                                         if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) *aof = text_of(r->element[1]);
                                     }, true});
                    steps.push_back({{"CONFIG", "GET", "appendfsync"}, [this, aof](const redisReply* r) {
                                         if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || aof->empty()) return;
                                         const auto sync = text_of(r->element[1]);
                                         durability_ = *aof != "yes" ? "none" : sync == "always" ? "power loss" : "crash";
                                     }, true});
                }
                pipeline(*cmd_, std::move(steps), [this, done](const std::string& error) {
                    if (!error.empty()) {
                        cmd_->close(error);
                        return done(error);
                    }
                    refresh([this, done](const std::string& error) {
                        if (!error.empty()) return done(error);
                        cmd_ready_ = true;
                        cmd_backoff_ = 0ms;
                        update_health();
                        flush();
                        done({});
                    });
                });
            },
            [this](const std::string& why) { on_cmd_lost(why); });
    }

    // Connects `loop`: SELECT, and whether the history it continues is still there.
    void open_loop(std::function<void(const std::string&)> done) {
        loop_->connect(
            [this, done = std::move(done)](const std::string& error) {
                if (!error.empty()) return done(error);
                std::vector<Step> steps;
                if (options_.db != 0) steps.push_back({{"SELECT", std::to_string(options_.db)}});
                // Only the append script writes meta's origin (never a reconnect): the history
                // this server applied is gone when it is missing, or another history began.
                auto origin = std::make_shared<std::uint64_t>(0);
                auto first = std::make_shared<std::uint64_t>(0);
                steps.push_back({{"HGET", meta_, "origin"}, [origin](const redisReply* r) { *origin = id_of(text_of(r)); }});
                steps.push_back({{"XRANGE", options_.key, "-", "+", "COUNT", "1"}, [first](const redisReply* r) {
                                     auto e = entries_of(r);
                                     if (!e.empty()) *first = e.front().id;
                                 }});
                pipeline(*loop_, std::move(steps), [this, done, origin, first](const std::string& error) {
                    if (!error.empty()) {
                        loop_->close(error);
                        return done(error);
                    }
                    if (last_applied_ > 0 && (*origin == 0 || (known_origin_ != 0 && *origin != known_origin_))) {
                        // Redis lost what this server applied (FLUSHALL, a restart without AOF):
                        // the history starts again. (Lost without a reconnect, e.g. FLUSHALL, it
                        // is found at the next applied event, whose p is not the last applied id.)
                        SSEBUS_LOG(warn, "store history lost", {"store", "redis"}, {"applied", last_applied_});
                        if (started_ && sink_.lost) sink_.lost(last_applied_, std::max(*first, last_applied_ + 1));
                        expect_prev_ = 0;
                    }
                    if (*origin != 0) known_origin_ = *origin;
                    loop_ready_ = true;
                    loop_backoff_ = 0ms;
                    update_health();
                    do_read();
                    done({});
                });
            },
            [this](const std::string& why) { on_loop_lost(why); });
    }

    // ---- health and reconnection -----------------------------------------------------

    void update_health() {
        std::vector<Item> refused;
        std::string reason;
        bool was_ready;
        bool ready;
        {
            std::lock_guard lock(mutex_);
            was_ready = health_.ready;
            ready = cmd_ready_ && loop_ready_;
            if (ready) {
                health_ = {};
            } else {
                reason = "redis: " + (cmd_ready_ ? loop_reason_ : cmd_reason_);
                health_ = {false, reason};
                // Never buffered across an outage: waiting appends are refused now.
                std::deque<Item> kept;
                for (auto& item : queue_) {
                    if (item.record) kept.push_back(std::move(item));
                    else refused.push_back(std::move(item));
                }
                queue_ = std::move(kept);
                stats_.failed_writes += refused.size();
            }
        }
        if (was_ready && !ready)
            SSEBUS_LOG(error, "store unavailable", {"store", "redis"}, {"address", cmd_->address()}, {"reason", reason});
        if (!was_ready && ready) SSEBUS_LOG(info, "store available again", {"store", "redis"}, {"address", cmd_->address()});
        for (auto& item : refused)
            if (item.done) item.done(nullptr, 0, reason);
    }

    std::chrono::milliseconds next_backoff(std::chrono::milliseconds& backoff) {
        backoff = backoff == 0ms ? backoff_min : std::min(backoff * 2, std::chrono::milliseconds(backoff_max));
        std::uniform_int_distribution<long> jitter(backoff.count() / 2, backoff.count());
        return std::chrono::milliseconds(jitter(random_));
    }

    void on_cmd_lost(const std::string& why) {
        cmd_ready_ = false;
        cmd_reason_ = why;
        update_health();
        if (finished_) return;
        reconnect_cmd();
    }

    void reconnect_cmd() {
        cmd_timer_.expires_after(next_backoff(cmd_backoff_));
        cmd_timer_.async_wait([this](error_code ec) {
            if (ec || finished_) return;
            open_cmd([this](const std::string& error) {
                if (error.empty() || finished_) return;
                cmd_reason_ = error;
                update_health();
                reconnect_cmd();
            });
        });
    }

    void on_loop_lost(const std::string& why) {
        loop_ready_ = false;
        loop_reason_ = why;
        update_health();
        if (finished_) return;
        reconnect_loop();
    }

    void reconnect_loop() {
        loop_timer_.expires_after(next_backoff(loop_backoff_));
        loop_timer_.async_wait([this](error_code ec) {
            if (ec || finished_) return;
            open_loop([this](const std::string& error) {
                if (error.empty() || finished_) return;
                loop_reason_ = error;
                update_health();
                reconnect_loop();
            });
        });
    }

    // ---- appending -----------------------------------------------------------------

    // Under mutex_: has the redis thread look at the queue.
    void kick() {
        if (kicked_) return;
        kicked_ = true;
        net::post(io_, [this] { flush(); });
    }

    // Sends what is queued, when fewer than max_in_flight EVALSHAs wait: consecutive events
    // in one EVALSHA (up to append_batch), each record in its own, pipelined in queue order.
    void flush() {
        std::vector<Item> items;
        {
            std::lock_guard lock(mutex_);
            kicked_ = false;
            if (in_flight_ >= max_in_flight || !cmd_ready_ || finished_) return;
            std::size_t events = 0;
            requeued_ = 0;
            while (!queue_.empty() && events < append_batch) {
                if (!queue_.front().record) ++events;
                items.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        std::vector<Item> run;
        auto send_run = [&] {
            if (run.empty()) return;
            send_events(std::make_shared<std::vector<Item>>(std::move(run)), false);
            run.clear();
        };
        for (auto& item : items) {
            if (item.record) {
                send_run();
                send_record(std::move(*item.record), false);
            } else {
                run.push_back(std::move(item));
            }
        }
        send_run();
        maybe_finish();
    }

    void send_events(std::shared_ptr<std::vector<Item>> batch, bool retried) {
        std::vector<std::string> args{"EVALSHA", append_sha_, "4", options_.key, meta_, latest_, latest_ids_,
                                      std::to_string(options_.retention.max_events)};
        args.reserve(args.size() + batch->size() * 7);
        for (auto& item : *batch) {
            auto& e = item.event;
            args.push_back(std::to_string(static_cast<int>(e.target.kind)));
            args.push_back(e.target.id);
            args.push_back(e.stream);
            args.push_back(e.name);
            args.push_back(e.data);
            args.push_back(e.retry_ms ? std::to_string(*e.retry_ms) : std::string());
            args.push_back(e.message);
        }
        ++in_flight_;
        const auto began = std::chrono::steady_clock::now();
        cmd_->command(args, [this, batch, retried, began](const redisReply* r, const std::string& error) {
            if (error.rfind("NOSCRIPT", 0) == 0 && !retried) {
                // Redis restarted or flushed its scripts: load it again and retry, in order.
                cmd_->command({"SCRIPT", "LOAD", append_script}, [this](const redisReply* r, const std::string&) {
                    if (r) append_sha_ = text_of(r);
                });
                send_events(batch, true);
                --in_flight_;
                return;
            }
            --in_flight_;
            if (!error.empty() || !r || r->type != REDIS_REPLY_ARRAY || r->elements != batch->size() + 1) {
                const std::string why = finished_ ? "the server is stopping"
                                                  : "redis: " + (error.empty() ? std::string("unexpected reply") : error);
                {
                    std::lock_guard lock(mutex_);
                    stats_.failed_writes += batch->size();
                }
                if (error.empty() || cmd_->connected())
                    SSEBUS_LOG(error, "store append refused", {"store", "redis"}, {"reason", why}, {"events", batch->size()});
                for (auto& item : *batch)
                    if (item.done) item.done(nullptr, 0, why);
            } else {
                const auto ns = static_cast<std::uint64_t>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - began).count());
                {
                    std::lock_guard lock(mutex_);
                    ++stats_.commits;
                    stats_.events_committed += batch->size();
                    stats_.batch_max = std::max<std::uint64_t>(stats_.batch_max, batch->size());
                    stats_.commit_ns_sum += ns;
                    stats_.commit_ns_max = std::max(stats_.commit_ns_max, ns);
                    if (batch->size() > 0)
                        window_.issued = std::max(window_.issued, id_of(text_of(r->element[batch->size() - 1])));
                    if (const auto origin = id_of(text_of(r->element[batch->size()])); origin != 0) window_.origin = origin;
                }
                for (std::size_t i = 0; i < batch->size(); ++i) {
                    auto& item = (*batch)[i];
                    const auto id = id_of(text_of(r->element[i]));
                    if (auto early = early_.find(id); early != early_.end()) {
                        if (item.done) item.done(early->second.event, early->second.delivered, {});
                        early_.erase(early);
                    } else if (id <= last_applied_) {
                        // Committed, and trimmed before the loop read it: acknowledged, applied nowhere here.
                        if (item.done) item.done(unapplied(id, std::move(item.event), item.published_at), 0, {});
                    } else {
                        waiting_.emplace(id, Waiting{item.published_at, std::move(item.done), std::move(item.event)});
                    }
                }
                // Answers come in order and later batches have higher ids: what the loop applied
                // up to this batch's last id is nobody's to answer any more.
                if (batch->size() > 0)
                    early_.erase(early_.begin(), early_.upper_bound(id_of(text_of(r->element[batch->size() - 1]))));
                schedule_refresh();
            }
            if (in_flight_ == 0) early_.clear();
            flush();
            maybe_finish();
        });
    }

    void send_record(Record record, bool retried) {
        const auto base = options_.key + ":records:" + record.kind;
        ++in_flight_;
        sent_seq_ = std::max(sent_seq_, record.seq);
        cmd_->command({"EVALSHA", record_sha_, "3", base, base + ":order", base + ":seq", record.id,
                       record.value ? "1" : "0", record.value.value_or("")},
                      [this, record, retried](const redisReply*, const std::string& error) mutable {
                          --in_flight_;
                          if (error.rfind("NOSCRIPT", 0) == 0 && !retried) {
                              cmd_->command({"SCRIPT", "LOAD", record_script}, [this](const redisReply* r, const std::string&) {
                                  if (r) record_sha_ = text_of(r);
                              });
                              send_record(std::move(record), true);
                              return;
                          }
                          if (!error.empty()) {
                              SSEBUS_LOG(error, "store record not written", {"store", "redis"}, {"kind", record.kind},
                                         {"id", record.id}, {"reason", error});
                              if (!finished_ && !cmd_->connected()) {
                                  // Written when Redis is back, before what was put after it
                                  // (still pending).
                                  std::lock_guard lock(mutex_);
                                  const auto at = std::min(requeued_++, queue_.size());
                                  queue_.insert(queue_.begin() + static_cast<std::ptrdiff_t>(at), Item{.record = std::move(record)});
                              } else {
                                  written(record);  // dropped: no longer pending
                              }
                          } else {
                              seen_put(record);
                              written(record);
                          }
                          if (in_flight_ == 0) early_.clear();
                          flush();
                          maybe_finish();
                      });
    }

    // ---- the read loop -------------------------------------------------------------

    void do_read() {
        if (!started_ || finished_ || reading_ || !loop_ready_ || !loop_->connected()) return;
        const auto now = std::chrono::steady_clock::now();
        if (now < paused_until_) {
            loop_timer_.expires_at(paused_until_);
            loop_timer_.async_wait([this](error_code ec) {
                if (!ec) do_read();
            });
            return;
        }
        apply_held();
        reading_ = true;
        loop_->command({"XREAD", "BLOCK", std::to_string(read_block.count()), "COUNT", std::to_string(read_count),
                        "STREAMS", options_.key, std::to_string(last_applied_)},
                       [this](const redisReply* r, const std::string& error) { on_read(r, error); }, read_block);
    }

    void on_read(const redisReply* r, const std::string& error) {
        reading_ = false;
        if (finished_) return;
        if (!error.empty()) {
            if (!loop_->connected()) return;  // on_loop_lost reconnects
            SSEBUS_LOG(error, "store read failed", {"store", "redis"}, {"reason", error});
            loop_timer_.expires_after(next_backoff(loop_backoff_));
            loop_timer_.async_wait([this](error_code ec) {
                if (!ec) do_read();
            });
            return;
        }
        loop_backoff_ = 0ms;
        // [[key, [entry, ...]]], or nil when BLOCK ran out.
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
            r->element[0]->elements == 2) {
            auto entries = entries_of(r->element[0]->element[1]);
            if (std::chrono::steady_clock::now() < paused_until_) {
                for (auto& e : entries) held_.push_back(std::move(e));
            } else {
                apply_held();
                for (auto& e : entries) apply(std::move(e));
            }
        }
        do_read();
        maybe_finish();
    }

    void apply_held() {
        auto held = std::move(held_);
        held_.clear();
        for (auto& e : held) apply(std::move(e));
    }

    void apply(Entry&& entry) {
        if (entry.id <= last_applied_) return;  // held entries read again after a reconnect
        if (entry.prev != expect_prev_ && last_applied_ > 0) {
            SSEBUS_LOG(warn, "store history broken", {"store", "redis"}, {"applied", last_applied_},
                       {"previous", entry.prev}, {"next", entry.id});
            if (sink_.lost) sink_.lost(last_applied_, entry.id);
        }
        // Own appends retention removed before the loop read them (the chain check above
        // reported the gap): committed, so acknowledged, but applied nowhere here.
        while (!waiting_.empty() && waiting_.begin()->first < entry.id) {
            auto node = waiting_.extract(waiting_.begin());
            auto& w = node.mapped();
            if (w.done) w.done(unapplied(node.key(), std::move(w.event), w.published_at), 0, {});
        }
        auto own = waiting_.find(entry.id);
        const auto id = entry.id;
        const auto prev = entry.prev;
        auto e = published(std::move(entry), own != waiting_.end() ? own->second.published_at : std::chrono::steady_clock::now());
        const std::size_t delivered = sink_.apply ? sink_.apply(e) : 0;
        last_applied_ = expect_prev_ = id;
        recent_.push_back(id);
        if (recent_.size() > 10'000) recent_.pop_front();
        {
            std::lock_guard lock(mutex_);
            window_.newest = id;
            window_.issued = std::max(window_.issued, id);
            if (id > refreshed_newest_) ++window_.count;
            if (window_.earliest == 0) {
                window_.earliest = id;
                window_.dropped_up_to = std::max(window_.dropped_up_to, prev);
            }
        }
        if (own != waiting_.end()) {
            auto done = std::move(own->second.done);
            waiting_.erase(own);
            if (done) done(std::move(e), delivered, {});
        } else if (in_flight_ > 0) {
            early_.emplace(id, Applied{std::move(e), delivered});
        }
    }

    static EventPtr unapplied(std::uint64_t id, Event event, SteadyTime published_at) {
        return std::make_shared<const PublishedEvent>(id, std::move(event), now_ms(), published_at);
    }

    // ---- the window, retention, watched records ------------------------------------

    // Reads the window from Redis; `done` (may be empty) runs after.
    void refresh(std::function<void(const std::string&)> done = {}) {
        if (!cmd_ || !cmd_->connected()) {
            if (done) done("not connected");
            return;
        }
        struct Read {
            std::uint64_t count = 0, first = 0, first_prev = 0, newest = 0, last = 0, origin = 0;
        };
        auto read = std::make_shared<Read>();
        std::vector<Step> steps;
        steps.push_back({{"XLEN", options_.key}, [read](const redisReply* r) { read->count = static_cast<std::uint64_t>(r->integer); }});
        steps.push_back({{"XRANGE", options_.key, "-", "+", "COUNT", "1"}, [read](const redisReply* r) {
                             auto e = entries_of(r);
                             if (!e.empty()) read->first = e.front().id, read->first_prev = e.front().prev;
                         }});
        steps.push_back({{"XREVRANGE", options_.key, "+", "-", "COUNT", "1"}, [read](const redisReply* r) {
                             auto e = entries_of(r);
                             if (!e.empty()) read->newest = e.front().id;
                         }});
        steps.push_back({{"HMGET", meta_, "last", "origin"}, [read](const redisReply* r) {
                             if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return;
                             read->last = id_of(text_of(r->element[0]));
                             read->origin = id_of(text_of(r->element[1]));
                         }});
        last_refresh_ = std::chrono::steady_clock::now();
        pipeline(*cmd_, std::move(steps), [this, read, done](const std::string& error) {
            if (error.empty()) {
                if (!started_ && last_applied_ == 0) {
                    // At start: the loop continues after the newest entry (the hub warms its
                    // ring from newest()), or after the last id issued when nothing is retained.
                    last_applied_ = read->newest != 0 ? read->newest : read->last;
                    expect_prev_ = last_applied_;
                }
                // What the reads saw ends at `seen` (the stream's newest entry, or the last id
                // issued when nothing is retained): events applied since, newer than that, are
                // added to it.
                if (known_origin_ == 0) known_origin_ = read->origin;
                const auto seen = read->first != 0 ? read->newest : read->last;
                const auto newer = std::upper_bound(recent_.begin(), recent_.end(), seen);
                std::lock_guard lock(mutex_);
                refreshed_newest_ = std::max(seen, last_applied_);
                window_.count = read->count + static_cast<std::uint64_t>(recent_.end() - newer);
                window_.newest = last_applied_;
                window_.origin = read->origin;
                window_.issued = std::max({window_.issued, read->last, last_applied_});
                if (read->first != 0) {
                    window_.earliest = read->first;
                    window_.dropped_up_to = read->first_prev;
                } else {
                    window_.earliest = newer != recent_.end() ? *newer : 0;
                    window_.dropped_up_to = read->last;
                }
            }
            if (done) done(error);
        });
    }

    // After appends: at most every refresh_every.
    void schedule_refresh() {
        if (refresh_scheduled_) return;
        const auto next = last_refresh_ + refresh_every;
        if (std::chrono::steady_clock::now() >= next) {
            refresh();
            return;
        }
        refresh_scheduled_ = true;
        refresh_timer_.expires_at(next);
        refresh_timer_.async_wait([this](error_code ec) {
            refresh_scheduled_ = false;
            if (!ec && !finished_) refresh();
        });
    }

    void housekeep() {
        if (finished_) return;
        if (cmd_ready_) {
            if (options_.retention.max_age.count() > 0) {
                // Exact, not ~: on a small stream ~ could keep expired entries for good.
                // Ids come from Redis's clock, so the cut does too (this machine's may differ).
                const auto age_us = static_cast<std::uint64_t>(
                    std::chrono::duration_cast<std::chrono::microseconds>(options_.retention.max_age).count());
                cmd_->command({"EVAL", trim_script, "1", options_.key, std::to_string(age_us)},
                              [](const redisReply*, const std::string& error) {
                                  if (!error.empty())
                                      SSEBUS_LOG(warn, "store trim failed", {"store", "redis"}, {"reason", error});
                              });
            }
            refresh();
            for (std::size_t i = 0; i < watches_.size(); ++i) poll_records(i);
        }
        housekeeping_.expires_after(housekeeping_every);
        housekeeping_.async_wait([this](error_code ec) {
            if (!ec) housekeep();
        });
    }

    void fetch_records(const std::string& kind, std::function<void(Records, const std::string&)> done) {
        const auto base = options_.key + ":records:" + kind;
        auto values = std::make_shared<std::map<std::string, std::string>>();
        auto order = std::make_shared<std::vector<std::string>>();
        pipeline(*cmd_,
                 {{{"HGETALL", base}, [values](const redisReply* r) {
                       for (std::size_t i = 0; i + 1 < r->elements; i += 2)
                           values->emplace(text_of(r->element[i]), text_of(r->element[i + 1]));
                   }},
                  {{"ZRANGE", base + ":order", "0", "-1"}, [order](const redisReply* r) {
                       for (std::size_t i = 0; i < r->elements; ++i) order->emplace_back(text_of(r->element[i]));
                   }}},
                 [values, order, done](const std::string& error) {
                     Records out;
                     for (auto& id : *order)
                         if (auto v = values->find(id); v != values->end()) out.emplace_back(id, v->second);
                     done(std::move(out), error);
                 });
    }

    // A record's put is done with: written, or dropped.
    void written(const Record& r) {
        std::lock_guard lock(mutex_);
        auto& puts = puts_[r.kind][r.id];
        if (puts.pending > 0) --puts.pending;
    }

    void poll_records(std::size_t index) {
        auto& w = watches_[index];
        if (w.polling || !cmd_ready_) return;
        w.polling = true;
        // Commands on `cmd` run in order: the snapshot holds every put sent before it.
        const auto sent = sent_seq_;
        fetch_records(w.kind, [this, index, sent](Records records, const std::string& error) {
            auto& w = watches_[index];
            w.polling = false;
            if (!error.empty()) return;
            // A record this server put and has not written yet, or put after the read was
            // sent, may be older in the snapshot than here: it keeps what this server knows
            // (the next poll reads it), so a stale snapshot never undoes a put.
            std::vector<std::string> mine;
            {
                std::lock_guard lock(mutex_);
                if (auto kind = puts_.find(w.kind); kind != puts_.end())
                    for (auto& [id, puts] : kind->second)
                        if (puts.pending > 0 || puts.last > sent) mine.push_back(id);
            }
            auto is_mine = [&](const std::string& id) { return std::find(mine.begin(), mine.end(), id) != mine.end(); };
            Records merged;
            for (auto& record : records) {
                const std::string& id = record.first;  // (a name, not a binding: lambdas capture it)
                if (!is_mine(id)) {
                    merged.push_back(std::move(record));
                } else if (auto it = std::find_if(w.seen.begin(), w.seen.end(), [&](auto& p) { return p.first == id; });
                           it != w.seen.end()) {
                    merged.push_back(*it);
                }
            }
            for (auto& p : w.seen)
                if (is_mine(p.first) && std::find_if(merged.begin(), merged.end(), [&](auto& m) { return m.first == p.first; }) ==
                                            merged.end())
                    merged.push_back(p);
            if (merged == w.seen) return;
            w.seen = std::move(merged);
            if (w.changed) w.changed(w.seen);
        });
    }

    // What this server put is no change to report to it.
    void seen_put(const Record& r) {
        for (auto& w : watches_) {
            if (w.kind != r.kind) continue;
            auto it = std::find_if(w.seen.begin(), w.seen.end(), [&](auto& p) { return p.first == r.id; });
            if (!r.value) {
                if (it != w.seen.end()) w.seen.erase(it);
            } else if (it != w.seen.end()) {
                it->second = *r.value;
            } else {
                w.seen.emplace_back(r.id, *r.value);
            }
        }
    }

    // ---- stopping ------------------------------------------------------------------

    void maybe_finish() {
        if (!stop_requested_ || finished_) return;
        bool queued;
        {
            std::lock_guard lock(mutex_);
            queued = !queue_.empty() && cmd_ready_;
        }
        if (queued || in_flight_ > 0 || (!waiting_.empty() && started_ && loop_ready_)) return;
        finish();
    }

    void finish() {
        if (finished_) return;
        finished_ = true;
        std::deque<Item> queued;
        {
            std::lock_guard lock(mutex_);
            queued = std::move(queue_);
            queue_.clear();
        }
        for (auto& item : queued)
            if (item.done) item.done(nullptr, 0, "the server is stopping");
        // Redis committed these (EVALSHA answered) and this server has not applied them: they
        // are acknowledged, applied nowhere here. Refusing them would have the publisher
        // send them again, twice in the log.
        auto waiting = std::move(waiting_);
        waiting_.clear();
        for (auto& [id, w] : waiting)
            if (w.done) w.done(unapplied(id, std::move(w.event), w.published_at), 0, {});
        housekeeping_.cancel();
        refresh_timer_.cancel();
        loop_timer_.cancel();
        cmd_timer_.cancel();
        stop_timer_.cancel();
        // Freed here, on their thread: the commands still waiting fail with this reason.
        if (cmd_) cmd_->close("the server is stopping");
        if (loop_) loop_->close("the server is stopping");
        net::post(io_, [this] {
            cmd_.reset();
            loop_.reset();
            work_.reset();
        });
    }

    // Runs `start` on the redis thread and waits for what it gives `done`, up to the timeout.
    template <typename T>
    T blocking(std::function<void(std::function<void(T, const std::string&)>)> start) {
        if (std::this_thread::get_id() == thread_.get_id())
            throw std::logic_error("redis: a blocking read on the log's own thread");
        if (joined_) throw std::runtime_error("redis: the log is stopped");
        auto promise = std::make_shared<std::promise<T>>();
        auto answered = std::make_shared<bool>(false);
        auto future = promise->get_future();
        net::post(io_, [this, start = std::move(start), promise, answered] {
            if (finished_ || !cmd_) {
                promise->set_exception(std::make_exception_ptr(std::runtime_error("redis: the log is stopped")));
                return;
            }
            start([promise, answered](T value, const std::string& error) {
                if (*answered) return;
                *answered = true;
                if (error.empty()) promise->set_value(std::move(value));
                else promise->set_exception(std::make_exception_ptr(std::runtime_error("redis: " + error)));
            });
        });
        if (future.wait_for(options_.timeout + 1s) != std::future_status::ready)
            throw std::runtime_error("redis: no answer within " + std::to_string(options_.timeout.count()) + " ms");
        return future.get();
    }

    RedisOptions options_;
    const std::string meta_, latest_, latest_ids_;

    net::io_context io_;
    net::executor_work_guard<net::io_context::executor_type> work_;
    std::thread thread_;
    std::mutex join_mutex_;
    std::atomic<bool> joined_{false};

    // The redis thread's (after open()).
    std::unique_ptr<Connection> cmd_, loop_;
    std::string append_sha_, record_sha_;
    std::string durability_ = "unknown";  // set by open(), read-only after
    Sink sink_;
    bool started_ = false;
    bool stop_requested_ = false;
    bool finished_ = false;
    bool asked_durability_ = false;
    bool reading_ = false;
    bool refresh_scheduled_ = false;
    std::uint64_t last_applied_ = 0;
    std::uint64_t expect_prev_ = 0;     // the p the next entry must have
    std::uint64_t known_origin_ = 0;    // meta's origin, as the loop last saw it
    std::deque<std::uint64_t> recent_;  // the newest ids applied, in order
    int in_flight_ = 0;                 // EVALSHAs sent and not answered
    std::map<std::uint64_t, Waiting> waiting_;
    std::map<std::uint64_t, Applied> early_;
    std::vector<Entry> held_;           // read while applying was paused
    SteadyTime paused_until_{};
    SteadyTime last_refresh_{};
    std::chrono::milliseconds cmd_backoff_{0}, loop_backoff_{0};
    std::string cmd_reason_, loop_reason_;
    std::vector<Watch> watches_;
    std::uint64_t sent_seq_ = 0;  // the newest record put sent to Redis
    std::minstd_rand random_{std::random_device{}()};
    net::steady_timer housekeeping_, refresh_timer_, loop_timer_, cmd_timer_, stop_timer_;

    // Shared with the callers' threads.
    std::mutex mutex_;
    std::deque<Item> queue_;
    std::size_t pending_ = 0;   // appends accepted and not answered yet
    std::size_t requeued_ = 0;  // failed records put back at the queue's front, in order
    std::uint64_t record_seq_ = 0;
    std::map<std::string, std::map<std::string, Puts>> puts_;  // kind -> id -> this server's puts
    bool kicked_ = false;
    bool stopping_ = false;
    std::atomic<bool> cmd_ready_{false}, loop_ready_{false};
    Health health_{false, "redis: connecting"};
    Window window_;
    std::uint64_t refreshed_newest_ = 0;
    LogStats stats_;
};

}  // namespace

RedisOptions parse_redis_url(std::string_view text) {
    const std::string example = "; e.g. redis://127.0.0.1:6379/0?key=ssebus:events";
    const std::string what = "--store " + std::string(text) + ": ";
    auto parsed = boost::urls::parse_uri(text);
    if (!parsed) throw ConfigError(what + "not a URL (" + parsed.error().message() + ")" + example);
    const auto& url = *parsed;
    if (url.scheme() != "redis") throw ConfigError(what + "the scheme must be redis://" + example);
    if (url.has_userinfo()) throw ConfigError(what + "a user or password is not supported" + example);
    if (url.has_fragment()) throw ConfigError(what + "a #fragment is not supported" + example);
    RedisOptions options;
    options.host = url.host_address();
    if (options.host.empty()) throw ConfigError(what + "the host is missing" + example);
    if (url.has_port()) {
        const auto port = url.port();
        unsigned long value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
            throw ConfigError(what + "the port must be a number from 1 to 65535, not '" + std::string(port) + "'" + example);
        options.port = static_cast<unsigned short>(value);
    }
    std::string path = url.path();
    if (!path.empty() && path != "/") {
        const auto db = std::string_view(path).substr(1);
        unsigned long value = 0;
        const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), value);
        if (path[0] != '/' || db.empty() || ec != std::errc() || end != db.data() + db.size() || value > 1'000'000)
            throw ConfigError(what + "the path must be the database number (/0, /1, ...), not '" + path + "'" + example);
        options.db = static_cast<unsigned>(value);
    }
    for (const auto& param : url.params()) {
        if (param.key != "key")
            throw ConfigError(what + "unknown parameter '" + std::string(param.key) + "' (only key= is known)" + example);
        if (param.value.empty()) throw ConfigError(what + "key= must name the stream" + example);
        options.key = param.value;
    }
    return options;
}

std::unique_ptr<Log> make_redis_log(RedisOptions options) {
    return std::make_unique<RedisLog>(std::move(options));
}

}  // namespace ssebus::server::store
