// Mux webhooks: their signature (Mux-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "t.body">), and the video records they describe, which become server events.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

namespace ssebus::server::mux {

struct SignatureHeader {
    std::int64_t timestamp = 0;
    std::vector<std::string> v1;  // lowercase hex digests
};

// Comma-separated key=value items, optional spaces around items; exactly one `t` (decimal
// digits, fits int64, no sign); one or more `v1` (64 hex digits, either case); other keys
// are ignored (future schemes). Anything else, or a header over 4 KiB: nullopt.
std::optional<SignatureHeader> parse_signature_header(std::string_view header);

enum class Verdict { ok, missing, malformed, bad_signature, stale };

// missing: empty header; malformed: see parse_signature_header; bad_signature: no v1
// matches (or the secret is empty); stale: signed, but |now - t| > tolerance. The signature
// is checked before the time, so `stale` always means a genuine but old (or replayed) request.
Verdict verify_signature(std::string_view header, std::string_view raw_body, std::string_view secret,
                         std::chrono::system_clock::time_point now,
                         std::chrono::seconds tolerance = std::chrono::minutes(5));

// "ok", "missing signature", "malformed signature", "bad signature", "stale timestamp".
std::string_view to_string(Verdict verdict) noexcept;

// "t=<timestamp>,v1=<hex>", as Mux would send it; for tests and the demo.
std::string sign_header(std::string_view secret, std::string_view raw_body, std::int64_t timestamp);

struct ServerEvent {
    std::string name;
    nlohmann::json data;
};

// The video records that webhooks describe, and the server events they become.
// A record as JSON: {"videoId", "status", "playbackId", "duration", "aspectRatio",
// "uploadId", "createdAt", "updatedAt"} plus any field upsert() added; unknown values are
// null, times are ISO-8601 UTC with milliseconds. Thread-safe (one mutex).
class VideoStore {
public:
    struct Applied {
        bool duplicate = false;
        bool ignored = false;
        std::vector<ServerEvent> events;
    };

    // Past max_records (at least 1) the oldest record is dropped; past max_ids the oldest
    // remembered webhook id is forgotten (and would be applied again; 0 remembers none).
    explicit VideoStore(std::size_t max_records = 10'000, std::size_t max_ids = 10'000);

    // `webhook` is the parsed body of a verified webhook:
    //   {"type":"video.asset.ready","id":"<webhook id>","data":{"id":"<asset id>","status":...,
    //    "playback_ids":[{"id":..,"policy":"public"}],"duration":..,"aspect_ratio":..,
    //    "upload_id":..,"created_at":"<unix seconds>"}}
    // Missing, empty or non-string type, id or data.id, or a type not under "video.asset.":
    // ignored (and the id is not remembered). A webhook id applied before: duplicate.
    // Otherwise the record is created (status "preparing", createdAt from data.created_at in
    // unix seconds, else now) or updated (fields absent from data keep their value), and:
    //   video.asset.created -> video:created
    //   video.asset.ready   -> video:status:ready, video:updated
    //   video.asset.deleted -> video:status:updated, video:updated (status "deleted"; record removed)
    //   other video.asset.* -> video:status:updated, video:updated
    // Each event's data is the record after the change plus "webhookType".
    Applied apply(const nlohmann::json& webhook);
    // Forgets that webhook `webhook_id` was applied, so that the sender's retry applies it
    // again (its events could not be published).
    void forget(const std::string& webhook_id);

    // For records the server itself creates or changes (uploads, the demo pipeline): sets
    // the keys of `fields` (an object; videoId, createdAt and updatedAt are the store's own)
    // on record `id`, creating it if needed. Returns the record.
    nlohmann::json upsert(const std::string& id, const nlohmann::json& fields);

    // Puts record `id` back as `previous` was (get()'s answer before a change), removing it
    // when there was none: undoes an upsert whose event could not be published.
    void restore(const std::string& id, const std::optional<nlohmann::json>& previous);

    // Where records survive a restart: `persist` is called, under the store's lock and so in
    // order, with a record's id and its new value, or nullopt when it was removed. Set it
    // before use, after load()ing what was kept.
    using Persist = std::function<void(const std::string& id, const std::optional<nlohmann::json>& record)>;
    void persist_to(Persist persist);
    // A record read back from where it was kept (oldest first); not persisted again.
    void load(const std::string& id, nlohmann::json record);
    // Every record at once, as another server left them where they are kept (a shared log):
    // `records` (oldest first) replace all of this store's; not persisted again. The webhook
    // ids already applied are kept.
    void replace_all(std::vector<std::pair<std::string, nlohmann::json>> records);

    std::optional<nlohmann::json> get(const std::string& id) const;
    nlohmann::json list() const;  // JSON array, most recently created first
    std::size_t size() const;

private:
    struct Record {
        std::uint64_t seq;  // creation order
        nlohmann::json json;
    };

    void store(const std::string& id, nlohmann::json record);
    void remove(const std::string& id);
    void remember(const std::string& webhook_id);

    std::size_t max_records_;
    std::size_t max_ids_;
    mutable std::mutex mutex_;
    std::uint64_t next_seq_ = 0;
    std::unordered_map<std::string, Record> records_;
    std::map<std::uint64_t, std::string> by_age_;  // seq -> video id
    std::unordered_set<std::string> seen_ids_;
    std::deque<std::string> seen_order_;  // oldest first
    Persist persist_;
};

}  // namespace ssebus::server::mux
