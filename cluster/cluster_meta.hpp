#pragma once
// The cluster's member-state record: every member and its state. Joining members get a share of the voting
// seats once they hold the data; leaving (decommissioned) and replaced (down too long) members are left out of
// every shard's placement, so each shard's leader moves its seats to the others. One record in the shard of keys::cluster_members_entity, written by the node that leads that shard
// (this actor, one per node, refuses when it does not) and replicated like any entity state; every node holds a
// copy (voter or learner) and reloads it when the record's event is applied there.
#include <map>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/common/entity_context.hpp"

namespace bento::store {
class shard_store;
}

namespace bento::cluster {

struct cluster_meta_options {
  store::shard_store* store = nullptr;      // the shard of keys::cluster_members_entity
  std::function<bool()> serves;             // whether this node leads that shard now
  std::vector<std::string> members;         // every member of the cluster
  size_t replicas = 1;                      // voters per shard
};

/// Member states as recorded (node -> "up" | "joining" | "leaving" | "replaced"): every member once anything
/// changed since the cluster formed; empty before (then the formation's members are all up).
struct member_record {
  std::map<std::string, std::string> states;
  uint32_t replicas = 0; // voters per shard, as the cluster formed (0: no record yet)
};
member_record load_member_record(const store::shard_store& store);

actors::cluster_meta_actor spawn_cluster_meta(caf::actor_system& sys, cluster_meta_options options);

} // namespace bento::cluster
