#pragma once
// Consensus messages on the wire between nodes: many groups' messages for one peer in one frame. Decoding is of
// untrusted bytes: anything malformed is refused (the core then validates meaning).
#include <string>
#include <string_view>
#include <vector>

#include "actors/store/entity_store.hpp"
#include "cluster/consensus/message.hpp"
#include "cluster/shard/log_keys.hpp"

namespace bento::cluster::shard {

struct group_message {
  group_id group = 0;
  consensus::message message;
  /// Read off the wire only: each normal entry's batch as decoded when the frame was checked (beside
  /// message.entries; empty for the others), so that the replica applies it without decoding it again.
  std::vector<store::write_batch> batches;
};

std::string encode_raft_batch(const std::vector<group_message>& messages);
/// False on bytes that do not parse or hold impossible values (unknown message types, more than `max_messages`,
/// a normal entry that is not a write batch decode_batch takes).
bool decode_raft_batch(std::string_view bytes, std::vector<group_message>& out, size_t max_messages = 100000);

} // namespace bento::cluster::shard
