#pragma once
// A shard's state as one snapshot, for a replica behind the leader's compacted log: every record of the shard's
// key range in the shard columns (entities, indexes, outbox, events), keys as stored. The receiver replaces its
// range with it in the same RocksDB write that records the snapshot in its log.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "actors/store/entity_store.hpp"

namespace bento::cluster::shard {

/// The shard's records under `prefix`, encoded; nullopt when they exceed `max_bytes` or cannot be read.
std::optional<std::string> encode_shard_snapshot(const store::entity_store& db, const std::string& prefix,
                                                 size_t max_bytes);

/// Checks a snapshot from a peer: it parses, names only shard columns, and every key lies in `prefix`'s range.
bool valid_shard_snapshot(std::string_view bytes, const std::string& prefix);

/// Stages the replacement of the shard's range by the snapshot (erase the range, put every record). False if the
/// snapshot is not valid (nothing staged then).
bool stage_shard_snapshot(std::string_view bytes, const std::string& prefix, store::write_batch& batch);

} // namespace bento::cluster::shard
