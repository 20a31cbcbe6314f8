#pragma once
// A shard's state as a snapshot, for a replica behind the leader's compacted log: every record of the shard's key
// range in the shard columns (entities, indexes, outbox, events), keys as stored. It travels in chunks read from
// one consistent view of the leader's store; the receiver stages each chunk under its group's keys in the raft
// column (checked as it comes) and, once the last one is in, replaces its range with the staged records in the
// same RocksDB write that records the snapshot in its log. Until then its own state is untouched: a transfer cut
// off half-way leaves the replica as it was.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "actors/store/entity_store.hpp"
#include "cluster/shard/log_keys.hpp"

namespace bento::cluster::shard {

/// Where a snapshot streamed in chunks stands: the shard column being read and the last key sent from it.
struct snapshot_cursor {
  size_t column = 0;  // index into the shard columns
  std::string after;  // the last key sent from that column ("": from its start)
  bool done = false;  // every record was sent
};

/// The next chunk of the shard's records under `prefix` as of `view`: records until about `max_bytes` (at least
/// one), encoded; advances `cursor`. nullopt if the store cannot be read.
std::optional<std::string> encode_shard_chunk(const store::entity_store& db, const store::read_view& view,
                                              const std::string& prefix, snapshot_cursor& cursor, size_t max_bytes);

/// The whole shard in one piece (nullopt beyond `max_bytes`): tests build chunks from other stores with it.
std::optional<std::string> encode_shard_snapshot(const store::entity_store& db, const std::string& prefix,
                                                 size_t max_bytes);

/// Stages a received chunk under the group's staging keys: false (nothing staged) unless it parses, names only
/// shard columns, and every key lies in `prefix`'s range (an event key being the prefix and 8 bytes).
bool stage_snapshot_chunk(std::string_view bytes, const std::string& prefix, group_id group,
                          store::write_batch& batch);

/// Drops whatever is staged for the group.
void clear_staged_snapshot(group_id group, store::write_batch& batch);

/// Stages the replacement of the shard's range by the group's staged records, and the staging's removal.
domain::outcome<domain::unit_t> install_staged_snapshot(const store::entity_store& db, const std::string& prefix,
                                                        group_id group, store::write_batch& batch);

} // namespace bento::cluster::shard
