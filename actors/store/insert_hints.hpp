#pragma once

#include <memory>
#include <string_view>

#include "actors/store/entity_store.hpp"

namespace rocksdb {
class SliceTransform;
}

namespace bento::store {

// RocksDB keeps, per memtable, where the last key of each "hint prefix" went, and inserts the next key of that
// prefix from there instead of walking the skip list down from its top (memtable_insert_with_hint_prefix_extractor).
// An order's keys under one prefix mostly arrive in ascending order (time-ordered ids and listing suffixes), so
// most inserts find their place in a comparison or two: the walks were ~60 % of a memtable insert, the largest
// single cost of a replica's write. Profiled (one node, lunch rush): memtable inserts 10.5 % -> 7.8 % of the
// node's samples. Paired place-order runs: one node +4 % orders/s, 3 nodes +10 %; sustained runs (1M orders,
// 3-node windows of 40 s) could not tell it apart from this machine's noise. RocksDB uses hints only when it
// inserts one writer's batch alone (not in its concurrent memtable writes): each shard's writes come from its
// driver thread, so they do.
//
// RocksDB 7.8 files a range deletion's start key under the same hints as point keys, though the two live in
// different skip lists (fixed upstream in 9.2, facebook/rocksdb#12558): a range starting inside a hint prefix
// would leave a splice of one list to be followed in the other, corrupting the memtable. So no range deletion
// in a hinted column may start at a key in the hint domain (write_batch::refused_range; a peer's entry is
// refused at decode). Bento's own ranges start at a bare shard prefix (a snapshot's install) or at a key ending
// in '/' ("ended/"), which are outside it. Being refused at decode makes the rule part of the replication
// protocol: a future writer of such a range (on a fixed RocksDB) needs every member upgraded first, or older
// followers stop at the committed entry.

/// Columns whose memtables keep insert hints: their keys are text under a shard prefix.
constexpr bool hinted(column c) noexcept { return c == column::entities || c == column::indexes; }

/// The hint prefix of a key given without its shard prefix: up to its second '/' ("oc/<customer>/",
/// "r/<restaurant>/"), or its only one ("o/"); 0 when it has none, or the key ends there (outside the domain).
size_t hint_prefix_size(std::string_view unprefixed_key) noexcept;

/// Whether a range deletion in `cf` may start at `unprefixed_from` (the key without its shard prefix).
inline bool range_start_allowed(column cf, std::string_view unprefixed_from) noexcept {
  return !hinted(cf) || hint_prefix_size(unprefixed_from) == 0;
}

/// The transform for ColumnFamilyOptions::memtable_insert_with_hint_prefix_extractor: the shard prefix and the
/// hint prefix of the key after it.
std::shared_ptr<const rocksdb::SliceTransform> insert_hint_prefix();

} // namespace bento::store
