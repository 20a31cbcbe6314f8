#include "protocol/domain/ids.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>

#include <sodium.h>

namespace bento::domain {

std::string to_hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0xf]);
  }
  return out;
}

bool from_hex(const std::string& hex, std::string& out) {
  if (hex.size() % 2 != 0)
    return false;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out.clear();
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = value(hex[i]), lo = value(hex[i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

namespace {

/// Random bytes for ids from a per-thread pool filled by the kernel's CSPRNG 512 bytes at a time: libsodium
/// here asks the kernel on every call (getrandom), one system call per order placed, ~7 % of the HTTP thread.
/// The bytes are the same kernel randomness, fetched in bulk; the pool holds the next ids' bytes in memory
/// (as the process holds every id it made). A fork without exec would hand parent and child the same pool:
/// Bento never forks so (its tests exec at once).
std::string pooled_random_bytes(size_t n) {
  thread_local unsigned char pool[512];
  thread_local size_t used = sizeof pool;
  std::string out(n, '\0');
  size_t filled = 0;
  while (filled < n) {
    if (used == sizeof pool) {
      randombytes_buf(pool, sizeof pool);
      used = 0;
    }
    auto take = std::min(n - filled, sizeof pool - used);
    std::memcpy(out.data() + filled, pool + used, take);
    sodium_memzero(pool + used, take); // a byte handed out is never handed out again
    used += take;
    filled += take;
  }
  return out;
}

} // namespace

std::string random_id(const char* prefix) {
  return std::string(prefix) + to_hex(pooled_random_bytes(10));
}

std::string time_ordered_id(const char* prefix) {
  static const char digits[] = "0123456789abcdef";
  auto ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
  std::string id(prefix);
  for (int shift = 40; shift >= 0; shift -= 4) // 11 hex digits: milliseconds until the year 2527
    id.push_back(digits[(ms >> shift) & 0xf]);
  return id + to_hex(pooled_random_bytes(8));
}

std::string random_id_in_shard(const char* prefix, std::string_view entity_prefix, shard_id shard,
                               shard_id shard_count, bool ordered) {
  // One in 4,096 endings falls in a given shard of 4,096: a draw finds none ~37 % of the time there (never in
  // practice with the default 64); 64 draws all miss with odds of 10^-28 (the last is then kept as it is).
  std::string id;
  for (int draw = 0; draw < 64; ++draw) {
    id = ordered ? time_ordered_id(prefix) : random_id(prefix);
    if (auto placed = id_in_shard(id, entity_prefix, shard, shard_count); !placed.empty())
      return placed;
  }
  return id;
}

std::string order_id_for_key(const std::string& customer_id, const std::string& idempotency_key) {
  std::string input = customer_id;
  input.push_back('\0');
  input += idempotency_key;
  unsigned char hash[16];
  crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                     nullptr, 0);
  return "o_" + to_hex(std::string(reinterpret_cast<char*>(hash), sizeof hash));
}

} // namespace bento::domain
