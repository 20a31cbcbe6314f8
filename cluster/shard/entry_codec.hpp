#pragma once
// Bytes of what a replication group stores and sends: an entity's write batch as a log entry's data, and the
// raft bookkeeping records. Protobuf stays in the .cpp. decode_* return false on bytes that do not parse or
// that name something impossible (unknown columns, a range that ends before it starts): a peer's entry is
// untrusted input, and nothing in it may stop a replica. What a batch writes is the leader's: record values and
// an order event's payload are checked for their framing only, and their readers refuse what does not decode.
#include <string>
#include <string_view>

#include "actors/store/entity_store.hpp"
#include "cluster/consensus/types.hpp"

namespace bento::cluster::shard {

/// An entity's batch as the shard wrote it (keys without the shard prefix, events not yet numbered).
std::string encode_batch(const store::write_batch& batch);
bool decode_batch(std::string_view bytes, store::write_batch& out);

std::string encode_entry(const consensus::entry& e);
bool decode_entry(std::string_view bytes, consensus::index_t index, consensus::entry& out);

std::string encode_hard_state(const consensus::hard_state& hs);
bool decode_hard_state(std::string_view bytes, consensus::hard_state& out);

std::string encode_snapshot_meta(const consensus::snapshot_meta& m);
bool decode_snapshot_meta(std::string_view bytes, consensus::snapshot_meta& out);

std::string encode_index(consensus::index_t i);
bool decode_index(std::string_view bytes, consensus::index_t& out);

} // namespace bento::cluster::shard
