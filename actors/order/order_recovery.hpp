#pragma once
// Start-up sweep for orders whose stock change was cut off by a crash. Such an order holds an intent in the
// store and may hold stock at its restaurant; it undoes or completes the change when activated, but an order
// whose customer never got a reply (no Idempotency-Key to retry with) might never be activated again. The node
// wakes each of these through the router (wake_atom) at start.
#include <string>
#include <vector>

#include "protocol/domain/outcome.hpp"

namespace bento::store {
class entity_store;
class shard_store;
}

namespace bento::actors {

/// Ids of the orders with an interrupted stock change.
domain::outcome<std::vector<std::string>> interrupted_orders(const store::entity_store& store);
/// The same in one shard (a shard this node starts serving, or serves again after its write epoch ended).
domain::outcome<std::vector<std::string>> interrupted_orders(const store::shard_store& shard);

} // namespace bento::actors
