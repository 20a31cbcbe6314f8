#pragma once
// What the driver must do after node::ready(), in this order (see README.md):
//   1. persist atomically: snapshot (install the staged data), then truncate the log from entries.front().index
//      and append entries, then the hard state;
//   2. send messages (only now: they may promise what step 1 made durable);
//   3. apply committed_entries in order, serve read_states once applied >= their index;
//   4. call node::advance(ready).
#include "cluster/consensus/message.hpp"
#include "cluster/consensus/types.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace bento::cluster::consensus {

struct soft_state {
  node_id leader = no_node;
  consensus::role role = consensus::role::follower;
  friend bool operator==(const soft_state& a, const soft_state& b) {
    return a.leader == b.leader && a.role == b.role;
  }
  friend bool operator!=(const soft_state& a, const soft_state& b) { return !(a == b); }
};

// A linearizable read may be served once the state machine has applied `index` (ok == false: the read could not
// be confirmed, retry, possibly elsewhere).
struct read_state {
  std::uint64_t context = 0;
  index_t index = 0;
  bool ok = true;
};

struct ready {
  std::optional<consensus::hard_state> hard_state;
  std::optional<snapshot_meta> snapshot;
  std::vector<entry> entries;
  std::vector<entry> committed_entries;
  std::vector<message> messages;
  std::optional<consensus::soft_state> soft_state;
  std::vector<read_state> read_states;
};

}  // namespace bento::cluster::consensus
