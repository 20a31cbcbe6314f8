#pragma once
// What the shard replica's unit tests and the peer fuzz target both build: a replica's options for a member id,
// and a small write batch (an order record and its event).
#include <string>

#include "actors/store/entity_store.hpp"
#include "cluster/shard/shard_replica.hpp"
#include "protocol/domain/types.hpp"

namespace bento::test {

inline cluster::shard::replica_options replica_options_for(cluster::consensus::node_id id,
                                                           cluster::consensus::index_t keep = 10'000) {
  cluster::shard::replica_options o;
  o.raft.id = id;
  o.raft.seed = id;
  o.keep_entries = keep;
  return o;
}

inline store::write_batch order_batch(uint64_t i) {
  store::write_batch b;
  b.put(store::column::entities, "o/o" + std::to_string(i), "order " + std::to_string(i));
  b.append_event(domain::event{0, "order.placed", "order/o" + std::to_string(i), 1, {}, {}});
  return b;
}

} // namespace bento::test
