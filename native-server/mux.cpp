#include "mux.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "crypto.hpp"
#include "event.hpp"

namespace ssebus::server::mux {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::system_clock;

constexpr std::size_t max_header_size = 4 * 1024;
constexpr std::string_view asset_prefix = "video.asset.";
// 9999-12-31T23:59:59Z: the last second an ISO-8601 year of four digits can name.
constexpr std::int64_t max_unix_seconds = 253'402'300'799;

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Decimal digits only: from_chars alone would also take a leading '-'.
std::optional<std::int64_t> parse_unix_seconds(std::string_view s) {
    if (s.empty()) return std::nullopt;
    for (const char c : s)
        if (!is_digit(c)) return std::nullopt;
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return value;
}

std::optional<std::string> lowercase_digest(std::string_view s) {
    if (s.size() != 64) return std::nullopt;
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
        else if (!is_digit(c) && !(c >= 'a' && c <= 'f')) return std::nullopt;
    }
    return out;
}

std::string expected_digest(std::string_view secret, std::int64_t timestamp, std::string_view raw_body) {
    std::string signed_text = std::to_string(timestamp);
    signed_text += '.';
    signed_text += raw_body;
    return hex(hmac_sha256(secret, signed_text));
}

std::optional<Clock::time_point> parse_created_at(const json& value) {
    std::optional<std::int64_t> secs;
    if (value.is_string()) secs = parse_unix_seconds(value.get_ref<const std::string&>());
    else if (value.is_number_unsigned()) secs = static_cast<std::int64_t>(std::min<std::uint64_t>(
        value.get<std::uint64_t>(), static_cast<std::uint64_t>(max_unix_seconds) + 1));
    else if (value.is_number_integer()) secs = value.get<std::int64_t>();
    else if (value.is_number_float() && value.get<double>() >= 0 && value.get<double>() <= max_unix_seconds)
        secs = static_cast<std::int64_t>(value.get<double>());
    if (!secs || *secs < 0 || *secs > max_unix_seconds) return std::nullopt;
    return Clock::time_point(std::chrono::seconds(*secs));
}

// The field `key` of `j` if it is a non-empty string.
const std::string* find_string(const json& j, const char* key) {
    if (!j.is_object()) return nullptr;
    const auto it = j.find(key);
    if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) return nullptr;
    return &it->get_ref<const std::string&>();
}

json new_record(const std::string& id, Clock::time_point created) {
    const auto at = iso8601(created);
    return {{"videoId", id}, {"status", "preparing"}, {"playbackId", nullptr}, {"duration", nullptr},
            {"aspectRatio", nullptr}, {"uploadId", nullptr}, {"createdAt", at}, {"updatedAt", at}};
}

// Copies what a webhook says about the asset onto the record; absent fields keep their value.
void merge_asset(json& record, const std::string& type, const json& data) {
    if (type == "video.asset.deleted") record["status"] = "deleted";
    else if (const auto* status = find_string(data, "status")) record["status"] = *status;
    else if (type == "video.asset.ready") record["status"] = "ready";
    else if (type == "video.asset.errored") record["status"] = "errored";

    if (const auto ids = data.find("playback_ids"); ids != data.end() && ids->is_array()) {
        json playback = nullptr;
        for (const auto& p : *ids) {
            const auto* policy = find_string(p, "policy");
            const auto* pid = find_string(p, "id");
            if (policy && pid && *policy == "public") {
                playback = *pid;
                break;
            }
        }
        record["playbackId"] = playback;
    }
    if (const auto d = data.find("duration"); d != data.end() && d->is_number()) record["duration"] = *d;
    if (const auto* ratio = find_string(data, "aspect_ratio")) record["aspectRatio"] = *ratio;
    if (const auto* upload = find_string(data, "upload_id")) record["uploadId"] = *upload;
}

}  // namespace

std::optional<SignatureHeader> parse_signature_header(std::string_view header) {
    if (header.empty() || header.size() > max_header_size) return std::nullopt;
    SignatureHeader out;
    bool have_t = false;
    std::size_t pos = 0;
    for (;;) {
        const auto comma = header.find(',', pos);
        const auto item = trim(header.substr(pos, comma == std::string_view::npos ? comma : comma - pos));
        const auto eq = item.find('=');
        if (eq == std::string_view::npos || eq == 0) return std::nullopt;
        const auto key = item.substr(0, eq);
        const auto value = item.substr(eq + 1);
        if (key == "t") {
            const auto t = parse_unix_seconds(value);
            if (have_t || !t) return std::nullopt;
            out.timestamp = *t;
            have_t = true;
        } else if (key == "v1") {
            auto digest = lowercase_digest(value);
            if (!digest) return std::nullopt;
            out.v1.push_back(std::move(*digest));
        }
        // Other keys name schemes this server does not know; Mux may add them at any time.
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
    }
    if (!have_t || out.v1.empty()) return std::nullopt;
    return out;
}

Verdict verify_signature(std::string_view header, std::string_view raw_body, std::string_view secret,
                         Clock::time_point now, std::chrono::seconds tolerance) {
    if (header.empty()) return Verdict::missing;
    const auto parsed = parse_signature_header(header);
    if (!parsed) return Verdict::malformed;
    if (secret.empty()) return Verdict::bad_signature;

    const auto expected = expected_digest(secret, parsed->timestamp, raw_body);
    bool matched = false;
    // Every candidate is compared, so the time taken does not say which one matched.
    for (const auto& candidate : parsed->v1) matched |= constant_time_equal(candidate, expected);
    if (!matched) return Verdict::bad_signature;

    // |now - t| in unsigned arithmetic: exact for any two int64 values, never overflows.
    const std::int64_t now_s = std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count();
    const std::int64_t t = parsed->timestamp;
    const std::uint64_t age = t >= now_s ? static_cast<std::uint64_t>(t) - static_cast<std::uint64_t>(now_s)
                                         : static_cast<std::uint64_t>(now_s) - static_cast<std::uint64_t>(t);
    const std::uint64_t allowed = tolerance.count() > 0 ? static_cast<std::uint64_t>(tolerance.count()) : 0;
    return age > allowed ? Verdict::stale : Verdict::ok;
}

std::string_view to_string(Verdict verdict) noexcept {
    switch (verdict) {
    case Verdict::ok: return "ok";
    case Verdict::missing: return "missing signature";
    case Verdict::malformed: return "malformed signature";
    case Verdict::bad_signature: return "bad signature";
    case Verdict::stale: return "stale timestamp";
    }
    return "unknown verdict";
}

std::string sign_header(std::string_view secret, std::string_view raw_body, std::int64_t timestamp) {
    return "t=" + std::to_string(timestamp) + ",v1=" + expected_digest(secret, timestamp, raw_body);
}

// ------------------------------------------------------------------------------ VideoStore

VideoStore::VideoStore(std::size_t max_records, std::size_t max_ids)
    : max_records_(max_records > 0 ? max_records : 1), max_ids_(max_ids) {}

VideoStore::Applied VideoStore::apply(const json& webhook) {
    Applied result;
    const auto* type = find_string(webhook, "type");
    const auto* webhook_id = find_string(webhook, "id");
    const auto data = webhook.is_object() ? webhook.find("data") : webhook.end();
    const auto* video_id = data != webhook.end() ? find_string(*data, "id") : nullptr;
    if (!type || !webhook_id || !video_id || !type->starts_with(asset_prefix)) {
        result.ignored = true;
        return result;
    }

    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    // Mux retries until it gets a 2xx, so the same webhook can arrive more than once.
    if (seen_ids_.count(*webhook_id)) {
        result.duplicate = true;
        return result;
    }
    remember(*webhook_id);

    const auto existing = records_.find(*video_id);
    json record;
    if (existing != records_.end()) {
        record = existing->second.json;
    } else {
        const auto created_at = data->find("created_at");
        const auto created = created_at != data->end() ? parse_created_at(*created_at) : std::nullopt;
        record = new_record(*video_id, created.value_or(now));
    }
    merge_asset(record, *type, *data);
    record["updatedAt"] = iso8601(now);

    if (*type == "video.asset.deleted") {
        if (existing != records_.end()) remove(*video_id);
    } else {
        store(*video_id, record);
    }

    json event_data = record;
    event_data["webhookType"] = *type;
    if (*type == "video.asset.created") {
        result.events.push_back({"video:created", std::move(event_data)});
    } else {
        result.events.push_back({*type == "video.asset.ready" ? "video:status:ready" : "video:status:updated", event_data});
        result.events.push_back({"video:updated", std::move(event_data)});
    }
    return result;
}

json VideoStore::upsert(const std::string& id, const json& fields) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    const auto existing = records_.find(id);
    json record = existing != records_.end() ? existing->second.json : new_record(id, now);
    if (fields.is_object()) {
        for (const auto& [key, value] : fields.items()) {
            if (key == "videoId" || key == "createdAt" || key == "updatedAt") continue;
            record[key] = value;
        }
    }
    record["updatedAt"] = iso8601(now);
    store(id, record);
    return record;
}

std::optional<json> VideoStore::get(const std::string& id) const {
    std::lock_guard lock(mutex_);
    const auto it = records_.find(id);
    if (it == records_.end()) return std::nullopt;
    return it->second.json;
}

json VideoStore::list() const {
    std::lock_guard lock(mutex_);
    json out = json::array();
    for (auto it = by_age_.rbegin(); it != by_age_.rend(); ++it) out.push_back(records_.at(it->second).json);
    return out;
}

std::size_t VideoStore::size() const {
    std::lock_guard lock(mutex_);
    return records_.size();
}

// The helpers below run with mutex_ held.

void VideoStore::persist_to(Persist persist) {
    std::lock_guard lock(mutex_);
    persist_ = std::move(persist);
}

void VideoStore::load(const std::string& id, json record) {
    std::lock_guard lock(mutex_);
    auto persist = std::exchange(persist_, nullptr);
    store(id, std::move(record));
    persist_ = std::move(persist);
}

void VideoStore::replace_all(std::vector<std::pair<std::string, json>> records) {
    std::lock_guard lock(mutex_);
    auto persist = std::exchange(persist_, nullptr);
    records_.clear();
    by_age_.clear();
    for (auto& [id, record] : records) store(id, std::move(record));
    persist_ = std::move(persist);
}

void VideoStore::store(const std::string& id, json record) {
    if (persist_) persist_(id, record);
    if (const auto it = records_.find(id); it != records_.end()) {
        it->second.json = std::move(record);
        return;
    }
    while (records_.size() >= max_records_) {
        const std::string oldest = by_age_.begin()->second;
        remove(oldest);
    }
    const auto seq = next_seq_++;
    records_.emplace(id, Record{seq, std::move(record)});
    by_age_.emplace(seq, id);
}

void VideoStore::remove(const std::string& id) {
    const auto it = records_.find(id);
    if (it == records_.end()) return;
    if (persist_) persist_(id, std::nullopt);
    by_age_.erase(it->second.seq);
    records_.erase(it);
}

void VideoStore::restore(const std::string& id, const std::optional<json>& previous) {
    std::lock_guard lock(mutex_);
    if (previous) store(id, *previous);
    else remove(id);
}

void VideoStore::forget(const std::string& webhook_id) {
    std::lock_guard lock(mutex_);
    if (seen_ids_.erase(webhook_id) == 0) return;
    seen_order_.erase(std::find(seen_order_.begin(), seen_order_.end(), webhook_id));
}

void VideoStore::remember(const std::string& webhook_id) {
    seen_ids_.insert(webhook_id);
    seen_order_.push_back(webhook_id);
    while (seen_order_.size() > max_ids_) {
        seen_ids_.erase(seen_order_.front());
        seen_order_.pop_front();
    }
}

}  // namespace ssebus::server::mux
