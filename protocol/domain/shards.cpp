#include "protocol/domain/shards.hpp"

namespace bento::domain {

shard_id shard_of(std::string_view entity_key, shard_id shard_count) noexcept {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : entity_key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<shard_id>(h % (shard_count == 0 ? 1 : shard_count));
}

std::string shard_prefix(shard_id shard) {
  std::string out(2, '\0');
  out[0] = static_cast<char>(shard >> 8);
  out[1] = static_cast<char>(shard & 0xff);
  return out;
}

} // namespace bento::domain
