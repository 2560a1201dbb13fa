// The hub: subscribers, streams and targets, and the live fan-out. Every route is a view over
// it: which events a subscriber selects (Filter + identity) and how it frames them. A
// store::Log behind it numbers, commits and keeps events; the hub keeps a ring of the
// newest ones as a cache and reads older replays from the log, page by page.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "event.hpp"
#include "store/event_log.hpp"

namespace ssebus::server {

// Who is on the other end of a stream.
struct ClientInfo {
    std::string client_id;   // from ?clientId= or made up by the server
    std::string user;        // empty: anonymous
    std::string session;
    std::string route;       // "/api/events", ...
    std::string remote;      // peer address, for logs
    bool authenticated() const noexcept { return !user.empty(); }
};

// Which events a stream selects.
struct Filter {
    bool global = true;              // events with no stream
    std::set<std::string> streams;   // named streams ("*" events reach any non-empty set)
    bool matches(const Event& e) const;
};

bool reaches(const Target& target, const ClientInfo& client);

// What a stream is: identity, selection and wire shape. Immutable once attached.
struct Subscription {
    ClientInfo client;
    Filter filter;
    Framing framing = Framing::named;
    bool latest_per_type = false;    // start with the latest event of each type (/api/events/stream)
    bool selects(const Event& e) const { return filter.matches(e) && reaches(e.target, client); }
};

// The hub's side of a stream (an sse_session). deliver() and close() are called from any
// thread and must only post to the stream's own strand (or I/O thread).
class Subscriber {
public:
    virtual ~Subscriber() = default;
    // A live event's frame, and when the hub published it (PublishedEvent::published_at).
    virtual void deliver(const Frame& frame, SteadyTime published_at) = 0;
    // The shard (Hub::set_shards) whose one thread the stream lives on, read once at attach.
    // A stream with a shard gets its live events by deliver_here(), from one task per event
    // that the hub posts to the shard; one without (nullopt) gets deliver() instead.
    virtual std::optional<std::size_t> shard() const { return std::nullopt; }
    // deliver(), already on the stream's thread: nothing is posted. A stream may only queue
    // the frame here: flush_here() follows, in a task of its own posted to the shard after
    // the event reached every stream of the shard, so that events that came in between go
    // out in the same write.
    virtual void deliver_here(const Frame& frame, SteadyTime published_at) { deliver(frame, published_at); }
    virtual void flush_here() {}
    // A frame that is no event (the gap notice when the log lost history): no latency to
    // measure. By default it goes the way of an event published now.
    virtual void notice(const Frame& frame) { deliver(frame, std::chrono::steady_clock::now()); }
    virtual void close(const Frame& final_comment) = 0;
};

// Why a stream ended, for the log and HubStats::closed_by_reason.
enum class CloseReason { client_gone, slow_client, rotated, shutdown, write_failed, store_failed };
inline constexpr std::size_t close_reason_count = 6;
// "client_gone", "slow_client", "rotated", "shutdown", "write_failed", "store_failed" (the log
// could not be read for a replay: the client reconnects and resumes).
std::string_view to_string(CloseReason reason) noexcept;

using CountsByName = std::vector<std::pair<std::string, std::uint64_t>>;

// Counts by event name with bounded cardinality: the first `tracked` names are counted one
// by one and every later name counts as "other"; top() gives the `shown` largest and the
// rest summed as "other", so /metrics never has more than shown + 1 series. add() does not
// allocate for a name already tracked. Not synchronised: the hub counts under the lock a
// publish holds anyway.
class NameCounts {
public:
    static constexpr std::size_t default_tracked = 256, default_shown = 20;
    explicit NameCounts(std::size_t tracked = default_tracked, std::size_t shown = default_shown)
        : tracked_(tracked), shown_(shown) {}
    void add(std::string_view name);
    // Largest first (ties by name), then {"other", n} when anything else was counted.
    CountsByName top() const;

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::size_t tracked_;
    std::size_t shown_;
    std::unordered_map<std::string, std::uint64_t, Hash, std::equal_to<>> counts_;
    std::uint64_t untracked_ = 0;
};

// Latencies in fixed buckets (a Prometheus histogram). Writers fill a Batch on their own
// and record() it: a few relaxed atomic adds, on a stripe of the counters chosen by thread,
// so that I/O threads seldom share a cache line. snapshot() sums the stripes; it is not
// atomic with respect to record(), but its count is the sum of its buckets, so +Inf and
// _count always agree.
class LatencyHistogram {
public:
    // Upper bounds (inclusive) in nanoseconds, and as /metrics writes them in `le`, in
    // seconds; one more bucket, +Inf, takes the rest.
    static constexpr std::array<std::int64_t, 13> bounds_ns{
        500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000, 25'000'000, 50'000'000,
        100'000'000, 250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000};
    static constexpr std::array<std::string_view, 13> bounds_text{
        "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5"};
    static constexpr std::size_t bucket_count = bounds_ns.size() + 1;
    using Counts = std::array<std::uint64_t, bucket_count>;  // per bucket, not cumulative

    // Samples gathered by one writer before they are recorded at once.
    struct Batch {
        Counts counts{};
        std::uint64_t sum_ns = 0;
        bool empty = true;
        void add(std::chrono::nanoseconds latency) noexcept;
    };
    void record(const Batch& batch) noexcept;

    struct Snapshot {
        Counts counts{};  // per bucket, not cumulative
        std::uint64_t sum_ns = 0;
        std::uint64_t count() const noexcept;
    };
    Snapshot snapshot() const noexcept;

private:
    static constexpr std::size_t stripe_count = 8;
    struct alignas(64) Stripe {
        std::array<std::atomic<std::uint64_t>, bucket_count> counts{};
        std::atomic<std::uint64_t> sum_ns{0};
    };
    std::array<Stripe, stripe_count> stripes_{};
};

struct HubOptions {
    // Retained events (the log's retention by count); the ring holds at most ring_size of
    // the newest of them.
    std::size_t history_size = 10'000;
    std::size_t ring_size = 10'000;
    std::chrono::seconds history_max_age{0};  // 0: no age limit
    // The first id; by default the clock in microseconds, so that ids keep increasing
    // across restarts.
    std::optional<std::uint64_t> first_id;
    std::size_t max_streams_per_user = 5;
    // Shared logs: how long a stream whose Last-Event-ID this hub has not applied yet waits
    // for it (another server issued it, and this one lags) before it is refused with 503.
    std::chrono::milliseconds lag_wait{2'000};
};

struct HubStats {
    std::size_t active_clients = 0;
    std::size_t authenticated_clients = 0;
    std::map<std::string, std::size_t> clients_by_route;
    std::map<std::string, std::size_t> clients_by_stream;
    std::uint64_t events_published = 0;
    CountsByName events_published_by_name;  // NameCounts::top(): every publish, by name
    // Seconds from publish (the hub numbering the event) to the completed socket write that
    // carried its frame, one sample per live event per stream; replays are not measured.
    LatencyHistogram::Snapshot publish_to_write;
    std::uint64_t frames_delivered = 0;
    // Streams the live fan-out examined to find those an event selects (the index's
    // candidates): near frames_delivered when selection costs nothing beyond the sending.
    std::uint64_t streams_examined = 0;
    std::uint64_t events_replayed = 0;
    std::uint64_t gaps_reported = 0;
    std::uint64_t slow_clients_disconnected = 0;
    // Streams ended, by to_string(CloseReason); every reason is present, zeros included.
    std::map<std::string, std::uint64_t> closed_by_reason;
    std::uint64_t streams_refused = 0;  // over the per-user limit
    std::size_t streams_waiting = 0;    // waiting for this hub to apply their Last-Event-ID
    std::uint64_t lag_waits = 0;        // streams that waited so (served after, or refused)
    std::uint64_t connections_total = 0;
    std::size_t history_size = 0;       // retained events (the log's)
    std::uint64_t history_earliest_id = 0;
    std::uint64_t last_id = 0;
    std::string store_kind;             // "memory", "sqlite"
    std::string store_durability;       // store::Log::durability()
    store::Window store_window;
    store::Health store_health;
    store::LogStats store;
    std::size_t ring_size = 0;          // events in the hub's ring
    nlohmann::json to_json() const;
};

// A place for one more stream of a user; releases it when destroyed.
class StreamTicket {
public:
    StreamTicket() = default;
    StreamTicket(const StreamTicket&) = delete;
    StreamTicket& operator=(const StreamTicket&) = delete;
    StreamTicket(StreamTicket&& other) noexcept;
    StreamTicket& operator=(StreamTicket&& other) noexcept;
    ~StreamTicket();

private:
    friend class Hub;
    class Hub* hub_ = nullptr;
    std::string user_;
};

// What became of a publish: the event with its id once it is committed (and, where the
// store numbers events itself, applied), or why it was refused. `retry_after_s` is set
// when the store could not write and the caller should try again (HTTP 503).
struct Published {
    EventPtr event;                      // null when refused
    std::size_t delivered = 0;           // streams it was sent to on this instance
    std::string error;                   // empty when committed
    std::uint32_t retry_after_s = 0;
    bool ok() const noexcept { return event != nullptr; }
};
using PublishDone = std::function<void(Published)>;

// A page of a replay: frames to send, and whether the stream is now attached (live events
// follow) or must ask for the next page with replay_more(after).
struct Replay {
    std::vector<Frame> frames;
    bool attached = false;
    std::uint64_t after = 0;  // when not attached: the id to continue after
    // The log could not be read (logged): send the frames, then close the stream; the
    // client reconnects and resumes from its last id.
    bool failed = false;
};

// The attached streams, indexed by target and by stream, so that an event touches only the
// streams it may select: an event for one user reads that user's streams, a broadcast one
// list. Every list is a dense vector; each stream knows its place in each of its lists, so
// that it leaves them by swap-remove, in O(1). Not synchronised: the hub holds its lock.
class StreamIndex {
public:
    struct Stream {
        std::weak_ptr<Subscriber> subscriber;
        std::shared_ptr<const Subscription> subscription;
        std::optional<std::size_t> shard;
    };

    StreamIndex() = default;
    StreamIndex(const StreamIndex&) = delete;
    StreamIndex& operator=(const StreamIndex&) = delete;

    // Adds the stream under `key`, or replaces the one there.
    void add(const Subscriber* key, Stream stream);
    void remove(const Subscriber* key);
    std::size_t size() const noexcept { return nodes_.size(); }

    // Calls f(const Stream&) for every stream that selects `e` (Subscription::selects),
    // each once, and returns how many streams it examined to find them.
    template <class F>
    std::size_t select(const Event& e, F&& f) const;
    // Calls f(const Stream&) for every stream.
    template <class F>
    void for_each(F&& f) const {
        for (const auto& [_, node] : nodes_) f(node->stream);
    }

private:
    struct Node;
    // A list of streams. A keyed one (by user, ...) knows its map and key, to leave it when
    // its last stream goes.
    struct List {
        struct Item {
            Node* node;
            std::size_t slot;  // this list's place in node->in
        };
        std::vector<Item> items;
        std::unordered_map<std::string, List>* owner = nullptr;
        std::string key;
    };
    struct Node {
        Stream stream;
        struct Place {
            List* list;
            std::size_t at;  // index in list->items
        };
        std::vector<Place> in;
    };
    void link(Node& node, List& list);
    static List& keyed(std::unordered_map<std::string, List>& map, const std::string& key);
    static const List* find(const std::unordered_map<std::string, List>& map, const std::string& key);
    // The streams whose filter matches `e` (by stream alone), or null for none.
    const List* by_stream(const Event& e) const;

    std::unordered_map<const Subscriber*, std::unique_ptr<Node>> nodes_;
    List global_;         // filter.global: events with no stream
    List named_;          // a non-empty filter.streams: "*" events
    List authenticated_;  // broadcast
    std::unordered_map<std::string, List> streams_, users_, sessions_, clients_;
};

template <class F>
std::size_t StreamIndex::select(const Event& e, F&& f) const {
    const List* streams = by_stream(e);
    const List* targets = nullptr;
    const auto& t = e.target;
    switch (t.kind) {
        case Target::Kind::all:
            // Every stream of the list matches, and `all` reaches every client.
            if (!streams) return 0;
            for (const auto& item : streams->items) f(item.node->stream);
            return streams->items.size();
        case Target::Kind::broadcast:
            // The shorter of the two lists, checked against the other half of selects().
            if (streams && streams->items.size() < authenticated_.items.size()) {
                for (const auto& item : streams->items)
                    if (item.node->stream.subscription->client.authenticated()) f(item.node->stream);
                return streams->items.size();
            }
            targets = &authenticated_;
            break;
        case Target::Kind::user: targets = find(users_, t.id); break;
        case Target::Kind::session: targets = find(sessions_, t.id); break;
        case Target::Kind::client: targets = find(clients_, t.id); break;
    }
    if (!targets || !streams) return 0;
    for (const auto& item : targets->items)
        if (item.node->stream.subscription->selects(e)) f(item.node->stream);
    return targets->items.size();
}

class Hub {
public:
    // `log` null: a memory log with the options' retention and first_id. The hub loads the
    // log's newest events into its ring and its latest-of-each-type, then starts it.
    explicit Hub(HubOptions options = {}, std::unique_ptr<store::Log> log = nullptr);
    ~Hub();
    Hub(const Hub&) = delete;
    Hub& operator=(const Hub&) = delete;

    // Publishes one event and waits until it is committed: the log gives it the next id and
    // keeps it, and its bytes go to every stream that selects it, in id order for every
    // stream. `delivered`, when given, receives the number of streams it was sent to.
    // Returns null when the store could not write. Never call it from a PublishDone.
    EventPtr publish(Event event, std::size_t* delivered = nullptr);

    // The asynchronous publish every HTTP route and every I/O-thread caller uses: `done`
    // runs exactly once, on an unspecified thread, after the event is committed (acknowledged
    // means durable) or refused. `done` may be empty (fire and forget).
    void publish(Event event, PublishDone done);

    // The in-process API for back-end code in the same binary.
    EventPtr notify_all(std::string name, const nlohmann::json& data, std::optional<std::uint32_t> retry_ms = {});
    EventPtr broadcast(std::string name, const nlohmann::json& data, std::optional<std::uint32_t> retry_ms = {});
    EventPtr notify_user(const std::string& user, std::string name, const nlohmann::json& data,
                         std::optional<std::uint32_t> retry_ms = {});
    EventPtr notify_session(const std::string& session, std::string name, const nlohmann::json& data,
                            std::optional<std::uint32_t> retry_ms = {});
    EventPtr notify_client(const std::string& client, std::string name, const nlohmann::json& data,
                           std::optional<std::uint32_t> retry_ms = {});

    // Takes a place for one more stream of `client`'s user; nullopt when the user already
    // has the maximum. Anonymous clients are not limited here.
    std::optional<StreamTicket> admit(const ClientInfo& client);

    // Registers a stream and returns, atomically with respect to publish(), the frames it
    // must send before any live one: a gap notice, then every retained event after
    // `last_event_id` that it selects (or the latest of each type). Nothing is missed and
    // nothing is sent twice, however publishes and attaches interleave.
    // Reads the whole replay at once and waits for the log: for tests and in-process callers,
    // never on an I/O thread or the log's own (streams use replay_first/replay_more).
    std::vector<Frame> attach(const std::shared_ptr<Subscriber>& subscriber,
                              std::shared_ptr<const Subscription> subscription,
                              std::optional<std::uint64_t> last_event_id);
    // The same in steps, none of which waits for the log. replay_first registers the stream
    // and checks for a gap (the log's window is cached): when the events after the client's
    // id are in the ring, it attaches the stream from there, atomically with respect to
    // publishes, as attach() does; otherwise it returns, not attached, the gap notice (if
    // any) and the id to continue after, and the stream reads the log with replay_more.
    Replay replay_first(const std::shared_ptr<Subscriber>& subscriber, std::shared_ptr<const Subscription> subscription,
                        std::optional<std::uint64_t> last_event_id);
    // One page of at most `page` events from the log (log().read_page()), or, once the events
    // after `after` are in the ring, the attach. `done` runs once, inline or later on the
    // log's thread (a stream posts it back to its strand). A stream detached while its page
    // was read is not registered again (its answer is to be ignored). A page the log could
    // not read gives `failed`.
    void replay_more(const std::shared_ptr<Subscriber>& subscriber, std::shared_ptr<const Subscription> subscription,
                     std::uint64_t after, std::function<void(Replay)> done, std::size_t page = 1'000);
    // The blocking forms of the two, for tests and in-process callers (as attach()):
    // replay_first with the first page read at once, and one page waited for.
    Replay replay_first(const std::shared_ptr<Subscriber>& subscriber, std::shared_ptr<const Subscription> subscription,
                        std::optional<std::uint64_t> last_event_id, std::size_t page);
    Replay replay_more(const std::shared_ptr<Subscriber>& subscriber, const std::shared_ptr<const Subscription>& subscription,
                       std::uint64_t after, std::size_t page = 1'000);

    // Shared logs (log().shared()): whether a stream resuming from `last_event_id` must wait,
    // because it is above the newest id this hub applied: another server may have issued it,
    // and this one not have applied it yet. Always false for other logs.
    bool lags_behind(std::optional<std::uint64_t> last_event_id) const;
    // Runs `woken(true)` once, when the hub has applied `id` (inline when it has already), on
    // the thread that applied it, or as soon as the log says that no server issued `id` (the
    // stream then starts, and its replay tells of the gap); the hub holds no lock then.
    // `woken(false)` instead when the hub closes its streams first (close_all, shutdown;
    // inline once it has). Returns a ticket for cancel_wait(). Every wait is counted in
    // subscriber_count() until the waiter calls end_wait(), once it holds nothing of the
    // hub's for the stream (its StreamTicket).
    std::uint64_t wait_for_applied(std::uint64_t id, std::function<void(bool applied)> woken);
    // Gives up a wait: true when it was still waiting (`woken` will not run), false when
    // `woken` has run or is running. Counted in stats() as a lag wait either way.
    bool cancel_wait(std::uint64_t ticket);
    // The waiter of a wait_for_applied() is done with it (woken, or cancelled).
    void end_wait();
    std::chrono::milliseconds lag_wait() const noexcept { return options_.lag_wait; }
    void detach(const Subscriber* subscriber);

    // Shards: `post(k, task)` runs `task` on shard k's one thread, in the order posted (the
    // server's io_context k; the hub knows no Asio). apply() then posts one task per event to
    // each shard with streams selected, carrying the event and those streams, which it hands
    // to their deliver_here(), then one more to their flush_here(); no post per stream. A stream whose shard() is not below
    // `count` is delivered to as one without. Set it before the first stream attaches.
    using ShardPost = std::function<void(std::size_t shard, std::function<void()> task)>;
    void set_shards(std::size_t count, ShardPost post);

    // The log behind the hub.
    store::Log& log() noexcept { return *log_; }

    // Asks every stream to close after a final comment (shutdown); streams waiting for an id
    // (wait_for_applied) are woken with `false`, and any later wait at once.
    void close_all(const std::string& final_comment);
    // close_all() has run.
    bool closing() const;

    void count_slow_client() noexcept { slow_clients_.fetch_add(1, std::memory_order_relaxed); }
    void count_closed(CloseReason reason) noexcept {
        closed_[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
    }
    // Live events whose frames a stream's write just completed.
    void record_publish_to_write(const LatencyHistogram::Batch& batch) noexcept { publish_to_write_.record(batch); }
    HubStats stats() const;
    // Streams attached, reading their replay, or waiting for an id (until end_wait()).
    std::size_t subscriber_count() const;
    std::size_t count_clients(const std::function<bool(const Subscription&)>& pred) const;

    // Lifecycle hooks; set them before the server starts.
    std::function<void(const ClientInfo&)> on_connect;
    std::function<void(const ClientInfo&)> on_disconnect;
    std::function<void(const ClientInfo&, const std::string& what)> on_error;
    std::function<void(const ClientInfo&)> on_heartbeat;

private:
    friend class StreamTicket;
    EventPtr notify(Target target, std::string name, const nlohmann::json& data, std::optional<std::uint32_t> retry_ms);
    void release_stream(const std::string& user);
    // A committed event, from the log, in id order: into the ring, then to its streams.
    std::size_t apply(const EventPtr& event);
    // The log found that history this hub may have applied is gone: every stream is told.
    void lost(std::uint64_t requested, std::uint64_t earliest);
    // Ends a wait_for_applied() wait now, with woken(true), if it still waits.
    void wake(std::uint64_t ticket);
    // A replay that cannot go on: the log could not be read (logged here).
    static Replay unreadable(const ClientInfo& client, std::string_view reason);
    // With mutex_ held: when the ring has every event after `after`, attaches the stream and
    // adds the ring's frames to `r`. False when older events must come from the log.
    bool attach_from_ring(const std::shared_ptr<Subscriber>& subscriber,
                          std::shared_ptr<const Subscription>& subscription, std::uint64_t after, Replay& r);
    // A page read from the log, turned into frames (and the id to go on after).
    Replay take_page(const std::shared_ptr<Subscriber>& subscriber, std::shared_ptr<const Subscription> subscription,
                     std::uint64_t after, std::uint64_t newest, store::Page page);
    static Frame gap_frame(std::uint64_t requested, std::uint64_t earliest);

    struct Entry {
        std::weak_ptr<Subscriber> subscriber;
        std::shared_ptr<const Subscription> subscription;
    };
    // With mutex_ held: the stream joins the index (it is delivered to from now on).
    void attach_live(const std::shared_ptr<Subscriber>& subscriber, std::shared_ptr<const Subscription> subscription);

    HubOptions options_;
    std::unique_ptr<store::Log> log_;
    // The log applies events one at a time, in id order: the registry lock is held only to
    // record and select, and fan-out happens outside it.
    mutable std::mutex mutex_;
    std::uint64_t newest_ = 0;   // the newest id applied
    std::deque<EventPtr> ring_;  // the newest applied events
    // The id applied just before the ring's front (the last one it let go), when known: ids
    // need not be dense (a shared log's are not), so front - 1 may not be the event before.
    std::optional<std::uint64_t> before_ring_;
    std::unordered_map<std::string, EventPtr> latest_by_type_;
    StreamIndex subscribers_;
    std::size_t shard_count_ = 0;
    ShardPost post_to_shard_;
    // Streams still reading their replay from the log: counted and closed with the others,
    // but not delivered to until they attach (then they move to subscribers_).
    std::unordered_map<const Subscriber*, Entry> catching_up_;
    std::unordered_map<std::string, std::size_t> streams_per_user_;
    // Streams waiting for an id to be applied (shared logs): by id, then ticket.
    std::multimap<std::uint64_t, std::pair<std::uint64_t, std::function<void(bool)>>> waiting_;
    std::uint64_t next_wait_ = 0;
    std::size_t open_waits_ = 0;  // waits whose waiter has not called end_wait()
    bool closing_ = false;        // close_all() ran: no stream waits any more
    std::uint64_t lag_waits_ = 0;
    // After the log lost history: every id below this one counts as dropped (0: none lost).
    std::uint64_t lost_before_ = 0;
    std::uint64_t published_ = 0;
    NameCounts published_names_;
    std::uint64_t replayed_ = 0;
    std::uint64_t gaps_ = 0;
    std::uint64_t refused_ = 0;
    std::uint64_t connections_ = 0;
    std::atomic<std::uint64_t> delivered_{0};
    std::uint64_t examined_ = 0;
    std::atomic<std::uint64_t> slow_clients_{0};
    std::array<std::atomic<std::uint64_t>, close_reason_count> closed_{};
    LatencyHistogram publish_to_write_;
};

}  // namespace ssebus::server
