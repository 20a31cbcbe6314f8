#pragma once
// Entity identifiers. Random ids use the OS CSPRNG (libsodium) so that ids are unguessable; order ids for
// idempotent requests are derived, so that the same (customer, key) always addresses the same order actor.
#include <string>
#include <string_view>

#include "protocol/domain/shards.hpp"

namespace bento::domain {

/// prefix + 20 lowercase hex characters (80 random bits).
std::string random_id(const char* prefix);

/// A random id (random_id) with three hex digits appended so that `entity_prefix` + id falls in `shard` of
/// `shard_count` (id_in_shard): an entity created to work with another can live in its shard.
std::string random_id_in_shard(const char* prefix, std::string_view entity_prefix, shard_id shard,
                               shard_id shard_count, bool ordered = false);

/// prefix + 11 hex digits of the wall clock's milliseconds + 16 random hex digits (64 bits): ids made one after
/// another sort one after another, so their keys go to the end of a memtable and of a level.
std::string time_ordered_id(const char* prefix);

/// "o_" + 32 hex characters of BLAKE2b(customer_id, key): the order a keyed request addresses.
std::string order_id_for_key(const std::string& customer_id, const std::string& idempotency_key);

/// Lowercase hex of arbitrary bytes.
std::string to_hex(const std::string& bytes);
/// Inverse of to_hex; false on odd length or a non-hex character.
bool from_hex(const std::string& hex, std::string& out);

} // namespace bento::domain
