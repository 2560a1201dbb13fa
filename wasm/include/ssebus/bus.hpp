// The pattern index of the event bus.
//
// The index never sees listeners, payloads or exact-name subscriptions: those stay with
// the caller (the JS bus), which already holds them in order. It keeps the subscriptions
// of wildcard patterns and answers "which pattern subscriptions match this name, in
// order". Order is subscription order, because subscription ids only increase; a caller
// that merges these ids with its own exact-name ids by value gets registration order.
//
// Keys (event names and patterns) are interned to small integers so that callers across
// a slow boundary (the WebAssembly one) pass integers, not strings. A key lives while it
// is interned or has subscriptions; nothing is kept for a name nobody holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ssebus/pattern.hpp"

namespace ssebus {

using KeyId = std::uint32_t;
using SubscriptionId = std::uint32_t;

struct InternedKey {
    KeyId id;
    bool pattern;
};

// One batched change for Bus::apply, encoded as [Op, SubscriptionId, KeyId].
enum class Op : std::uint32_t { subscribe = 1, unsubscribe = 2 };

class Bus {
public:
    // Interns `key` (an event name or a pattern) and takes a reference to it.
    // Fails for an empty key or a malformed pattern; `error` then says why.
    std::optional<InternedKey> intern(std::string_view key, std::string* error = nullptr);
    // Drops one reference taken by intern(). The key goes once it also has no subscription.
    void release(KeyId key);

    // Adds a subscription under an interned pattern. Ids must strictly increase over the
    // life of the bus (they give the order); a smaller or repeated id, or a key that is
    // not an interned pattern, is refused.
    bool subscribe(SubscriptionId id, KeyId pattern);
    // Removes subscription `id` of `pattern`; false when that pattern has no such id.
    bool unsubscribe(SubscriptionId id, KeyId pattern);
    // Applies ops encoded as [Op, SubscriptionId, KeyId] triples, in order. Returns how
    // many took effect.
    std::size_t apply(std::span<const std::uint32_t> words);

    // The pattern subscriptions an emit of the interned name reaches, in order. Empty for
    // a pattern key or an unknown one. The reference stays valid until the next call.
    const std::vector<SubscriptionId>& route(KeyId name);

    // Conveniences for native callers that hold strings. subscribe() returns 0 for a key
    // that is not a well-formed pattern; route() of a name nobody interned is computed and
    // not kept.
    SubscriptionId subscribe(std::string_view pattern);
    std::vector<SubscriptionId> route(std::string_view name) const;

    void clear();

    std::size_t subscription_count() const noexcept;
    std::size_t key_count() const noexcept { return keys_.size() - free_keys_.size(); }

private:
    struct Key {
        std::string name;
        std::optional<Pattern> pattern;
        std::uint32_t refs = 0;
        std::vector<SubscriptionId> subs;  // of a pattern, in order
        bool live = false;
    };

    void compute_route(const Segments& name, std::vector<SubscriptionId>& out,
                       std::vector<SubscriptionId>& scratch) const;
    void maybe_drop(KeyId key);
    Key* pattern_key(KeyId key);

    // The name -> key index: open addressing with linear probing over key ids + 1 (0 is an
    // empty slot), at most half full. Smaller in WebAssembly than std::unordered_map, and
    // the key table it indexes stays bounded by its callers.
    std::size_t find_slot(std::string_view name) const;
    void index(KeyId key);
    void unindex(KeyId key);

    std::vector<Key> keys_;
    std::vector<KeyId> free_keys_;
    std::vector<KeyId> slots_;
    std::vector<KeyId> pattern_keys_;  // pattern keys with at least one subscription
    SubscriptionId last_id_ = 0;
    std::vector<SubscriptionId> answer_;
    std::vector<SubscriptionId> scratch_;
};

}  // namespace ssebus
