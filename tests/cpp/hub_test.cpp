// The hub alone, through a fake Subscriber: ordering, the replay race, targets, detaching
// during a publish, and the asynchronous publish.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "hub.hpp"

using namespace ssebus::server;

namespace {

// What a stream would have written: every frame, in the order deliver() was called.
class FakeSubscriber : public Subscriber {
public:
    explicit FakeSubscriber(Hub* hub = nullptr) : hub_(hub) {}
    void deliver(const Frame& frame, SteadyTime published_at) override {
        std::lock_guard lock(mutex_);
        frames_.push_back(*frame);
        published_at_.push_back(published_at);
        if (detach_on_delivery_ && hub_) hub_->detach(this);
    }
    void close(const Frame& final_comment) override {
        std::lock_guard lock(mutex_);
        closed_with_ = *final_comment;
    }
    void detach_on_delivery() { detach_on_delivery_ = true; }
    std::vector<std::string> frames() const {
        std::lock_guard lock(mutex_);
        return frames_;
    }
    std::vector<SteadyTime> published_at() const {
        std::lock_guard lock(mutex_);
        return published_at_;
    }
    std::string closed_with() const {
        std::lock_guard lock(mutex_);
        return closed_with_;
    }

private:
    Hub* hub_;
    std::atomic<bool> detach_on_delivery_{false};
    mutable std::mutex mutex_;
    std::vector<std::string> frames_;
    std::vector<SteadyTime> published_at_;
    std::string closed_with_;
};

// The ids of frames that carry one ("id: 42\n..."), in order.
std::vector<std::uint64_t> ids(const std::vector<std::string>& frames) {
    std::vector<std::uint64_t> out;
    for (const auto& f : frames)
        if (f.rfind("id: ", 0) == 0) out.push_back(std::stoull(f.substr(4, f.find('\n') - 4)));
    return out;
}

std::string name_of(const std::string& frame) {
    const auto at = frame.find("event: ");
    if (at == std::string::npos) return {};
    return frame.substr(at + 7, frame.find('\n', at) - at - 7);
}

std::shared_ptr<const Subscription> subscription(ClientInfo client = {}, Filter filter = {}) {
    auto s = std::make_shared<Subscription>();
    s->client = std::move(client);
    s->filter = std::move(filter);
    return s;
}

ClientInfo client(std::string id, std::string user = {}, std::string session = {}) {
    return ClientInfo{.client_id = std::move(id), .user = std::move(user), .session = std::move(session),
                      .route = "/api/events"};
}

bool strictly_increasing(const std::vector<std::uint64_t>& v) {
    for (std::size_t i = 1; i < v.size(); ++i)
        if (v[i] <= v[i - 1]) return false;
    return true;
}

}  // namespace

TEST_CASE("the hub numbers events and every subscriber sees them in id order") {
    Hub hub(HubOptions{.first_id = 100});
    std::vector<std::shared_ptr<FakeSubscriber>> subs;
    for (int i = 0; i < 4; ++i) {
        subs.push_back(std::make_shared<FakeSubscriber>());
        CHECK(hub.attach(subs.back(), subscription(client("c" + std::to_string(i))), std::nullopt).empty());
    }

    SECTION("from one thread") {
        std::size_t delivered = 0;
        const auto first = hub.publish(Event{.name = "a"}, &delivered);
        CHECK(first->id() == 100);
        CHECK(delivered == 4);
        CHECK(hub.publish(Event{.name = "b"})->id() == 101);
        for (auto& s : subs) CHECK(ids(s->frames()) == std::vector<std::uint64_t>{100, 101});
    }
    SECTION("from many threads at once") {
        constexpr int threads = 4, each = 500;
        std::vector<std::thread> publishers;
        for (int t = 0; t < threads; ++t)
            publishers.emplace_back([&] {
                for (int i = 0; i < each; ++i) hub.notify_all("n", i);
            });
        for (auto& t : publishers) t.join();
        for (auto& s : subs) {
            const auto got = ids(s->frames());
            CHECK(got.size() == threads * each);
            CHECK(strictly_increasing(got));
        }
        CHECK(hub.stats().events_published == threads * each);
        CHECK(hub.stats().frames_delivered == 4 * threads * each);
    }
}

TEST_CASE("a live frame comes with the moment the hub published its event") {
    Hub hub;
    auto sub = std::make_shared<FakeSubscriber>();
    hub.attach(sub, subscription(client("t")), std::nullopt);
    const auto before = std::chrono::steady_clock::now();
    const auto a = hub.notify_all("a", nullptr);
    const auto b = hub.notify_all("b", nullptr);
    REQUIRE(sub->published_at() == std::vector<SteadyTime>{a->published_at(), b->published_at()});
    CHECK(before <= a->published_at());
    CHECK(a->published_at() <= b->published_at());
    CHECK(b->published_at() <= std::chrono::steady_clock::now());
}

TEST_CASE("the hub counts every publish by name") {
    Hub hub;
    hub.notify_all("a", nullptr);
    hub.publish(Event{.name = "b"});
    hub.notify_user("ana", "a", nullptr);
    hub.publish(Event{.name = "c"}, PublishDone{});
    const auto stats = hub.stats();
    CHECK(stats.events_published == 4);
    CHECK(stats.events_published_by_name == CountsByName{{"a", 2}, {"b", 1}, {"c", 1}});
}

TEST_CASE("attach during publishes: replay and live events join with no gap and no duplicate") {
    Hub hub(HubOptions{.history_size = 100'000, .first_id = 1});
    for (int i = 0; i < 50; ++i) hub.notify_all("before", i);  // ids 1..50
    std::atomic<bool> stop{false};
    std::thread publisher([&] {
        while (!stop) hub.notify_all("during", 0);
    });
    // Each attaches from the last id it saw; what it gets first (the replay) and then
    // (live) must be exactly every id after that one.
    for (int round = 0; round < 20; ++round) {
        auto sub = std::make_shared<FakeSubscriber>();
        // An id a little behind the newest, so some of the replay races the publisher.
        const std::uint64_t last_seen = hub.stats().last_id - 20 + static_cast<std::uint64_t>(round % 3);
        const auto replay = hub.attach(sub, subscription(client("r")), last_seen);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        hub.detach(sub.get());
        std::vector<std::string> all;
        for (const auto& f : replay) all.push_back(*f);
        for (auto& f : sub->frames()) all.push_back(f);
        const auto got = ids(all);
        REQUIRE(!got.empty());
        CHECK(got.front() == last_seen + 1);
        for (std::size_t i = 1; i < got.size(); ++i) REQUIRE(got[i] == got[i - 1] + 1);
    }
    stop = true;
    publisher.join();
}

TEST_CASE("a replay past the retained history starts with a gap notice") {
    Hub hub(HubOptions{.history_size = 10, .first_id = 1});
    for (int i = 0; i < 30; ++i) hub.notify_all("e", i);
    auto sub = std::make_shared<FakeSubscriber>();
    const auto replay = hub.attach(sub, subscription(client("g")), 5);
    REQUIRE(replay.size() == 11);
    CHECK(name_of(*replay.front()) == "ssebus:gap");
    CHECK(replay.front()->find(R"("requested":5)") != std::string::npos);
    CHECK(replay.front()->find(R"("earliest":21)") != std::string::npos);
    CHECK(hub.stats().gaps_reported == 1);
    CHECK(hub.stats().events_replayed == 10);
}

TEST_CASE("the hub sends a targeted event only to the streams it reaches") {
    Hub hub(HubOptions{.first_id = 1});
    auto anon = std::make_shared<FakeSubscriber>();
    auto ana1 = std::make_shared<FakeSubscriber>();
    auto ana2 = std::make_shared<FakeSubscriber>();
    auto ben = std::make_shared<FakeSubscriber>();
    hub.attach(anon, subscription(client("c-anon")), std::nullopt);
    hub.attach(ana1, subscription(client("c-ana1", "ana", "s-ana1")), std::nullopt);
    hub.attach(ana2, subscription(client("c-ana2", "ana", "s-ana2")), std::nullopt);
    hub.attach(ben, subscription(client("c-ben", "ben", "s-ben")), std::nullopt);

    hub.notify_all("all", 0);
    hub.broadcast("broadcast", 0);
    hub.notify_user("ana", "user-ana", 0);
    hub.notify_session("s-ana2", "session-ana2", 0);
    hub.notify_client("c-anon", "client-anon", 0);
    hub.notify_user("nobody", "user-nobody", 0);

    auto names = [](const FakeSubscriber& s) {
        std::vector<std::string> out;
        for (auto& f : s.frames()) out.push_back(name_of(f));
        return out;
    };
    CHECK(names(*anon) == std::vector<std::string>{"all", "client-anon"});
    CHECK(names(*ana1) == std::vector<std::string>{"all", "broadcast", "user-ana"});
    CHECK(names(*ana2) == std::vector<std::string>{"all", "broadcast", "user-ana", "session-ana2"});
    CHECK(names(*ben) == std::vector<std::string>{"all", "broadcast"});

    SECTION("and on replay too") {
        auto late = std::make_shared<FakeSubscriber>();
        std::vector<std::string> replayed;
        for (auto& f : hub.attach(late, subscription(client("c-late", "ana", "s-ana2")), 0)) replayed.push_back(name_of(*f));
        // Id 0 was never issued by a hub that started at 1: no gap, just everything after it.
        CHECK(replayed == std::vector<std::string>{"all", "broadcast", "user-ana", "session-ana2"});
    }
    SECTION("streams select by name") {
        auto sub = std::make_shared<FakeSubscriber>();
        hub.attach(sub, subscription(client("c-s"), Filter{.global = false, .streams = {"news"}}), std::nullopt);
        hub.publish(Event{.name = "global"});
        hub.publish(Event{.name = "news", .stream = "news"});
        hub.publish(Event{.name = "sport", .stream = "sport"});
        hub.publish(Event{.name = "every-stream", .stream = "*"});
        CHECK(names(*sub) == std::vector<std::string>{"news", "every-stream"});
    }
}

TEST_CASE("detaching during a publish") {
    Hub hub(HubOptions{.first_id = 1});

    SECTION("a subscriber that detaches from inside deliver() gets that event and no more") {
        auto leaving = std::make_shared<FakeSubscriber>(&hub);
        auto staying = std::make_shared<FakeSubscriber>();
        hub.attach(leaving, subscription(client("l")), std::nullopt);
        hub.attach(staying, subscription(client("s")), std::nullopt);
        leaving->detach_on_delivery();
        hub.notify_all("one", 1);
        hub.notify_all("two", 2);
        CHECK(ids(leaving->frames()) == std::vector<std::uint64_t>{1});
        CHECK(ids(staying->frames()) == std::vector<std::uint64_t>{1, 2});
        CHECK(hub.subscriber_count() == 1);
    }
    SECTION("subscribers attached, detached and destroyed while others publish") {
        std::atomic<bool> stop{false};
        std::vector<std::thread> publishers;
        for (int t = 0; t < 2; ++t)
            publishers.emplace_back([&] {
                while (!stop) hub.notify_all("x", 0);
            });
        auto steady = std::make_shared<FakeSubscriber>();
        hub.attach(steady, subscription(client("steady")), std::nullopt);
        for (int i = 0; i < 300; ++i) {
            auto sub = std::make_shared<FakeSubscriber>();
            hub.attach(sub, subscription(client("churn")), std::nullopt);
            if (i % 2) hub.detach(sub.get());
            // Destroyed without a detach half the time: the hub holds it weakly and skips it.
        }
        stop = true;
        for (auto& t : publishers) t.join();
        CHECK(strictly_increasing(ids(steady->frames())));
        const auto before = hub.stats().frames_delivered;
        hub.notify_all("after", 0);
        // The destroyed ones are no longer delivered to (at most the live ones are).
        CHECK(hub.stats().frames_delivered - before <= hub.subscriber_count());
    }
}

TEST_CASE("Hub::publish(Event, PublishDone) answers once, after the event is numbered and sent") {
    Hub hub(HubOptions{.first_id = 7});
    auto sub = std::make_shared<FakeSubscriber>();
    hub.attach(sub, subscription(client("c")), std::nullopt);
    int calls = 0;
    Published got;
    hub.publish(Event{.name = "async"}, [&](Published p) {
        ++calls;
        // By the time the caller hears of it, the subscriber has it.
        CHECK(ids(sub->frames()) == std::vector<std::uint64_t>{7});
        got = std::move(p);
    });
    CHECK(calls == 1);
    REQUIRE(got.ok());
    CHECK(got.error.empty());
    CHECK(got.event->id() == 7);
    CHECK(got.event->event().name == "async");
    CHECK(got.delivered == 1);
    SECTION("an empty callback is fire and forget") {
        hub.publish(Event{.name = "forget"}, PublishDone{});
        CHECK(ids(sub->frames()) == std::vector<std::uint64_t>{7, 8});
    }
}

TEST_CASE("close_all sends every subscriber its final comment; stats count streams closed by reason") {
    Hub hub;
    auto a = std::make_shared<FakeSubscriber>();
    auto b = std::make_shared<FakeSubscriber>();
    hub.attach(a, subscription(client("a")), std::nullopt);
    hub.attach(b, subscription(client("b")), std::nullopt);
    hub.close_all("bye");
    CHECK(a->closed_with() == ": bye\n\n");
    CHECK(b->closed_with() == ": bye\n\n");

    hub.count_closed(CloseReason::shutdown);
    hub.count_closed(CloseReason::shutdown);
    hub.count_closed(CloseReason::slow_client);
    const auto stats = hub.stats();
    CHECK(stats.closed_by_reason == std::map<std::string, std::uint64_t>{
                                        {"client_gone", 0}, {"rotated", 0}, {"shutdown", 2},
                                        {"slow_client", 1}, {"store_failed", 0}, {"write_failed", 0}});
    CHECK(stats.to_json()["closed_by_reason"]["shutdown"] == 2);
}

TEST_CASE("a wait for an id wakes once the hub has applied it; a cancelled wait never wakes") {
    Hub hub(HubOptions{.first_id = 1});
    hub.notify_all("one", 1);
    int woken_at_once = 0, woken_later = 0, cancelled = 0;

    const auto applied = hub.wait_for_applied(1, [&](bool) { ++woken_at_once; });
    CHECK(woken_at_once == 1);
    CHECK_FALSE(hub.cancel_wait(applied));

    const auto later = hub.wait_for_applied(3, [&](bool) { ++woken_later; });
    const auto given_up = hub.wait_for_applied(5, [&](bool) { ++cancelled; });
    CHECK(hub.stats().streams_waiting == 2);
    hub.notify_all("two", 2);
    CHECK(woken_later == 0);
    hub.notify_all("three", 3);
    CHECK(woken_later == 1);
    CHECK_FALSE(hub.cancel_wait(later));
    CHECK(hub.cancel_wait(given_up));
    for (int i = 4; i <= 6; ++i) hub.notify_all("more", i);
    CHECK(cancelled == 0);
    CHECK(woken_later == 1);
    CHECK(hub.stats().streams_waiting == 0);
    CHECK(hub.stats().lag_waits == 3);
    // A log that is not shared never makes a stream wait: an id it has not issued is a gap.
    CHECK_FALSE(hub.lags_behind(100));
}

TEST_CASE("closing every stream wakes the waits for an id, which count as streams until they end") {
    Hub hub(HubOptions{.first_id = 1});
    hub.notify_all("one", 1);
    std::vector<bool> woken;
    hub.wait_for_applied(5, [&](bool applied) { woken.push_back(applied); });
    hub.wait_for_applied(7, [&](bool applied) { woken.push_back(applied); });
    CHECK(hub.subscriber_count() == 2);
    CHECK(woken.empty());

    hub.close_all("server shutting down");
    CHECK(woken == std::vector<bool>{false, false});
    CHECK(hub.stats().streams_waiting == 0);
    // Until each waiter says it is done (it let go of its stream's place), shutdown waits for it.
    CHECK(hub.subscriber_count() == 2);
    hub.end_wait();
    hub.end_wait();
    CHECK(hub.subscriber_count() == 0);

    // A wait after that does not wait.
    hub.wait_for_applied(9, [&](bool applied) { woken.push_back(applied); });
    CHECK(woken == std::vector<bool>{false, false, false});
    hub.end_wait();
    CHECK(hub.subscriber_count() == 0);
}
