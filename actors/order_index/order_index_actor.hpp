#pragma once
// Order listings ("my orders", "my restaurants' orders") from the index the order actors keep in the same
// write as the order itself. The actor only queues: listings run on a few detached worker threads (RocksDB
// reads never occupy a scheduler thread that serves orders), taken from a fair queue per caller; a full queue
// answers `overloaded` at once.
#include <functional>

#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"
#include "actors/order_index/listing_queue.hpp"
#include "actors/order_index/order_listing.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::store {
class entity_store;
}

namespace bento::actors {

using order_index_actor = caf::typed_actor<caf::replies_to<domain::list_orders>::with<domain::order_list>>;

struct order_index_options {
  size_t workers = 2;
  listing_queue_policy queue; // max_running_per_caller 0: workers - 1 (at least 1)
  /// What a worker runs for one listing; empty: query_orders on the store. Tests substitute slow ones.
  std::function<domain::outcome<domain::order_list>(const domain::list_orders&)> query;
};

order_index_actor spawn_order_index_actor(caf::actor_system& sys, store::entity_store* store,
                                          order_index_options options = {});

} // namespace bento::actors
