// The subscription registry of the event bus.
//
// The registry never sees listeners or payloads: it keeps subscription ids under keys
// (an exact event name, or a pattern) and answers "which subscriptions, in which order"
// for a name. Order is subscription order, exact names and patterns interleaved, because
// subscription ids only increase. The answer is cached per interned name and invalidated
// only for the names a change can affect.
//
// Keys are interned to small integers so that callers across a slow boundary (the
// WebAssembly one) pass integers, not strings. A key lives while it is interned or
// has subscriptions; nothing is kept for a name nobody holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ssebus/pattern.hpp"

namespace ssebus {

using KeyId = std::uint32_t;
using SubscriptionId = std::uint32_t;

struct InternedKey {
    KeyId id;
    bool pattern;
};

// One batched change for Bus::apply: the words of each op, in order.
enum class Op : std::uint32_t { subscribe = 1, subscribe_once = 2, unsubscribe = 3 };

class Bus {
public:
    // Interns `key` (an event name or a pattern) and takes a reference to it.
    // Fails for an empty key or a malformed pattern; `error` then says why.
    std::optional<InternedKey> intern(std::string_view key, std::string* error = nullptr);
    // Drops one reference taken by intern(). The key goes once it also has no subscription.
    void release(KeyId key);

    // Adds a subscription under an interned key. Ids must strictly increase over the
    // life of the bus (they give the order); a smaller or repeated id is refused.
    bool subscribe(SubscriptionId id, KeyId key, bool once = false);
    bool unsubscribe(SubscriptionId id);
    // Applies ops encoded as [Op, SubscriptionId, KeyId] triples (the KeyId of an
    // unsubscribe is ignored). Returns how many ops took effect.
    std::size_t apply(std::span<const std::uint32_t> words);

    // The subscriptions an emit of the interned name reaches, in order. Empty for a
    // pattern key. The reference stays valid until the next change to the bus.
    const std::vector<SubscriptionId>& route(KeyId name);

    // Conveniences for native callers that hold strings. subscribe() returns 0 for a
    // malformed key; route() of a name nobody interned is computed and not kept.
    SubscriptionId subscribe(std::string_view key, bool once = false);
    std::vector<SubscriptionId> route(std::string_view name);

    bool is_once(SubscriptionId id) const;
    void clear();

    std::size_t subscription_count() const noexcept { return subs_.size(); }
    std::size_t key_count() const noexcept { return by_name_.size(); }

private:
    struct Key {
        std::string name;
        std::optional<Pattern> pattern;
        std::uint32_t refs = 0;
        std::vector<SubscriptionId> subs;
        std::vector<SubscriptionId> route;
        bool route_valid = false;
        bool live = false;
    };
    struct Subscription {
        KeyId key;
        bool once;
    };

    void compute_route(const Segments& name, const std::vector<SubscriptionId>* exact,
                       std::vector<SubscriptionId>& out) const;
    void invalidate_for(KeyId changed);
    void maybe_drop(KeyId key);

    std::vector<Key> keys_;
    std::vector<KeyId> free_keys_;
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::unordered_map<std::string, KeyId, NameHash, std::equal_to<>> by_name_;
    std::vector<KeyId> pattern_keys_;  // pattern keys with at least one subscription
    std::unordered_map<SubscriptionId, Subscription> subs_;
    SubscriptionId last_id_ = 0;
    std::vector<SubscriptionId> empty_;
};

}  // namespace ssebus
