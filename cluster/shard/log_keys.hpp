#pragma once
// Keys of the raft column: each replication group (a shard, or the controller) keeps its log, hard state,
// snapshot meta and applied index behind its 2-byte group id, so a group is one key range.
#include <cstdint>
#include <string>
#include <string_view>

#include "cluster/consensus/types.hpp"

namespace bento::cluster::shard {

using group_id = uint16_t;

inline std::string group_prefix(group_id g) {
  std::string out(2, '\0');
  out[0] = static_cast<char>(g >> 8);
  out[1] = static_cast<char>(g & 0xff);
  return out;
}

inline std::string entry_key(group_id g, consensus::index_t index) {
  auto key = group_prefix(g) + "e";
  key.resize(11);
  for (int i = 10; i >= 3; --i, index >>= 8)
    key[static_cast<size_t>(i)] = static_cast<char>(index & 0xff);
  return key;
}

inline consensus::index_t index_of_entry_key(const std::string& key) {
  consensus::index_t index = 0;
  for (size_t i = 3; i < key.size() && i < 11; ++i)
    index = (index << 8) | static_cast<unsigned char>(key[i]);
  return index;
}

inline std::string hard_state_key(group_id g) { return group_prefix(g) + "h"; }
inline std::string snapshot_key(group_id g) { return group_prefix(g) + "s"; }
inline std::string applied_key(group_id g) { return group_prefix(g) + "a"; }
// A snapshot being received in chunks: its records, by column byte and key, until the last chunk installs them.
inline std::string staged_prefix(group_id g) { return group_prefix(g) + "z"; }
inline std::string staged_key(group_id g, uint8_t column, std::string_view key) {
  auto out = staged_prefix(g);
  out.push_back(static_cast<char>(column));
  out.append(key);
  return out;
}

} // namespace bento::cluster::shard
