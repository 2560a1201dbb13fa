#include "sse_session.hpp"

#include "log.hpp"
#include "ssebus/sse_writer.hpp"

namespace ssebus::server {

namespace {

const Frame& heartbeat_frame() {
    static const Frame frame = std::make_shared<const std::string>(sse::comment("heartbeat"));
    return frame;
}

// Frames go out in one gathered write of at most this many.
constexpr std::size_t max_frames_per_write = 256;

}  // namespace

SseSession::SseSession(tcp::socket&& socket, std::optional<std::size_t> shard, Hub& hub,
                       std::shared_ptr<const Subscription> subscription, StreamTicket ticket, SseLimits limits)
    : socket_(std::move(socket)),
      shard_(shard),
      hub_(hub),
      subscription_(std::move(subscription)),
      ticket_(std::move(ticket)),
      limits_(limits),
      heartbeat_(socket_.get_executor()),
      max_age_(socket_.get_executor()) {}

SseSession::~SseSession() {
    leave();
}

void SseSession::leave() {
    if (!attached_) return;
    attached_ = false;
    hub_.detach(this);
    ticket_ = StreamTicket{};  // the user's place is free for the reconnect
    if (hub_.on_disconnect) hub_.on_disconnect(subscription_->client);
}

void SseSession::run(std::string head, std::optional<std::uint64_t> last_event_id, std::vector<Frame> preamble) {
    auto& socket = socket_;
    socket.set_option(tcp::no_delay(true));
    error_code failed;
    socket.non_blocking(true, failed);  // do_write tries each write at once; if not, it waits
    if (limits_.send_buffer > 0) {
        // A fixed send buffer instead of the kernel's autotuning (up to megabytes on a
        // connection that stopped reading): a stalled client then fills our queue, and is
        // let go, after about send_buffer + queue_max_bytes.
        error_code ignored;
        socket.set_option(net::socket_base::send_buffer_size(static_cast<int>(limits_.send_buffer)), ignored);
    }
    // Attach before the first byte goes out: a client that has read the response head may
    // publish at once and must see that event. Attaching happens on this shard's thread, and
    // live deliveries are posted to it, so they queue behind the head and the replay.
    auto replay = hub_.replay_first(shared_from_this(), subscription_, last_event_id);
    attached_ = true;
    catching_up_ = !replay.attached && !replay.failed;
    replayed_up_to_ = replay.after;
    opened_at_ = std::chrono::steady_clock::now();
    const auto& c = subscription_->client;
    SSEBUS_LOG(debug, "stream opened", {"client", c.client_id}, {"user", c.user}, {"session", c.session},
               {"route", c.route}, {"remote", c.remote});
    backlog_.push_back(std::make_shared<const std::string>(std::move(head)));
    backlog_.insert(backlog_.end(), std::make_move_iterator(preamble.begin()), std::make_move_iterator(preamble.end()));
    backlog_.insert(backlog_.end(), std::make_move_iterator(replay.frames.begin()),
                    std::make_move_iterator(replay.frames.end()));
    if (hub_.on_connect) hub_.on_connect(subscription_->client);
    arm_heartbeat();
    if (limits_.max_age.count() > 0) {
        // Rotating streams spreads clients over restarted or added servers; the client
        // reconnects at once and resumes from its last id.
        max_age_.expires_after(limits_.max_age);
        max_age_.async_wait([self = shared_from_this()](error_code ec) {
            static const Frame rotated = std::make_shared<const std::string>(sse::comment("stream rotated"));
            if (!ec) self->close_with(rotated, CloseReason::rotated);
        });
    }
    do_read();
    // The head goes out after everything above: a write may end the stream at once.
    do_write();
    if (replay.failed) return close_unreadable();
    // The first page is read while the head goes out.
    request_page();
}

void SseSession::request_page() {
    if (page_pending_ || !catching_up_ || closed_ || closing_) return;
    page_pending_ = true;
    // The page may complete on the log's thread: it comes back to this shard's thread.
    hub_.replay_more(shared_from_this(), subscription_, replayed_up_to_, [self = shared_from_this()](Replay replay) {
        net::post(self->socket_.get_executor(),
                  [self, replay = std::move(replay)]() mutable { self->on_page(std::move(replay)); });
    });
}

void SseSession::on_page(Replay replay) {
    page_pending_ = false;
    if (closed_ || closing_) return;  // a late page for a stream that ended
    catching_up_ = !replay.attached && !replay.failed;
    replayed_up_to_ = replay.after;
    backlog_.insert(backlog_.end(), std::make_move_iterator(replay.frames.begin()),
                    std::make_move_iterator(replay.frames.end()));
    if (replay.failed) return close_unreadable();
    if (!writing_.empty()) return;  // on_write goes on
    if (!backlog_.empty() || !queue_.empty()) return do_write();
    // A page that selected nothing: the next one (its answer is a handler of its own, so the
    // other work of this I/O thread goes on between pages).
    request_page();
}

void SseSession::close_unreadable() {
    static const Frame frame =
        std::make_shared<const std::string>(sse::comment("the history cannot be read now; reconnect to resume"));
    close_with(frame, CloseReason::store_failed);
}

void SseSession::deliver(const Frame& frame, SteadyTime published_at) {
    net::post(socket_.get_executor(),
              [self = shared_from_this(), frame, published_at] { self->enqueue(frame, published_at); });
}

void SseSession::notice(const Frame& frame) {
    net::post(socket_.get_executor(), [self = shared_from_this(), frame] { self->enqueue(frame); });
}

void SseSession::close(const Frame& final_comment) {
    close_with(final_comment, CloseReason::shutdown);
}

void SseSession::close_with(const Frame& final_comment, CloseReason reason) {
    net::post(socket_.get_executor(), [self = shared_from_this(), final_comment, reason] {
        if (self->closed_ || self->closing_) return;
        self->enqueue(final_comment);
        self->closing_ = true;
        self->closing_reason_ = reason;
        if (self->writing_.empty()) self->shut(reason);
    });
}

void SseSession::enqueue(const Frame& frame, std::optional<SteadyTime> published_at, bool write) {
    if (closed_ || closing_) return;
    if (queue_.size() >= limits_.queue_max_events || queued_bytes_ + frame->size() > limits_.queue_max_bytes) {
        // Too far behind: let it go; it will reconnect and replay from its last id. Closed
        // (and counted by reason) before it counts as a slow client, so that whoever sees the
        // second count sees the first.
        const auto queued_events = queue_.size(), queued_bytes = queued_bytes_;
        shut(CloseReason::slow_client);
        hub_.count_slow_client();
        const auto& c = subscription_->client;
        SSEBUS_LOG(warn, "slow client disconnected", {"client", c.client_id}, {"user", c.user}, {"route", c.route},
                   {"remote", c.remote}, {"queued_events", queued_events}, {"queued_bytes", queued_bytes});
        if (hub_.on_error) hub_.on_error(subscription_->client, "slow client disconnected");
        return;
    }
    queued_bytes_ += frame->size();
    queue_.push_back({frame, published_at});
    if (write) flush_here();
}

void SseSession::flush_here() {
    if (closed_ || !writing_.empty()) return;  // a write is in flight; on_write continues
    do_write();
}

bool SseSession::take_frames() {
    // The backlog first, then live events: at most max_frames_per_write in one gathered write.
    writing_.clear();
    buffers_.clear();
    writing_live_bytes_ = 0;
    writing_published_.clear();
    for (; !backlog_.empty() && writing_.size() < max_frames_per_write; backlog_.pop_front())
        writing_.push_back(std::move(backlog_.front()));
    for (; !queue_.empty() && writing_.size() < max_frames_per_write; queue_.pop_front()) {
        auto& q = queue_.front();
        writing_live_bytes_ += q.frame->size();
        if (q.published_at) writing_published_.push_back(*q.published_at);
        writing_.push_back(std::move(q.frame));
    }
    for (auto& f : writing_) buffers_.emplace_back(f->data(), f->size());
    return !writing_.empty();
}

void SseSession::do_write() {
    while (take_frames()) {
        // Written at once when the kernel takes it all (the usual case: a reading client's
        // socket has room), so no operation and no completion handler per delivery; what the
        // kernel does not take goes out asynchronously, and frames queued meanwhile wait.
        error_code ec;
        auto written = socket_.write_some(buffers_, ec);  // the socket is non-blocking (run)
        if (ec == net::error::would_block || ec == net::error::try_again) {
            ec = {};
            written = 0;
        }
        if (!ec && written < net::buffer_size(buffers_)) {
            auto rest = buffers_.begin();
            for (; written >= rest->size(); ++rest) written -= rest->size();
            *rest += written;
            buffers_.erase(buffers_.begin(), rest);
            net::async_write(socket_, buffers_, beast::bind_front_handler(&SseSession::on_write, shared_from_this()));
            return;
        }
        if (!wrote(ec)) return;
    }
}

void SseSession::on_write(error_code ec, std::size_t) {
    if (wrote(ec)) do_write();
}

bool SseSession::wrote(error_code ec) {
    queued_bytes_ -= writing_live_bytes_;
    writing_live_bytes_ = 0;
    writing_.clear();
    if (ec) {
        shut(closing_ ? closing_reason_ : CloseReason::write_failed);
        return false;
    }
    if (!writing_published_.empty()) {
        // Every live event of this write, measured once at its completion: the bytes are
        // with the kernel now. One clock read and a few atomic adds per write, not per event.
        const auto now = std::chrono::steady_clock::now();
        LatencyHistogram::Batch batch;
        for (const auto published_at : writing_published_) batch.add(now - published_at);
        writing_published_.clear();
        hub_.record_publish_to_write(batch);
    }
    // The backlog holds at most a page: the next one is read while the last of this one is
    // written.
    if (backlog_.empty() && catching_up_ && !closing_) request_page();
    if (!backlog_.empty() || !queue_.empty()) return true;
    if (closing_) shut(closing_reason_);
    return false;
}

void SseSession::do_read() {
    // Nothing is expected from the client; a read completes when it goes away.
    socket_.async_read_some(net::buffer(read_buffer_), beast::bind_front_handler(&SseSession::on_read, shared_from_this()));
}

void SseSession::on_read(error_code ec, std::size_t) {
    if (ec) return shut(closing_ ? closing_reason_ : CloseReason::client_gone);
    do_read();
}

void SseSession::arm_heartbeat() {
    heartbeat_.expires_after(limits_.heartbeat);
    heartbeat_.async_wait(beast::bind_front_handler(&SseSession::on_heartbeat, shared_from_this()));
}

void SseSession::on_heartbeat(error_code ec) {
    if (ec || closed_) return;
    enqueue(heartbeat_frame());
    if (hub_.on_heartbeat) hub_.on_heartbeat(subscription_->client);
    if (!closed_) arm_heartbeat();
}

void SseSession::shut(CloseReason why) {
    if (closed_) return;
    closed_ = true;
    if (attached_) {
        hub_.count_closed(why);
        const auto& c = subscription_->client;
        SSEBUS_LOG(debug, "stream closed", {"client", c.client_id}, {"user", c.user}, {"session", c.session},
                   {"route", c.route}, {"remote", c.remote}, {"reason", to_string(why)},
                   {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                                 opened_at_).count()});
    }
    max_age_.cancel();
    // Leave the hub now, not in the destructor: deliveries already posted still hold this
    // session, and a busy hub would otherwise keep posting to it.
    leave();
    heartbeat_.cancel();
    backlog_.clear();
    queue_.clear();
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    // Pending operations complete with errors and drop their references; the destructor
    // then leaves the hub.
}

}  // namespace ssebus::server
