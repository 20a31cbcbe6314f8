#include "protocol/domain/shards.hpp"

namespace bento::domain {

namespace {

constexpr uint64_t fnv_offset = 14695981039346656037ull;

uint64_t fnv_step(uint64_t h, unsigned char c) noexcept {
  return (h ^ c) * 1099511628211ull;
}

uint64_t fnv(uint64_t h, std::string_view bytes) noexcept {
  for (unsigned char c : bytes)
    h = fnv_step(h, c);
  return h;
}

} // namespace

shard_id shard_of(std::string_view entity_key, shard_id shard_count) noexcept {
  return static_cast<shard_id>(fnv(fnv_offset, entity_key) % (shard_count == 0 ? 1 : shard_count));
}

std::string id_in_shard(std::string_view id, std::string_view entity_prefix, shard_id shard, shard_id shard_count) {
  static const char digits[] = "0123456789abcdef";
  auto count = shard_count == 0 ? 1 : shard_count;
  // The hash is incremental: the key's common part once, then three steps per ending tried.
  auto base = fnv(fnv(fnv_offset, entity_prefix), id);
  for (unsigned e = 0; e < 4096; ++e) {
    char tail[3] = {digits[e >> 8], digits[(e >> 4) & 15], digits[e & 15]};
    auto h = base;
    for (char c : tail)
      h = fnv_step(h, static_cast<unsigned char>(c));
    if (h % count == shard)
      return std::string(id) + std::string(tail, 3);
  }
  return {};
}

std::string shard_prefix(shard_id shard) {
  std::string out(2, '\0');
  out[0] = static_cast<char>(shard >> 8);
  out[1] = static_cast<char>(shard & 0xff);
  return out;
}

} // namespace bento::domain
