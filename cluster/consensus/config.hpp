#pragma once
// Tunables of one group member. Times are in ticks: the driver calls node::tick() at a fixed rate, the same on
// every node (the leader lease assumes equal tick rates up to the drift covered by lease_margin_ticks).
#include "cluster/consensus/types.hpp"

#include <cstddef>
#include <cstdint>

namespace bento::cluster::consensus {

struct node_config {
  node_id id = no_node;
  // Followers wait a random number of ticks in [election_ticks, 2*election_ticks) before campaigning; voters
  // refuse to vote while they heard from a leader within election_ticks (leader stickiness).
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  // The lease ends this many ticks before followers may vote again: at least 2 ticks of phase between two
  // nodes' tick boundaries, plus the drift between tick rates over election_ticks.
  int lease_margin_ticks = 2;
  bool pre_vote = true;
  bool check_quorum = true;
  std::size_t max_entries_per_append = 64;
  std::size_t max_bytes_per_append = 1 << 20;
  std::size_t max_inflight_appends = 16;
  std::size_t max_uncommitted_entries = 1024;
  std::size_t max_committed_bytes_per_ready = 4 << 20;
  // Seeds the election-timeout randomness: no global RNG, so a simulation replays exactly.
  std::uint64_t seed = 1;
};

}  // namespace bento::cluster::consensus
