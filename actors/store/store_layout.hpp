#pragma once
// The data dir's layout, checked (and upgraded) once at start, before anything reads or writes entities.
// This version keeps every entity's records behind its shard's prefix and numbers events per shard; the
// shard count is recorded at formation and a node configured with another is refused, since the count decides
// where each entity lives. A data dir written before shards is rewritten in place, resumably.
#include "protocol/domain/outcome.hpp"

namespace bento::store {
class entity_store;
}

namespace bento::actors {

domain::outcome<domain::unit_t> ensure_store_layout(store::entity_store& db);

/// Meta column: the members a node's cluster formed with, comma-separated (node/cluster_runtime writes it). A
/// single node's data dir has none; a cluster member's shards are replicated, so nothing may write them alone.
inline constexpr const char* cluster_members_meta_key = "cluster.members";

} // namespace bento::actors
