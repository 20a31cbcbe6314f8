#pragma once
// A tiny seeded generator (splitmix64): the core's only randomness, so schedules replay bit for bit.
#include <cstdint>

namespace bento::cluster::consensus {

class rng {
public:
  explicit rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform enough in [0, n) for n far below 2^64.
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }

private:
  std::uint64_t state_;
};

}  // namespace bento::cluster::consensus
