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
    k.route_valid = false;
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

bool Bus::subscribe(SubscriptionId id, KeyId key, bool once) {
    if (id <= last_id_ || key >= keys_.size() || !keys_[key].live) return false;
    last_id_ = id;
    Key& k = keys_[key];
    if (k.pattern && k.subs.empty()) pattern_keys_.push_back(key);
    k.subs.push_back(id);
    subs_.emplace(id, Subscription{key, once});
    invalidate_for(key);
    return true;
}

bool Bus::unsubscribe(SubscriptionId id) {
    const auto it = subs_.find(id);
    if (it == subs_.end()) return false;
    const KeyId key = it->second.key;
    subs_.erase(it);

    Key& k = keys_[key];
    k.subs.erase(std::find(k.subs.begin(), k.subs.end(), id));
    invalidate_for(key);
    if (k.pattern && k.subs.empty())
        pattern_keys_.erase(std::find(pattern_keys_.begin(), pattern_keys_.end(), key));
    maybe_drop(key);
    return true;
}

std::size_t Bus::apply(std::span<const std::uint32_t> words) {
    std::size_t applied = 0;
    for (std::size_t i = 0; i + 3 <= words.size(); i += 3) {
        const auto op = static_cast<Op>(words[i]);
        const SubscriptionId id = words[i + 1];
        bool ok = false;
        switch (op) {
            case Op::subscribe: ok = subscribe(id, words[i + 2], false); break;
            case Op::subscribe_once: ok = subscribe(id, words[i + 2], true); break;
            case Op::unsubscribe: ok = unsubscribe(id); break;
        }
        applied += ok ? 1 : 0;
    }
    return applied;
}

void Bus::invalidate_for(KeyId changed) {
    const Key& c = keys_[changed];
    if (!c.pattern) {
        keys_[changed].route_valid = false;
        return;
    }
    // A pattern change reaches every interned name it matches, and only those.
    for (Key& k : keys_) {
        if (k.live && k.route_valid && !k.pattern && c.pattern->matches(k.name))
            k.route_valid = false;
    }
}

void Bus::compute_route(const Segments& name, const std::vector<SubscriptionId>* exact,
                        std::vector<SubscriptionId>& out) const {
    out.clear();
    if (exact) out.assign(exact->begin(), exact->end());
    bool merged = false;
    for (KeyId pk : pattern_keys_) {
        const Key& p = keys_[pk];
        if (!p.pattern->matches(name)) continue;
        out.insert(out.end(), p.subs.begin(), p.subs.end());
        merged = true;
    }
    if (merged) std::sort(out.begin(), out.end());
}

const std::vector<SubscriptionId>& Bus::route(KeyId name) {
    if (name >= keys_.size() || !keys_[name].live || keys_[name].pattern) return empty_;
    Key& k = keys_[name];
    if (!k.route_valid) {
        compute_route(split_segments(k.name), &k.subs, k.route);
        k.route_valid = true;
    }
    return k.route;
}

SubscriptionId Bus::subscribe(std::string_view key, bool once) {
    const auto interned = intern(key);
    if (!interned) return 0;
    const SubscriptionId id = last_id_ + 1;
    subscribe(id, interned->id, once);
    release(interned->id);  // the subscription keeps the key alive now
    return id;
}

std::vector<SubscriptionId> Bus::route(std::string_view name) {
    if (const auto it = by_name_.find(name); it != by_name_.end()) return route(it->second);
    std::vector<SubscriptionId> out;
    if (!name.empty() && !has_wildcard(name)) compute_route(split_segments(name), nullptr, out);
    return out;
}

bool Bus::is_once(SubscriptionId id) const {
    const auto it = subs_.find(id);
    return it != subs_.end() && it->second.once;
}

void Bus::clear() {
    keys_.clear();
    free_keys_.clear();
    by_name_.clear();
    pattern_keys_.clear();
    subs_.clear();
    // last_id_ stays: ids keep increasing across clear() so that order stays meaningful.
}

}  // namespace ssebus
