#include "ssebus/bus.hpp"

#include <algorithm>

namespace ssebus {

std::optional<InternedKey> Bus::intern(std::string_view key, std::string* error) {
    if (auto it = by_name_.find(key); it != by_name_.end()) {
        Key& k = keys_[it->second];
        ++k.refs;
        return InternedKey{it->second, k.pattern.has_value()};
    }
    if (key.empty()) {
        if (error) *error = "an event name cannot be empty";
        return std::nullopt;
    }
    std::optional<Pattern> pattern;
    if (has_wildcard(key)) {
        pattern = Pattern::parse(key, error);
        if (!pattern) return std::nullopt;
    }

    KeyId id;
    if (!free_keys_.empty()) {
        id = free_keys_.back();
        free_keys_.pop_back();
    } else {
        id = static_cast<KeyId>(keys_.size());
        keys_.emplace_back();
    }
    Key& k = keys_[id];
    k.name = std::string(key);
    k.pattern = std::move(pattern);
    k.refs = 1;
    k.live = true;
    by_name_.emplace(k.name, id);
    return InternedKey{id, k.pattern.has_value()};
}

void Bus::release(KeyId key) {
    if (key >= keys_.size() || !keys_[key].live || keys_[key].refs == 0) return;
    --keys_[key].refs;
    maybe_drop(key);
}

void Bus::maybe_drop(KeyId key) {
    Key& k = keys_[key];
    if (k.refs > 0 || !k.subs.empty()) return;
    by_name_.erase(k.name);
    // Give the memory back, so that a million distinct names leave nothing behind.
    k = Key{};
    free_keys_.push_back(key);
}

Bus::Key* Bus::pattern_key(KeyId key) {
    if (key >= keys_.size() || !keys_[key].live || !keys_[key].pattern) return nullptr;
    return &keys_[key];
}

bool Bus::subscribe(SubscriptionId id, KeyId pattern) {
    Key* k = pattern_key(pattern);
    if (k == nullptr || id <= last_id_) return false;
    last_id_ = id;
    if (k->subs.empty()) pattern_keys_.push_back(pattern);
    k->subs.push_back(id);
    return true;
}

bool Bus::unsubscribe(SubscriptionId id, KeyId pattern) {
    Key* k = pattern_key(pattern);
    if (k == nullptr) return false;
    const auto it = std::find(k->subs.begin(), k->subs.end(), id);
    if (it == k->subs.end()) return false;
    k->subs.erase(it);
    if (k->subs.empty()) {
        pattern_keys_.erase(std::find(pattern_keys_.begin(), pattern_keys_.end(), pattern));
        maybe_drop(pattern);
    }
    return true;
}

std::size_t Bus::apply(std::span<const std::uint32_t> words) {
    std::size_t applied = 0;
    for (std::size_t i = 0; i + 3 <= words.size(); i += 3) {
        const auto op = static_cast<Op>(words[i]);
        const SubscriptionId id = words[i + 1];
        const KeyId key = words[i + 2];
        const bool ok = op == Op::subscribe     ? subscribe(id, key)
                        : op == Op::unsubscribe ? unsubscribe(id, key)
                                                : false;
        applied += ok ? 1 : 0;
    }
    return applied;
}

void Bus::compute_route(const Segments& name, std::vector<SubscriptionId>& out) const {
    out.clear();
    std::size_t matched = 0;
    for (KeyId pk : pattern_keys_) {
        const Key& p = keys_[pk];
        if (!p.pattern->matches(name)) continue;
        out.insert(out.end(), p.subs.begin(), p.subs.end());
        ++matched;
    }
    // Each pattern's ids are in order already; several patterns interleave.
    if (matched > 1) std::sort(out.begin(), out.end());
}

const std::vector<SubscriptionId>& Bus::route(KeyId name) {
    if (name >= keys_.size() || !keys_[name].live || keys_[name].pattern) {
        answer_.clear();
        return answer_;
    }
    compute_route(split_segments(keys_[name].name), answer_);
    return answer_;
}

SubscriptionId Bus::subscribe(std::string_view pattern) {
    const auto interned = intern(pattern);
    if (!interned) return 0;
    const SubscriptionId id = last_id_ + 1;
    const bool ok = subscribe(id, interned->id);
    release(interned->id);  // the subscription keeps the key alive now
    return ok ? id : 0;
}

std::vector<SubscriptionId> Bus::route(std::string_view name) const {
    std::vector<SubscriptionId> out;
    if (!name.empty() && !has_wildcard(name)) compute_route(split_segments(name), out);
    return out;
}

std::size_t Bus::subscription_count() const noexcept {
    std::size_t n = 0;
    for (KeyId pk : pattern_keys_) n += keys_[pk].subs.size();
    return n;
}

void Bus::clear() {
    keys_.clear();
    free_keys_.clear();
    by_name_.clear();
    pattern_keys_.clear();
    answer_ = {};
    // last_id_ stays: ids keep increasing across clear() so that order stays meaningful.
}

}  // namespace ssebus
