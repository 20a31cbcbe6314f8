#pragma once
// The order listings' index entries, written in the same WriteBatch as the order itself, so a listing can never
// show a state the order does not have. Every index an order appears in is maintained here and nowhere else.
#include "protocol/domain/outcome.hpp"
#include "protocol/domain/types.hpp"

namespace bento::store {
class shard_set;
class write_batch;
} // namespace bento::store

namespace bento::actors {

/// Adds to `batch` the index entries of `after` (a committed order: by customer and by merchant, each plain
/// and by status; empty values, the order itself is read from its record), and removes those of `before` that
/// `after` no longer has (its old status). `before` is the stored record the batch replaces, or null; an
/// uncommitted order (a placement intent) has no entries.
void add_index_writes(store::write_batch& batch, const domain::order* before, const domain::order& after);

/// Data dirs written before the status index existed get it once, from the plain index (start-up, before any
/// order actor runs). Idempotent; a crash part-way reruns it.
domain::outcome<domain::unit_t> ensure_status_index(const store::shard_set& shards);

} // namespace bento::actors
