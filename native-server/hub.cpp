#include "hub.hpp"

#include <algorithm>
#include <chrono>
#include <future>

#include "log.hpp"
#include "ssebus/sse_writer.hpp"

namespace ssebus::server {

bool Filter::matches(const Event& e) const {
    if (e.stream.empty()) return global;
    if (e.stream == "*") return !streams.empty();
    return streams.count(e.stream) != 0;
}

bool reaches(const Target& target, const ClientInfo& client) {
    switch (target.kind) {
        case Target::Kind::all: return true;
        case Target::Kind::broadcast: return client.authenticated();
        case Target::Kind::user: return client.authenticated() && client.user == target.id;
        case Target::Kind::session: return !client.session.empty() && client.session == target.id;
        case Target::Kind::client: return client.client_id == target.id;
    }
    return false;
}

std::string_view to_string(CloseReason reason) noexcept {
    switch (reason) {
        case CloseReason::client_gone: return "client_gone";
        case CloseReason::slow_client: return "slow_client";
        case CloseReason::rotated: return "rotated";
        case CloseReason::shutdown: return "shutdown";
        case CloseReason::write_failed: return "write_failed";
        case CloseReason::store_failed: return "store_failed";
    }
    return "unknown";
}

nlohmann::json HubStats::to_json() const {
    return {
        {"active_clients", active_clients},
        {"authenticated_clients", authenticated_clients},
        {"clients_by_route", clients_by_route},
        {"clients_by_stream", clients_by_stream},
        {"total_events_broadcast", events_published},
        {"frames_delivered", frames_delivered},
        {"streams_examined", streams_examined},
        {"events_replayed", events_replayed},
        {"gaps_reported", gaps_reported},
        {"slow_clients_disconnected", slow_clients_disconnected},
        {"closed_by_reason", closed_by_reason},
        {"streams_refused", streams_refused},
        {"streams_waiting", streams_waiting},
        {"lag_waits", lag_waits},
        {"connections_total", connections_total},
        {"history_size", history_size},
        {"history_earliest_id", history_earliest_id},
        {"last_id", last_id},
        {"store",
         {{"kind", store_kind},
          {"durability", store_durability},
          {"ready", store_health.ready},
          {"reason", store_health.reason},
          {"earliest_id", store_window.earliest},
          {"newest_id", store_window.newest},
          {"retained", store_window.count},
          {"ring", ring_size},
          {"commits", store.commits},
          {"failed_writes", store.failed_writes}}},
    };
}

void NameCounts::add(std::string_view name) {
    if (const auto it = counts_.find(name); it != counts_.end()) ++it->second;
    else if (counts_.size() < tracked_) counts_.emplace(name, 1);
    else ++untracked_;
}

CountsByName NameCounts::top() const {
    // Sorts pointers and copies only the names shown.
    std::vector<const std::pair<const std::string, std::uint64_t>*> all;
    all.reserve(counts_.size());
    for (const auto& kv : counts_) all.push_back(&kv);
    const auto shown = std::min(shown_, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(shown), all.end(),
                      [](auto* a, auto* b) { return a->second != b->second ? a->second > b->second : a->first < b->first; });
    CountsByName out;
    out.reserve(shown + 1);
    for (std::size_t i = 0; i < shown; ++i) out.emplace_back(all[i]->first, all[i]->second);
    std::uint64_t other = untracked_;
    for (std::size_t i = shown; i < all.size(); ++i) other += all[i]->second;
    if (other > 0) out.emplace_back("other", other);
    return out;
}

void LatencyHistogram::Batch::add(std::chrono::nanoseconds latency) noexcept {
    const auto ns = std::max<std::int64_t>(latency.count(), 0);
    const auto bucket = std::lower_bound(bounds_ns.begin(), bounds_ns.end(), ns) - bounds_ns.begin();
    ++counts[static_cast<std::size_t>(bucket)];
    sum_ns += static_cast<std::uint64_t>(ns);
    empty = false;
}

void LatencyHistogram::record(const Batch& batch) noexcept {
    if (batch.empty) return;
    static std::atomic<std::size_t> next_stripe{0};
    thread_local const std::size_t mine = next_stripe.fetch_add(1, std::memory_order_relaxed) % stripe_count;
    auto& stripe = stripes_[mine];
    for (std::size_t i = 0; i < bucket_count; ++i)
        if (batch.counts[i] != 0) stripe.counts[i].fetch_add(batch.counts[i], std::memory_order_relaxed);
    stripe.sum_ns.fetch_add(batch.sum_ns, std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const noexcept {
    Snapshot s;
    for (const auto& stripe : stripes_) {
        for (std::size_t i = 0; i < bucket_count; ++i) s.counts[i] += stripe.counts[i].load(std::memory_order_relaxed);
        s.sum_ns += stripe.sum_ns.load(std::memory_order_relaxed);
    }
    return s;
}

std::uint64_t LatencyHistogram::Snapshot::count() const noexcept {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    return n;
}

void StreamIndex::link(Node& node, List& list) {
    node.in.push_back({&list, list.items.size()});
    list.items.push_back({&node, node.in.size() - 1});
}

StreamIndex::List& StreamIndex::keyed(std::unordered_map<std::string, List>& map, const std::string& key) {
    auto [it, added] = map.try_emplace(key);
    if (added) {
        it->second.owner = &map;
        it->second.key = key;
    }
    return it->second;
}

const StreamIndex::List* StreamIndex::find(const std::unordered_map<std::string, List>& map, const std::string& key) {
    const auto it = map.find(key);
    return it == map.end() ? nullptr : &it->second;
}

const StreamIndex::List* StreamIndex::by_stream(const Event& e) const {
    if (e.stream.empty()) return &global_;
    if (e.stream == "*") return &named_;
    return find(streams_, e.stream);
}

void StreamIndex::add(const Subscriber* key, Stream stream) {
    remove(key);
    auto node = std::make_unique<Node>();
    node->stream = std::move(stream);
    const auto& sub = *node->stream.subscription;
    const auto& c = sub.client;
    // A stream is in the lists of exactly the events its selects() may take: by stream, and
    // by target (a user or session only when set, as reaches() wants).
    if (sub.filter.global) link(*node, global_);
    if (!sub.filter.streams.empty()) link(*node, named_);
    for (const auto& name : sub.filter.streams) link(*node, keyed(streams_, name));
    if (c.authenticated()) {
        link(*node, authenticated_);
        link(*node, keyed(users_, c.user));
    }
    if (!c.session.empty()) link(*node, keyed(sessions_, c.session));
    link(*node, keyed(clients_, c.client_id));
    nodes_.emplace(key, std::move(node));
}

void StreamIndex::remove(const Subscriber* key) {
    const auto it = nodes_.find(key);
    if (it == nodes_.end()) return;
    for (const auto& place : it->second->in) {
        auto& items = place.list->items;
        // Swap-remove: the last item takes this one's place and learns it.
        items[place.at] = items.back();
        items[place.at].node->in[items[place.at].slot].at = place.at;
        items.pop_back();
        if (items.empty() && place.list->owner) {
            const std::string key = place.list->key;  // (the list goes with its key)
            place.list->owner->erase(key);
        }
    }
    nodes_.erase(it);
}

StreamTicket::StreamTicket(StreamTicket&& other) noexcept
    : hub_(std::exchange(other.hub_, nullptr)), user_(std::move(other.user_)) {}

StreamTicket& StreamTicket::operator=(StreamTicket&& other) noexcept {
    if (this != &other) {
        if (hub_) hub_->release_stream(user_);
        hub_ = std::exchange(other.hub_, nullptr);
        user_ = std::move(other.user_);
    }
    return *this;
}

StreamTicket::~StreamTicket() {
    if (hub_) hub_->release_stream(user_);
}

Hub::Hub(HubOptions options, std::unique_ptr<store::Log> log) : options_(options), log_(std::move(log)) {
    if (options_.history_size == 0) options_.history_size = 1;
    if (options_.ring_size == 0) options_.ring_size = 1;
    if (!log_)
        log_ = store::make_memory_log({.max_events = options_.history_size, .max_age = options_.history_max_age},
                                      options_.first_id);
    // What the log recovered: its newest events become the ring, and the latest of each type
    // is what /api/events/stream starts with.
    const auto ring = log_->newest(std::min(options_.ring_size, options_.history_size));
    ring_.assign(ring.begin(), ring.end());
    for (auto& e : log_->latest_per_type()) latest_by_type_[e->event().name] = e;
    newest_ = log_->window().newest;
    log_->start({.apply = [this](const EventPtr& e) { return apply(e); },
                 .lost = [this](std::uint64_t requested, std::uint64_t earliest) { lost(requested, earliest); }});
}

Hub::~Hub() {
    log_->stop();
}

void Hub::set_shards(std::size_t count, ShardPost post) {
    std::lock_guard lock(mutex_);
    shard_count_ = post ? count : 0;
    post_to_shard_ = std::move(post);
}

namespace {

// What one shard's task hands its streams: the event's frames, built once per wire shape
// on the log's thread, and the streams of that shard that it selected.
struct ShardDelivery {
    std::array<Frame, framing_count> frames;
    SteadyTime published_at;
    std::vector<std::pair<std::shared_ptr<Subscriber>, Framing>> streams;
    std::size_t shard = 0;
    Hub::ShardPost post;
    void operator()() {
        for (const auto& [s, framing] : streams) s->deliver_here(frames[static_cast<std::size_t>(framing)], published_at);
        // The writes go behind what the shard was given meanwhile: when events come faster
        // than the shard writes, the next events' frames are queued by then and join the
        // same write (one system call per stream for all of them).
        post(shard, [streams = std::move(streams)] {
            for (const auto& [s, _] : streams) s->flush_here();
        });
    }
};

}  // namespace

std::size_t Hub::apply(const EventPtr& published) {
    // Streams without a shard (tests' fakes), and those of each shard.
    std::vector<std::pair<std::shared_ptr<Subscriber>, Framing>> unsharded;
    std::vector<std::vector<std::pair<std::shared_ptr<Subscriber>, Framing>>> sharded;
    std::vector<std::function<void(bool)>> woken;
    std::size_t selected = 0;
    {
        std::lock_guard lock(mutex_);
        ++published_;
        newest_ = published->id();
        published_names_.add(published->event().name);
        ring_.push_back(published);
        if (ring_.size() > std::min(options_.ring_size, options_.history_size)) {
            before_ring_ = ring_.front()->id();
            ring_.pop_front();
        }
        auto& latest = latest_by_type_[published->event().name];
        latest = published;
        if (latest_by_type_.size() > store::max_latest_types) {
            auto oldest = std::min_element(latest_by_type_.begin(), latest_by_type_.end(),
                                           [](auto& a, auto& b) { return a.second->id() < b.second->id(); });
            latest_by_type_.erase(oldest);
        }
        sharded.resize(shard_count_);
        // Only the index's candidates for this event are examined (O(selected), not O(all)).
        examined_ += subscribers_.select(published->event(), [&](const StreamIndex::Stream& stream) {
            auto s = stream.subscriber.lock();
            if (!s) return;
            ++selected;
            auto& to = stream.shard && *stream.shard < shard_count_ ? sharded[*stream.shard] : unsharded;
            to.emplace_back(std::move(s), stream.subscription->framing);
        });
        // Streams that waited for this id (shared logs): they attach after this event is in
        // the ring, so it reaches them by their replay.
        for (auto it = waiting_.begin(); it != waiting_.end() && it->first <= newest_; it = waiting_.erase(it))
            woken.push_back(std::move(it->second.second));
    }
    for (auto& wake : woken) wake(true);
    // Sent outside the registry lock (attach and detach go on); the log applies one event at
    // a time, so the next event cannot overtake this one on any stream: a shard runs its
    // tasks in the order they were posted. Frames are built once per wire shape, then shared
    // by every stream of that shape.
    for (auto& [s, framing] : unsharded) s->deliver(published->frame(framing), published->published_at());
    for (std::size_t k = 0; k < sharded.size(); ++k) {
        if (sharded[k].empty()) continue;
        ShardDelivery task{
            .published_at = published->published_at(), .streams = std::move(sharded[k]), .shard = k, .post = post_to_shard_};
        for (const auto& [_, framing] : task.streams) {
            auto& frame = task.frames[static_cast<std::size_t>(framing)];
            if (!frame) frame = published->frame(framing);
        }
        post_to_shard_(k, std::move(task));
    }
    delivered_.fetch_add(selected, std::memory_order_relaxed);
    const auto& e = published->event();
    SSEBUS_LOG(debug, "published", {"id", published->id()}, {"name", e.name},
               {"target", Target::kind_name(e.target.kind)}, {"stream", e.stream}, {"delivered", selected});
    return selected;
}

EventPtr Hub::publish(Event event, std::size_t* delivered) {
    std::promise<Published> promise;
    auto future = promise.get_future();
    publish(std::move(event), [&promise](Published p) { promise.set_value(std::move(p)); });
    auto result = future.get();
    if (delivered) *delivered = result.delivered;
    return result.event;
}

void Hub::publish(Event event, PublishDone done) {
    log_->append(std::move(event), std::chrono::steady_clock::now(),
                 [done = std::move(done)](EventPtr e, std::size_t delivered, const std::string& error) {
                     Published result;
                     result.event = std::move(e);
                     result.delivered = delivered;
                     if (!result.event) {
                         result.error = error.empty() ? "the store cannot write" : error;
                         result.retry_after_s = 1;
                     }
                     if (done) done(std::move(result));
                 });
}

EventPtr Hub::notify(Target target, std::string name, const nlohmann::json& data,
                     std::optional<std::uint32_t> retry_ms) {
    return publish({.name = std::move(name), .data = data.dump(), .target = std::move(target), .retry_ms = retry_ms});
}

EventPtr Hub::notify_all(std::string name, const nlohmann::json& data, std::optional<std::uint32_t> retry_ms) {
    return notify({Target::Kind::all, {}}, std::move(name), data, retry_ms);
}

EventPtr Hub::broadcast(std::string name, const nlohmann::json& data, std::optional<std::uint32_t> retry_ms) {
    return notify({Target::Kind::broadcast, {}}, std::move(name), data, retry_ms);
}

EventPtr Hub::notify_user(const std::string& user, std::string name, const nlohmann::json& data,
                          std::optional<std::uint32_t> retry_ms) {
    return notify({Target::Kind::user, user}, std::move(name), data, retry_ms);
}

EventPtr Hub::notify_session(const std::string& session, std::string name, const nlohmann::json& data,
                             std::optional<std::uint32_t> retry_ms) {
    return notify({Target::Kind::session, session}, std::move(name), data, retry_ms);
}

EventPtr Hub::notify_client(const std::string& client, std::string name, const nlohmann::json& data,
                            std::optional<std::uint32_t> retry_ms) {
    return notify({Target::Kind::client, client}, std::move(name), data, retry_ms);
}

std::optional<StreamTicket> Hub::admit(const ClientInfo& client) {
    StreamTicket ticket;
    if (!client.authenticated()) return ticket;
    std::lock_guard lock(mutex_);
    auto& n = streams_per_user_[client.user];
    if (n >= options_.max_streams_per_user) {
        ++refused_;
        if (n == 0) streams_per_user_.erase(client.user);
        return std::nullopt;
    }
    ++n;
    ticket.hub_ = this;
    ticket.user_ = client.user;
    return ticket;
}

void Hub::release_stream(const std::string& user) {
    std::lock_guard lock(mutex_);
    auto it = streams_per_user_.find(user);
    if (it == streams_per_user_.end()) return;
    if (--it->second == 0) streams_per_user_.erase(it);
}

std::vector<Frame> Hub::attach(const std::shared_ptr<Subscriber>& subscriber,
                               std::shared_ptr<const Subscription> subscription,
                               std::optional<std::uint64_t> last_event_id) {
    auto replay = replay_first(subscriber, subscription, last_event_id);
    auto frames = std::move(replay.frames);
    while (!replay.attached && !replay.failed) {
        replay = replay_more(subscriber, subscription, replay.after);
        frames.insert(frames.end(), std::make_move_iterator(replay.frames.begin()),
                      std::make_move_iterator(replay.frames.end()));
    }
    return frames;
}

Replay Hub::replay_first(const std::shared_ptr<Subscriber>& subscriber, std::shared_ptr<const Subscription> subscription,
                         std::optional<std::uint64_t> last_event_id, std::size_t page) {
    auto first = replay_first(subscriber, subscription, last_event_id);
    if (first.attached || first.failed) return first;
    auto next = replay_more(subscriber, subscription, first.after, page);
    next.frames.insert(next.frames.begin(), std::make_move_iterator(first.frames.begin()),
                       std::make_move_iterator(first.frames.end()));
    return next;
}

Replay Hub::replay_more(const std::shared_ptr<Subscriber>& subscriber,
                        const std::shared_ptr<const Subscription>& subscription, std::uint64_t after, std::size_t page) {
    std::promise<Replay> promise;
    auto future = promise.get_future();
    replay_more(subscriber, subscription, after, [&promise](Replay r) { promise.set_value(std::move(r)); }, page);
    return future.get();
}

Frame Hub::gap_frame(std::uint64_t requested, std::uint64_t earliest) {
    nlohmann::json gap{{"requested", requested}, {"earliest", earliest}};
    return std::make_shared<const std::string>(sse::frame({.name = "ssebus:gap", .data = gap.dump()}));
}

bool Hub::attach_from_ring(const std::shared_ptr<Subscriber>& subscriber,
                           std::shared_ptr<const Subscription>& subscription, std::uint64_t after, Replay& r) {
    // Everything after `after` is in the ring (or nothing is retained before it): attach now,
    // atomically with respect to apply().
    // (The event before the front is the last one the ring let go, when it let one go;
    // otherwise, as for a ring loaded from the log, front - 1.)
    if (!ring_.empty() && after < ring_.front()->id() - 1 && !(before_ring_ && after >= *before_ring_)) return false;
    std::size_t replayed = 0;
    auto it = std::upper_bound(ring_.begin(), ring_.end(), after,
                               [](std::uint64_t id, const EventPtr& e) { return id < e->id(); });
    for (; it != ring_.end(); ++it) {
        if (!subscription->selects((*it)->event())) continue;
        r.frames.push_back((*it)->frame(subscription->framing));
        ++replayed;
    }
    replayed_ += replayed;
    ++connections_;
    catching_up_.erase(subscriber.get());
    attach_live(subscriber, std::move(subscription));
    r.attached = true;
    return true;
}

void Hub::attach_live(const std::shared_ptr<Subscriber>& subscriber, std::shared_ptr<const Subscription> subscription) {
    subscribers_.add(subscriber.get(), {subscriber, std::move(subscription), subscriber->shard()});
}

Replay Hub::replay_first(const std::shared_ptr<Subscriber>& subscriber, std::shared_ptr<const Subscription> subscription,
                         std::optional<std::uint64_t> last_event_id) {
    const auto& client = subscription->client;
    if (!last_event_id) {
        Replay r;
        std::lock_guard lock(mutex_);
        if (subscription->latest_per_type) {
            std::vector<EventPtr> latest;
            for (auto& [_, e] : latest_by_type_)
                if (subscription->selects(e->event())) latest.push_back(e);
            std::sort(latest.begin(), latest.end(), [](auto& a, auto& b) { return a->id() < b->id(); });
            for (auto& e : latest) r.frames.push_back(e->frame(subscription->framing));
        }
        ++connections_;
        attach_live(subscriber, std::move(subscription));
        r.attached = true;
        return r;
    }
    // Events after the one the client saw are gone when retention removed them, when the log
    // lost them, or were issued by an earlier log (the memory log's previous run, another
    // server). An id this server has not issued yet came from another server, or from a run
    // whose clock was ahead: nothing can be said of what the client missed, and the ids it
    // will get are smaller than its own, so it is told of a gap too (a client that drops ids
    // it already passed re-bases on the gap). A shared log's stream waits for such an id
    // before it gets here (lags_behind).
    store::Window window;
    try {
        window = log_->window();
    } catch (const std::exception& e) {
        return unreadable(client, e.what());
    }
    // Copied: the subscription moves into the hub below.
    const std::string client_id = client.client_id, route = client.route;
    const std::uint64_t last = *last_event_id;
    Replay r;
    bool gap = false;
    {
        std::lock_guard lock(mutex_);
        const std::uint64_t dropped_up_to = std::max(window.dropped_up_to, lost_before_ > 0 ? lost_before_ - 1 : 0);
        // (Compared without adding to the client's id, which may be 2^64-1.)
        const bool before_this_log = window.origin > 0 && last < window.origin - 1;
        const bool not_issued_yet = last > newest_;
        const bool dropped = last < dropped_up_to;
        if (dropped || before_this_log || not_issued_yet) {
            // An empty log issues its next id at origin at the earliest (a fresh memory log).
            const std::uint64_t earliest = window.earliest != 0 ? std::max(window.earliest, lost_before_)
                                                                : std::max({newest_ + 1, window.origin, lost_before_});
            r.frames.push_back(gap_frame(last, earliest));
            ++gaps_;
            gap = true;
        }
        // Retention may have removed ring events too (by age): nothing at or below dropped_up_to.
        const std::uint64_t after = std::max(last, dropped_up_to);
        if (!attach_from_ring(subscriber, subscription, after, r)) {
            // Older than the ring: the stream reads the log, page by page, with replay_more.
            catching_up_[subscriber.get()] = Entry{subscriber, std::move(subscription)};
            r.after = after;
        }
    }
    // `count`: the events from the ring; `more`: the replay goes on from the log, page by page.
    SSEBUS_LOG(debug, "replay", {"client", client_id}, {"route", route}, {"from", last},
               {"count", r.frames.size() - (gap ? 1 : 0)}, {"gap", gap}, {"more", !r.attached});
    return r;
}

Replay Hub::unreadable(const ClientInfo& client, std::string_view reason) {
    SSEBUS_LOG(error, "replay failed: the store cannot be read", {"client", client.client_id}, {"route", client.route},
               {"reason", reason});
    return Replay{.failed = true};
}

void Hub::replay_more(const std::shared_ptr<Subscriber>& subscriber, std::shared_ptr<const Subscription> subscription,
                      std::uint64_t after, std::function<void(Replay)> done, std::size_t page) {
    std::uint64_t newest;
    {
        Replay r;
        std::lock_guard lock(mutex_);
        if (attach_from_ring(subscriber, subscription, after, r)) {
            // (done runs with the lock held: it only posts, or sets a promise.)
            done(std::move(r));
            return;
        }
        catching_up_.try_emplace(subscriber.get(), Entry{subscriber, subscription});
        newest = newest_;
    }
    // Older than the ring: one page from the log, outside the lock. Events the log committed
    // but the hub has not applied yet are left for the ring.
    log_->read_page(after, page,
                    [this, subscriber, subscription = std::move(subscription), after, newest,
                     done = std::move(done)](store::Page p) mutable {
                        done(take_page(subscriber, std::move(subscription), after, newest, std::move(p)));
                    });
}

Replay Hub::take_page(const std::shared_ptr<Subscriber>& subscriber, std::shared_ptr<const Subscription> subscription,
                      std::uint64_t after, std::uint64_t newest, store::Page page) {
    if (!page.error.empty()) {
        auto failed = unreadable(subscription->client, page.error);
        std::lock_guard lock(mutex_);
        catching_up_.erase(subscriber.get());
        return failed;
    }
    Replay r;
    const auto& events = page.events;
    const auto& window = page.window;
    std::uint64_t dropped_up_to = window.dropped_up_to;
    {
        // History the log lost while the stream read its pages counts as dropped too.
        std::lock_guard lock(mutex_);
        if (lost_before_ > 0) dropped_up_to = std::max(dropped_up_to, lost_before_ - 1);
    }
    auto first = std::find_if(events.begin(), events.end(), [&](const EventPtr& e) { return e->id() > dropped_up_to; });
    std::uint64_t gaps = 0;
    // Retention may have removed events after `after` since the last page (a client catching
    // up on a history that moves), or a log that links ids found the link broken: say so, as
    // at the start of a replay, rather than going on silently from the next retained event.
    if (after < dropped_up_to && (first == events.end() || dropped_up_to < (*first)->id())) {
        r.frames.push_back(gap_frame(after, first == events.end() ? std::max(window.earliest, dropped_up_to + 1)
                                                                  : (*first)->id()));
        ++gaps;
    }
    std::size_t replayed = 0;
    std::uint64_t next = first == events.end() ? std::max(after, dropped_up_to) : after;
    for (auto it = first; it != events.end(); ++it) {
        const auto& e = *it;
        if (e->id() > newest) break;
        next = e->id();
        if (!subscription->selects(e->event())) continue;
        r.frames.push_back(e->frame(subscription->framing));
        ++replayed;
    }
    // One page per call, even when it selected nothing: a stream that selects few events
    // would otherwise scan the whole history in one handler. The caller asks again.
    std::lock_guard lock(mutex_);
    // Nothing older left in the log (retention went past it): the ring has the rest.
    if (next == after && !ring_.empty()) next = std::max(after, ring_.front()->id() - 1);
    gaps_ += gaps;
    r.after = next;
    // Detached while the page was read (the stream closed): it stays detached, uncounted.
    if (catching_up_.count(subscriber.get()) != 0) replayed_ += replayed;
    return r;
}

bool Hub::lags_behind(std::optional<std::uint64_t> last_event_id) const {
    if (!last_event_id || !log_->shared()) return false;
    std::lock_guard lock(mutex_);
    return *last_event_id > newest_;
}

std::uint64_t Hub::wait_for_applied(std::uint64_t id, std::function<void(bool)> woken) {
    std::uint64_t ticket;
    bool applied, waits;
    {
        std::lock_guard lock(mutex_);
        ticket = ++next_wait_;
        ++lag_waits_;
        ++open_waits_;
        applied = id <= newest_;
        waits = !applied && !closing_;
        if (waits) waiting_.emplace(id, std::make_pair(ticket, std::move(woken)));
    }
    if (!waits) {
        woken(applied);
        return ticket;
    }
    // The log's idea of the newest id issued is only as fresh as its last read: when the id is
    // above it, the store is asked. An id no server issued is not waited for: the stream
    // starts now, and its replay tells of the gap. (The log runs this before it stops, and
    // the hub stops it first.)
    if (log_->shared() && id > log_->window().issued)
        log_->read_issued([this, id, ticket](std::uint64_t issued) {
            if (issued != 0 && id > issued) wake(ticket);
        });
    return ticket;
}

void Hub::wake(std::uint64_t ticket) {
    std::function<void(bool)> woken;
    {
        std::lock_guard lock(mutex_);
        for (auto it = waiting_.begin(); it != waiting_.end(); ++it)
            if (it->second.first == ticket) {
                woken = std::move(it->second.second);
                waiting_.erase(it);
                break;
            }
    }
    if (woken) woken(true);
}

void Hub::end_wait() {
    std::lock_guard lock(mutex_);
    if (open_waits_ > 0) --open_waits_;
}

bool Hub::cancel_wait(std::uint64_t ticket) {
    std::lock_guard lock(mutex_);
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it)
        if (it->second.first == ticket) {
            waiting_.erase(it);
            return true;
        }
    return false;
}

void Hub::lost(std::uint64_t requested, std::uint64_t earliest) {
    const Frame frame = gap_frame(requested, earliest);
    std::vector<std::shared_ptr<Subscriber>> told;
    {
        std::lock_guard lock(mutex_);
        // What the ring holds before `earliest` is no longer the log's history: a client that
        // resumes from there is told of the gap too, and reads nothing across it.
        lost_before_ = std::max(lost_before_, earliest);
        while (!ring_.empty() && ring_.front()->id() < earliest) {
            before_ring_ = ring_.front()->id();
            ring_.pop_front();
        }
        subscribers_.for_each([&](const StreamIndex::Stream& stream) {
            if (auto s = stream.subscriber.lock()) told.push_back(std::move(s));
        });
        gaps_ += told.size();
    }
    SSEBUS_LOG(warn, "history lost: the store no longer has events this server applied", {"requested", requested},
               {"earliest", earliest}, {"streams", told.size()});
    for (auto& s : told) s->notice(frame);
}

void Hub::detach(const Subscriber* subscriber) {
    std::lock_guard lock(mutex_);
    subscribers_.remove(subscriber);
    catching_up_.erase(subscriber);
}

void Hub::close_all(const std::string& final_comment) {
    const Frame frame = std::make_shared<const std::string>(sse::comment(final_comment));
    std::vector<std::shared_ptr<Subscriber>> all;
    std::vector<std::function<void(bool)>> waits;
    {
        std::lock_guard lock(mutex_);
        closing_ = true;
        subscribers_.for_each([&](const StreamIndex::Stream& stream) {
            if (auto s = stream.subscriber.lock()) all.push_back(std::move(s));
        });
        for (auto& [_, entry] : catching_up_)
            if (auto s = entry.subscriber.lock()) all.push_back(std::move(s));
        // A stream waiting for an id is not served any more: its waiter answers and lets go
        // of what it holds of the hub's (end_wait) while the hub is still there.
        for (auto& [_, wait] : waiting_) waits.push_back(std::move(wait.second));
        waiting_.clear();
    }
    for (auto& wake : waits) wake(false);
    for (auto& s : all) s->close(frame);
}

bool Hub::closing() const {
    std::lock_guard lock(mutex_);
    return closing_;
}

std::size_t Hub::subscriber_count() const {
    std::lock_guard lock(mutex_);
    return subscribers_.size() + catching_up_.size() + open_waits_;
}

std::size_t Hub::count_clients(const std::function<bool(const Subscription&)>& pred) const {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    subscribers_.for_each([&](const StreamIndex::Stream& stream) { n += pred(*stream.subscription) ? 1 : 0; });
    for (auto& [_, entry] : catching_up_) n += pred(*entry.subscription) ? 1 : 0;
    return n;
}

HubStats Hub::stats() const {
    HubStats s;
    s.store_kind = std::string(log_->kind());
    s.store_durability = std::string(log_->durability());
    s.store_window = log_->window();
    s.store_health = log_->health();
    s.store = log_->stats();
    s.history_size = s.store_window.count;
    s.history_earliest_id = s.store_window.earliest;
    std::lock_guard lock(mutex_);
    s.active_clients = subscribers_.size() + catching_up_.size();
    auto count = [&s](const Subscription& sub) {
        if (sub.client.authenticated()) ++s.authenticated_clients;
        ++s.clients_by_route[sub.client.route];
        for (auto& stream : sub.filter.streams) ++s.clients_by_stream[stream];
    };
    subscribers_.for_each([&](const StreamIndex::Stream& stream) { count(*stream.subscription); });
    for (auto& [_, entry] : catching_up_) count(*entry.subscription);
    s.events_published = published_;
    s.events_published_by_name = published_names_.top();
    s.publish_to_write = publish_to_write_.snapshot();
    s.frames_delivered = delivered_.load(std::memory_order_relaxed);
    s.streams_examined = examined_;
    s.events_replayed = replayed_;
    s.gaps_reported = gaps_;
    s.slow_clients_disconnected = slow_clients_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < close_reason_count; ++i)
        s.closed_by_reason[std::string(to_string(static_cast<CloseReason>(i)))] = closed_[i].load(std::memory_order_relaxed);
    s.streams_refused = refused_;
    s.streams_waiting = waiting_.size();
    s.lag_waits = lag_waits_;
    s.connections_total = connections_;
    s.ring_size = ring_.size();
    s.last_id = newest_;
    return s;
}

}  // namespace ssebus::server
