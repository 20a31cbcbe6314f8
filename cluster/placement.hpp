#pragma once
// Where each shard's replicas live: rendezvous (highest random weight) hashing of (shard, member) over the
// members, the top `replicas` of them. Every node computes the same answer from the same member list, and
// adding or removing one member moves only the shards whose top set it enters or leaves. The answer is
// recorded when a cluster forms (and later kept by the controller), so a failure changes leaders, not data
// placement.
#include <cstdint>
#include <string>
#include <vector>

#include "protocol/domain/shards.hpp"

namespace bento::cluster {

/// The members a shard is placed on, best first (the first is the preferred leader).
std::vector<std::string> place_shard(domain::shard_id shard, const std::vector<std::string>& members,
                                     size_t replicas);

/// Placement of every shard.
std::vector<std::vector<std::string>> place_all(domain::shard_id shards, const std::vector<std::string>& members,
                                                size_t replicas);

} // namespace bento::cluster
