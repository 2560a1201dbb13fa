// One Server-Sent Events stream. It owns its socket, its write queue and its heartbeat
// timer, and lives on one shard (an io_context run by one thread), so it needs no strand:
// the hub reaches it by posting to that shard, its live events in one task per event for
// every stream of the shard. At most one write is in flight; the queue is bounded in bytes
// and events, and a client that falls that far behind is disconnected (it will reconnect and
// replay) so that it never slows the others.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hub.hpp"
#include "net.hpp"

namespace ssebus::server {

struct SseLimits {
    std::size_t queue_max_bytes = 1 << 20;
    std::size_t queue_max_events = 1'000;
    std::chrono::milliseconds heartbeat{15'000};
    std::chrono::milliseconds max_age{0};  // 0: a stream lives as long as its client
    std::size_t send_buffer = 0;           // SO_SNDBUF of the socket; 0: the kernel's autotuning
};

class SseSession : public Subscriber, public std::enable_shared_from_this<SseSession> {
public:
    // `socket`'s executor is shard `shard`'s io_context, which one thread runs, or with no
    // shard a strand (the hub then posts each event to the stream: deliver()).
    SseSession(tcp::socket&& socket, std::optional<std::size_t> shard, Hub& hub, std::shared_ptr<const Subscription> subscription,
               StreamTicket ticket, SseLimits limits);
    ~SseSession() override;

    // Writes `head` (the response header and the stream's first bytes), attaches to the hub,
    // and replays what the client missed since `last_event_id`.
    void run(std::string head, std::optional<std::uint64_t> last_event_id, std::vector<Frame> preamble);

    void deliver(const Frame& frame, SteadyTime published_at) override;
    std::optional<std::size_t> shard() const override { return shard_; }
    void deliver_here(const Frame& frame, SteadyTime published_at) override { enqueue(frame, published_at, false); }
    void flush_here() override;
    void notice(const Frame& frame) override;
    void close(const Frame& final_comment) override;

private:
    // `published_at` is set for live events only: their latency goes to the hub's histogram.
    // With `write` false it only queues the frame (deliver_here: flush_here writes).
    void enqueue(const Frame& frame, std::optional<SteadyTime> published_at = std::nullopt, bool write = true);
    // Moves the next frames (backlog, then queue) into writing_ and buffers_; false: none.
    bool take_frames();
    void do_write();
    void on_write(error_code ec, std::size_t bytes);
    // After a write: its bookkeeping; true when more frames wait to be written.
    bool wrote(error_code ec);
    void do_read();
    void on_read(error_code ec, std::size_t bytes);
    void arm_heartbeat();
    void on_heartbeat(error_code ec);
    void close_with(const Frame& final_comment, CloseReason reason);
    // The replay could not read the log: a final comment, then the client reconnects.
    void close_unreadable();
    // While catching up from the log: asks the hub for the next page of the replay (one at a
    // time), which on_page adds to the backlog, on this strand.
    void request_page();
    void on_page(Replay replay);
    void shut(CloseReason why);
    void leave();

    // The plain socket, not a beast::tcp_stream: a stream has no deadline (the heartbeat and
    // the slow-client limit watch it), so a timer armed per operation would be pure cost.
    tcp::socket socket_;
    std::optional<std::size_t> shard_;
    Hub& hub_;
    std::shared_ptr<const Subscription> subscription_;
    StreamTicket ticket_;
    SseLimits limits_;
    net::steady_timer heartbeat_;
    net::steady_timer max_age_;
    // What the stream owes before any live event: the response head, the preamble and the
    // replay. It holds at most one page of the replay (the hub's ring, or 1,000 events read
    // from the log), so it is not held to the queue's limits: a client that missed more
    // events than the queue holds still gets them all.
    std::deque<Frame> backlog_;
    struct Queued {
        Frame frame;
        std::optional<SteadyTime> published_at;  // a live event's; none for comments
    };
    std::deque<Queued> queue_;    // live events and comments, bounded by the limits
    std::size_t queued_bytes_ = 0;  // live bytes queued or in flight
    std::vector<Frame> writing_;  // the frames of the write in flight
    std::size_t writing_live_bytes_ = 0;
    std::vector<SteadyTime> writing_published_;  // when the live events in flight were published
    std::vector<net::const_buffer> buffers_;
    std::array<char, 512> read_buffer_{};
    std::chrono::steady_clock::time_point opened_at_;
    CloseReason closing_reason_ = CloseReason::shutdown;
    bool attached_ = false;
    // The replay is older than the hub's ring: pages come from the log, one after the
    // other as the backlog empties, until the hub attaches the stream.
    bool catching_up_ = false;
    bool page_pending_ = false;  // a page is being read: no second one is asked for
    std::uint64_t replayed_up_to_ = 0;
    bool closing_ = false;  // close after the queue is flushed
    bool closed_ = false;
};

}  // namespace ssebus::server
