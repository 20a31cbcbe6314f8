#pragma once
// The key space is split into a fixed number of shards; an entity lives in the shard its key hashes to. The
// count is fixed when a node's data dir (later: a cluster) is formed and recorded there, since changing it
// would move every entity.
#include <cstdint>
#include <string>
#include <string_view>

namespace bento::domain {

using shard_id = uint16_t;

inline constexpr shard_id default_shard_count = 64;
inline constexpr shard_id max_shard_count = 4096;

/// The shard of an entity key ("user/<name>", "restaurant/<id>", "order/<id>"): FNV-1a 64 of the key, mod
/// the count. Stable across versions and machines: it decides where data lives.
shard_id shard_of(std::string_view entity_key, shard_id shard_count) noexcept;

/// `id` with three lowercase hex digits appended, chosen so that `entity_prefix` + the result falls in `shard`
/// (the first of the 4,096 endings that does); empty if none does (likely only with thousands of shards).
std::string id_in_shard(std::string_view id, std::string_view entity_prefix, shard_id shard,
                        shard_id shard_count);

/// Two bytes, big-endian: what a shard's keys start with in the shared columns, so a shard is one key range.
std::string shard_prefix(shard_id shard);

} // namespace bento::domain
