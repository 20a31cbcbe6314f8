#pragma once
// The one message type peers exchange. Every field is untrusted on receipt (see message_validation.hpp).
#include "cluster/consensus/types.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace bento::cluster::consensus {

enum class message_type : std::uint8_t {
  prevote,
  prevote_resp,
  vote,
  vote_resp,
  append,
  append_resp,
  heartbeat,
  heartbeat_resp,
  install_snapshot,
  snapshot_resp,  // never for the core (a snapshot is answered with append_resp): drivers ack snapshot chunks with it
  timeout_now,
  read_index,
  read_index_resp,
};

inline constexpr int message_type_count = 13;

const char* to_string(message_type t);

struct message {
  message_type type = message_type::heartbeat;
  node_id from = no_node;
  node_id to = no_node;
  term_t term = 0;
  // append: term of the entry at `index` (the one before `entries`); (pre)vote: the candidate's last log term;
  // append_resp reject: term of the follower's entry at reject_hint.
  term_t log_term = 0;
  // append: index before `entries`; (pre)vote: candidate's last index; append_resp: the follower's match
  // (accepted) or the rejected `index` (reject); read_index_resp: the read index.
  index_t index = 0;
  std::vector<entry> entries;
  index_t commit = 0;
  bool reject = false;
  index_t reject_hint = 0;
  snapshot_meta snapshot;  // install_snapshot only
  // install_snapshot: the state machine's data at `snapshot.index`. The driver fills it when sending and installs
  // it when the core restores the snapshot; the core only carries it.
  std::string snapshot_data;
  // install_snapshot sent in chunks by the driver: this chunk's number, and whether more follow (the core sees
  // only the last one, once the driver holds all the data). snapshot_resp: the chunk acked is `context`.
  std::uint32_t snapshot_chunk = 0;
  bool snapshot_more = false;
  // Leader → follower messages carry the leader's heartbeat round, echoed in the response: the leader maps it back
  // to the tick it was sent at (lease) and to the reads waiting on that round (read index). read_index and
  // read_index_resp carry the requester's context instead.
  std::uint64_t context = 0;
  // vote/prevote sent because of timeout_now: voters ignore leader stickiness for it.
  bool transfer = false;
  // append: the lowest match among the leader's followers (0: not known). A follower keeps its log from there, for
  // whoever lags should it lead (log compaction, shard_replica); a wrong value costs a snapshot, never safety.
  index_t peers_match = 0;
};

// Heartbeats are what the transport coalesces per node pair across all groups: only these fields matter.
inline bool is_heartbeat(const message& m) {
  return m.type == message_type::heartbeat || m.type == message_type::heartbeat_resp;
}

}  // namespace bento::cluster::consensus
