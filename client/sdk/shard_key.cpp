#include "client/sdk/shard_key.hpp"

namespace bento::client::detail {

uint32_t shard_of(std::string_view entity_key, uint32_t shard_count) noexcept {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : entity_key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<uint32_t>(h % (shard_count == 0 ? 1 : shard_count));
}

} // namespace bento::client::detail
