#include "ssebus/bus.hpp"

#include <algorithm>

namespace ssebus {

namespace {

// FNV-1a: a few instructions a byte, and enough for names that callers already dedupe.
std::size_t hash(std::string_view s) noexcept {
    std::uint32_t h = 2166136261u;
    for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
    return h;
}

}  // namespace

std::size_t Bus::find_slot(std::string_view name) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash(name) & mask;; i = (i + 1) & mask) {
        const KeyId at = slots_[i];
        if (at == 0 || keys_[at - 1].name == name) return i;
    }
}

void Bus::index(KeyId key) {
    if (2 * key_count() > slots_.size()) {
        // Grow (or start) at half full, and re-place every live key.
        slots_.assign(std::max<std::size_t>(16, 2 * slots_.size()), 0);
        for (KeyId k = 0; k < keys_.size(); ++k)
            if (keys_[k].live && k != key) slots_[find_slot(keys_[k].name)] = k + 1;
    }
    slots_[find_slot(keys_[key].name)] = key + 1;
}

void Bus::unindex(KeyId key) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t hole = find_slot(keys_[key].name);
    slots_[hole] = 0;
    // Backward-shift deletion: move up every later entry of the run that may no longer be
    // reachable across the hole.
    for (std::size_t i = (hole + 1) & mask; slots_[i] != 0; i = (i + 1) & mask) {
        const std::size_t home = hash(keys_[slots_[i] - 1].name) & mask;
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            slots_[hole] = slots_[i];
            slots_[i] = 0;
            hole = i;
        }
    }
}

std::optional<InternedKey> Bus::intern(std::string_view key, std::string* error) {
    if (!slots_.empty()) {
        if (const KeyId at = slots_[find_slot(key)]; at != 0) {
            Key& k = keys_[at - 1];
            ++k.refs;
            return InternedKey{at - 1, k.pattern.has_value()};
        }
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
    index(id);
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
    unindex(key);
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

void Bus::compute_route(const Segments& name, std::vector<SubscriptionId>& out,
                        std::vector<SubscriptionId>& scratch) const {
    out.clear();
    for (KeyId pk : pattern_keys_) {
        const Key& p = keys_[pk];
        if (!p.pattern->matches(name)) continue;
        // Each pattern's ids are in order already: merge them into the answer.
        if (out.empty() || out.back() < p.subs.front()) {
            out.insert(out.end(), p.subs.begin(), p.subs.end());
            continue;
        }
        scratch.clear();
        auto a = out.begin();
        auto b = p.subs.begin();
        while (a != out.end() && b != p.subs.end()) scratch.push_back(*a < *b ? *a++ : *b++);
        scratch.insert(scratch.end(), a, out.end());
        scratch.insert(scratch.end(), b, p.subs.end());
        out.swap(scratch);
    }
}

const std::vector<SubscriptionId>& Bus::route(KeyId name) {
    if (name >= keys_.size() || !keys_[name].live || keys_[name].pattern) {
        answer_.clear();
        return answer_;
    }
    compute_route(split_segments(keys_[name].name), answer_, scratch_);
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
    std::vector<SubscriptionId> scratch;
    if (!name.empty() && !has_wildcard(name)) compute_route(split_segments(name), out, scratch);
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
    slots_.clear();
    pattern_keys_.clear();
    answer_ = {};
    scratch_ = {};
    // last_id_ stays: ids keep increasing across clear() so that order stays meaningful.
}

}  // namespace ssebus
