#include "cluster/placement.hpp"

#include <algorithm>

namespace bento::cluster {

namespace {

uint64_t weight(domain::shard_id shard, const std::string& member) {
  // FNV-1a over "member/shard", then a 64-bit finalizer (splitmix) so that close inputs spread.
  uint64_t h = 14695981039346656037ull;
  auto mix = [&](unsigned char c) {
    h ^= c;
    h *= 1099511628211ull;
  };
  for (unsigned char c : member)
    mix(c);
  mix('/');
  mix(static_cast<unsigned char>(shard >> 8));
  mix(static_cast<unsigned char>(shard & 0xff));
  h += 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

} // namespace

std::vector<std::string> place_shard(domain::shard_id shard, const std::vector<std::string>& members,
                                     size_t replicas) {
  std::vector<std::pair<uint64_t, std::string>> ranked;
  ranked.reserve(members.size());
  for (auto& m : members)
    ranked.emplace_back(weight(shard, m), m);
  std::sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  ranked.erase(std::unique(ranked.begin(), ranked.end(), [](auto& a, auto& b) { return a.second == b.second; }),
               ranked.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < ranked.size() && i < replicas; ++i)
    out.push_back(ranked[i].second);
  return out;
}

std::vector<std::vector<std::string>> place_all(domain::shard_id shards, const std::vector<std::string>& members,
                                                size_t replicas) {
  std::vector<std::vector<std::string>> out;
  out.reserve(shards);
  for (domain::shard_id s = 0; s < shards; ++s)
    out.push_back(place_shard(s, members, replicas));
  return out;
}

} // namespace bento::cluster
