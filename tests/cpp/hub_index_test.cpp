// The hub's index of streams and its shards: an event reaches exactly the streams whose
// Subscription::selects() takes it, each once and in id order, whichever shard they live on
// and however streams attach and detach meanwhile; and selection examines only candidates.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "hub.hpp"

using namespace ssebus::server;

namespace {

// Shards as the server has them, without Asio: one thread per shard, running its tasks in
// the order they were posted.
class TaskThreads {
public:
    explicit TaskThreads(std::size_t count) : shards_(count) {
        for (auto& shard : shards_) shard.thread = std::thread([&shard] { shard.run(); });
    }
    ~TaskThreads() {
        for (auto& shard : shards_) shard.post({});
        for (auto& shard : shards_) shard.thread.join();
    }
    void post(std::size_t k, std::function<void()> task) { shards_.at(k).post(std::move(task)); }
    // Returns once every task posted before it has run, and the tasks those posted (the
    // hub's delivery task posts its streams' flush).
    void drain() {
        for (int round = 0; round < 2; ++round)
            for (std::size_t k = 0; k < shards_.size(); ++k) {
                std::promise<void> done;
                auto ran = done.get_future();
                post(k, [&done] { done.set_value(); });
                ran.get();
            }
    }
    bool on(std::size_t k) const { return shards_.at(k).thread.get_id() == std::this_thread::get_id(); }

private:
    struct Shard {
        std::mutex mutex;
        std::condition_variable ready;
        std::deque<std::function<void()>> tasks;
        std::thread thread;
        void post(std::function<void()> task) {
            std::lock_guard lock(mutex);
            tasks.push_back(std::move(task));
            ready.notify_one();
        }
        void run() {
            for (;;) {
                std::function<void()> task;
                {
                    std::unique_lock lock(mutex);
                    ready.wait(lock, [this] { return !tasks.empty(); });
                    task = std::move(tasks.front());
                    tasks.pop_front();
                }
                if (!task) return;  // the end
                task();
            }
        }
    };
    std::deque<Shard> shards_;
};

// The id of a frame, or 0 (no event has it) for a frame without one. No Catch2 macro here:
// shard threads call it, and Catch2's assertions are for the test's own thread.
std::uint64_t id_of(const std::string& frame) {
    if (frame.rfind("id: ", 0) != 0) return 0;
    return std::stoull(frame.substr(4, frame.find('\n') - 4));
}

// A stream on a shard (or none): the ids of its live frames, and whether each came on its
// shard's thread. Like a session, it only queues what deliver_here() gives it: a frame
// counts once flush_here() has "written" it.
class ShardedSubscriber : public Subscriber {
public:
    ShardedSubscriber(std::optional<std::size_t> shard, const TaskThreads* threads) : shard_(shard), threads_(threads) {}
    std::optional<std::size_t> shard() const override { return shard_; }
    void deliver_here(const Frame& frame, SteadyTime) override {
        if (!shard_ || !threads_->on(*shard_)) wrong_thread_ = true;
        queued_.push_back(frame);
    }
    void flush_here() override {
        if (!shard_ || !threads_->on(*shard_)) wrong_thread_ = true;
        for (const auto& frame : queued_) record(*frame);
        queued_.clear();
    }
    void deliver(const Frame& frame, SteadyTime) override {
        if (shard_) wrong_thread_ = true;  // the hub posts to a shard's streams, always
        record(*frame);
    }
    void close(const Frame&) override {}
    std::vector<std::uint64_t> live() const {
        std::lock_guard lock(mutex_);
        return live_;
    }
    bool wrong_thread() const { return wrong_thread_; }

private:
    void record(const std::string& frame) {
        const auto id = id_of(frame);
        std::lock_guard lock(mutex_);
        live_.push_back(id);
    }
    std::optional<std::size_t> shard_;
    const TaskThreads* threads_;
    std::atomic<bool> wrong_thread_{false};
    std::vector<Frame> queued_;  // the shard's thread's only
    mutable std::mutex mutex_;
    std::vector<std::uint64_t> live_;
};

// Who a stream is and what it selects, drawn from small sets so that every target and
// stream kind has several streams, some of which select it and some not.
std::shared_ptr<const Subscription> random_subscription(std::mt19937& rng, std::size_t n) {
    auto s = std::make_shared<Subscription>();
    const auto pick = [&rng](std::size_t k) { return static_cast<std::size_t>(rng() % k); };
    s->client.client_id = "c" + std::to_string(n % 40);  // client ids repeat across streams
    s->client.route = "/api/events";
    if (pick(3) != 0) s->client.user = "u" + std::to_string(pick(6));
    if (pick(2) != 0) s->client.session = "s" + std::to_string(pick(6));
    s->filter.global = pick(4) != 0;
    const char* names[] = {"a", "b", "c"};
    for (auto* name : names)
        if (pick(3) == 0) s->filter.streams.insert(name);
    s->framing = pick(2) == 0 ? Framing::named : Framing::envelope;
    return s;
}

Event random_event(std::mt19937& rng) {
    Event e;
    e.name = "e";
    const auto pick = [&rng](std::size_t k) { return static_cast<std::size_t>(rng() % k); };
    const std::string streams[] = {"", "", "*", "a", "b", "c", "d"};
    e.stream = streams[pick(7)];
    switch (pick(6)) {
        case 0: e.target = {Target::Kind::all, {}}; break;
        case 1: e.target = {Target::Kind::broadcast, {}}; break;
        case 2: e.target = {Target::Kind::user, "u" + std::to_string(pick(7))}; break;
        case 3: e.target = {Target::Kind::session, "s" + std::to_string(pick(7))}; break;
        case 4: e.target = {Target::Kind::client, "c" + std::to_string(pick(42))}; break;
        default: e.target = {Target::Kind::user, pick(2) == 0 ? "" : "u0"}; break;  // no user: nobody
    }
    return e;
}

struct Stream {
    std::shared_ptr<ShardedSubscriber> sub;
    std::shared_ptr<const Subscription> subscription;
    std::uint64_t after = 0;             // the id it attached after
    std::vector<std::uint64_t> replay;   // what attach() gave
};

}  // namespace

TEST_CASE("the index: every event reaches exactly the streams that select it, across shards, "
          "while streams attach and detach") {
    constexpr std::size_t shard_count = 3;
    TaskThreads threads(shard_count);
    Hub hub(HubOptions{.history_size = 20'000, .ring_size = 20'000, .first_id = 1, .max_streams_per_user = 1'000});
    hub.set_shards(shard_count, [&threads](std::size_t k, std::function<void()> task) { threads.post(k, std::move(task)); });

    std::mt19937 rng(16);
    // Streams attached throughout: on each shard, and some without one (the hub's deliver()).
    std::vector<Stream> steady;
    for (std::size_t n = 0; n < 240; ++n) {
        const auto shard = n % 4 == 3 ? std::nullopt : std::optional<std::size_t>(n % shard_count);
        Stream s{std::make_shared<ShardedSubscriber>(shard, &threads), random_subscription(rng, n)};
        CHECK(hub.attach(s.sub, s.subscription, std::nullopt).empty());
        steady.push_back(std::move(s));
    }

    std::map<std::uint64_t, Event> published;  // by id: what selects() is asked about
    std::mutex published_mutex;
    std::atomic<std::uint64_t> newest{0};
    std::atomic<bool> publishing{true};

    // Others attach from the last id they saw and detach again, on two threads.
    std::vector<Stream> churned;
    std::mutex churned_mutex;
    auto churn = [&](unsigned seed) {
        std::mt19937 mine(seed);
        std::size_t n = 1'000 * seed;
        while (publishing) {
            std::vector<Stream> batch;
            for (int i = 0; i < 8; ++i, ++n) {
                const auto shard = n % 5 == 4 ? std::nullopt : std::optional<std::size_t>(n % shard_count);
                Stream s{std::make_shared<ShardedSubscriber>(shard, &threads), random_subscription(mine, n)};
                s.after = newest.load();
                for (auto& frame : hub.attach(s.sub, s.subscription, s.after)) s.replay.push_back(id_of(*frame));
                batch.push_back(std::move(s));
            }
            std::shuffle(batch.begin(), batch.end(), mine);
            for (auto& s : batch) hub.detach(s.sub.get());
            std::lock_guard lock(churned_mutex);
            for (auto& s : batch) churned.push_back(std::move(s));
        }
    };
    std::thread churn1(churn, 1), churn2(churn, 2);

    for (int i = 0; i < 3'000; ++i) {
        auto e = random_event(rng);
        const auto copy = e;
        auto p = hub.publish(std::move(e));
        REQUIRE(p);
        {
            std::lock_guard lock(published_mutex);
            published.emplace(p->id(), copy);
        }
        newest = p->id();
    }
    publishing = false;
    churn1.join();
    churn2.join();
    threads.drain();

    auto selected_after = [&](const Subscription& sub, std::uint64_t after) {
        std::vector<std::uint64_t> out;
        for (auto it = published.upper_bound(after); it != published.end(); ++it)
            if (sub.selects(it->second)) out.push_back(it->first);
        return out;
    };

    SECTION("a stream attached throughout gets every event it selects, once, in id order") {
        std::size_t delivered = 0;
        for (const auto& s : steady) {
            INFO("client " << s.subscription->client.client_id << " user " << s.subscription->client.user);
            CHECK_FALSE(s.sub->wrong_thread());
            const auto live = s.sub->live();
            CHECK(live == selected_after(*s.subscription, 0));
            delivered += live.size();
        }
        CHECK(delivered > 10'000);  // the mix selects plenty: the check above is not empty
    }

    SECTION("a stream that came and went got its replay then live events, with no gap and no duplicate, "
            "and nothing it does not select") {
        REQUIRE(churned.size() > 16);
        for (const auto& s : churned) {
            CHECK_FALSE(s.sub->wrong_thread());
            auto got = s.replay;
            const auto live = s.sub->live();
            got.insert(got.end(), live.begin(), live.end());
            auto want = selected_after(*s.subscription, s.after);
            // It left at some point: what it got is where `want` starts, up to there.
            REQUIRE(got.size() <= want.size());
            want.resize(got.size());
            CHECK(got == want);
        }
    }
}

TEST_CASE("the index: an event for one user, session or client examines only that target's streams") {
    constexpr std::size_t shard_count = 2;
    TaskThreads threads(shard_count);
    Hub hub(HubOptions{.first_id = 1, .max_streams_per_user = 1'000});
    hub.set_shards(shard_count, [&threads](std::size_t k, std::function<void()> task) { threads.post(k, std::move(task)); });

    std::vector<std::shared_ptr<ShardedSubscriber>> subs;
    std::vector<std::shared_ptr<const Subscription>> subscriptions;
    auto add = [&](std::string client_id, std::string user, std::string session) {
        auto s = std::make_shared<Subscription>();
        s->client = ClientInfo{.client_id = std::move(client_id), .user = std::move(user),
                               .session = std::move(session), .route = "/api/events"};
        subs.push_back(std::make_shared<ShardedSubscriber>(subs.size() % shard_count, &threads));
        subscriptions.push_back(s);
        hub.attach(subs.back(), s, std::nullopt);
    };
    // 3,000 streams: 1,000 anonymous, 2,000 of 500 users; user u7 has 4, one of them in session s7.
    for (int i = 0; i < 1'000; ++i) add("anon" + std::to_string(i), "", "");
    for (int i = 0; i < 2'000; ++i) {
        const auto user = i < 4 ? 7 : 8 + i % 492;
        add("c" + std::to_string(i), "u" + std::to_string(user), i == 0 ? "s7" : "x" + std::to_string(i));
    }

    auto examined_by = [&](Event e, std::size_t& delivered) {
        const auto before = hub.stats().streams_examined;
        REQUIRE(hub.publish(std::move(e), &delivered));
        return hub.stats().streams_examined - before;
    };
    std::size_t delivered = 0;
    SECTION("user") {
        CHECK(examined_by(Event{.name = "e", .target = {Target::Kind::user, "u7"}}, delivered) == 4);
        CHECK(delivered == 4);
        CHECK(examined_by(Event{.name = "e", .target = {Target::Kind::user, "nobody"}}, delivered) == 0);
        CHECK(delivered == 0);
        threads.drain();
        for (std::size_t i = 0; i < subs.size(); ++i)
            CHECK(subs[i]->live().size() == (subscriptions[i]->client.user == "u7" ? 1u : 0u));
    }
    SECTION("session") {
        CHECK(examined_by(Event{.name = "e", .target = {Target::Kind::session, "s7"}}, delivered) == 1);
        CHECK(delivered == 1);
    }
    SECTION("client") {
        CHECK(examined_by(Event{.name = "e", .target = {Target::Kind::client, "c3"}}, delivered) == 1);
        CHECK(delivered == 1);
    }
    SECTION("a broadcast walks one list, every stream of a global event to all is selected") {
        CHECK(examined_by(Event{.name = "e", .target = {Target::Kind::broadcast, {}}}, delivered) == 2'000);
        CHECK(delivered == 2'000);
        CHECK(examined_by(Event{.name = "e", .target = {Target::Kind::all, {}}}, delivered) == 3'000);
        CHECK(delivered == 3'000);
        // No stream is on "news": nothing to examine.
        CHECK(examined_by(Event{.name = "e", .stream = "news", .target = {Target::Kind::broadcast, {}}}, delivered) == 0);
    }
    SECTION("streams that left are no longer candidates") {
        for (std::size_t i = 1'000; i < 1'004; ++i) hub.detach(subs[i].get());  // u7's four
        CHECK(examined_by(Event{.name = "e", .target = {Target::Kind::user, "u7"}}, delivered) == 0);
        CHECK(examined_by(Event{.name = "e", .target = {Target::Kind::broadcast, {}}}, delivered) == 1'996);
        CHECK(delivered == 1'996);
    }
    threads.drain();
}
