#pragma once
// Where an entity lives (docs/protocol.md, "Topology and leader-aware routing"). Must give exactly the
// node's answer (protocol/domain/shards.cpp), which the unit tests pin with known values; the SDK does not
// link server code, so the few lines are repeated here.
#include <cstdint>
#include <string>
#include <string_view>

namespace bento::client::detail {

/// FNV-1a 64 of the key's bytes, modulo the shard count (0 counts as 1).
uint32_t shard_of(std::string_view entity_key, uint32_t shard_count) noexcept;

inline std::string user_key(std::string_view username) { return "user/" + std::string(username); }
inline std::string restaurant_key(std::string_view id) { return "restaurant/" + std::string(id); }
inline std::string order_key(std::string_view id) { return "order/" + std::string(id); }

} // namespace bento::client::detail
