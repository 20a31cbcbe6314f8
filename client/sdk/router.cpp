#include "client/sdk/router.hpp"

#include <algorithm>

#include "client/sdk/shard_key.hpp"

namespace bento::client::detail {

namespace {

constexpr auto first_down_time = std::chrono::milliseconds(100);
constexpr auto max_down_time = std::chrono::seconds(5);
constexpr auto min_refresh_gap = std::chrono::milliseconds(200);
constexpr auto max_refresh_gap = std::chrono::seconds(30);

} // namespace

router::router(std::vector<std::string> seeds, bool leader_routing) : leader_routing_(leader_routing) {
  for (auto& s : seeds)
    learn(s);
}

void router::learn(const std::string& address) {
  if (!address.empty() && std::find(nodes_.begin(), nodes_.end(), address) == nodes_.end())
    nodes_.push_back(address);
}

bool router::usable(const std::string& address, clock::time_point now) const {
  auto it = health_.find(address);
  return it == health_.end() || it->second.down_until <= now;
}

route router::pick(const std::string& key, const std::set<std::string>& excluded,
                   const std::set<std::string>& disfavoured, bool allow_direct) {
  std::lock_guard lock(mutex_);
  auto now = clock::now();
  if (leader_routing_ && allow_direct && !key.empty() && have_map_ && map_.shards > 0) {
    auto shard = shard_of(key, map_.shards);
    if (shard < map_.leaders.size()) {
      auto& leader = map_.leaders[shard];
      if (!leader.empty() && !excluded.count(leader) && !disfavoured.count(leader) && usable(leader, now))
        return {leader, true};
    }
  }
  // In turn, so that requests spread over the nodes; the best kind of candidate first.
  const std::string* fallback = nullptr;
  const std::string* last_resort = nullptr;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    auto& n = nodes_[(next_ + i) % nodes_.size()];
    if (excluded.count(n))
      continue;
    if (disfavoured.count(n)) {
      if (!last_resort)
        last_resort = &n;
      continue;
    }
    if (usable(n, now)) {
      next_ = (next_ + i + 1) % nodes_.size();
      return {n, false};
    }
    // Down a while ago: still better than nothing; the one whose pause ends first.
    if (!fallback || health_.at(n).down_until < health_.at(*fallback).down_until)
      fallback = &n;
  }
  if (fallback)
    return {*fallback, false};
  if (last_resort)
    return {*last_resort, false};
  return {};
}

bool router::adopt(const shard_map& m) {
  std::lock_guard lock(mutex_);
  for (auto& n : m.nodes)
    learn(n);
  if (m.shards == 0 || (have_map_ && m.epoch <= map_.epoch))
    return false;
  map_ = m;
  map_.leaders.resize(m.shards);
  have_map_ = true;
  for (auto& l : map_.leaders)
    learn(l);
  return true;
}

bool router::has_map() const {
  std::lock_guard lock(mutex_);
  return have_map_;
}

bool router::note_leader(const std::string& key, const std::string& leader) {
  std::lock_guard lock(mutex_);
  learn(leader);
  if (!have_map_ || key.empty())
    return false;
  auto& slot = map_.leaders[shard_of(key, map_.shards)];
  if (slot == leader)
    return false;
  slot = leader; // until a newer map says otherwise
  return true;
}

void router::forget_leader(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (have_map_ && !key.empty())
    map_.leaders[shard_of(key, map_.shards)].clear();
}

void router::node_failed(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto& h = health_[address];
  auto pause = first_down_time * (1u << std::min(h.failures, 6u));
  h.down_until = clock::now() + std::min<clock::duration>(pause, max_down_time);
  ++h.failures;
}

void router::node_ok(const std::string& address) {
  std::lock_guard lock(mutex_);
  health_.erase(address);
}

bool router::begin_refresh(bool urgent) {
  std::lock_guard lock(mutex_);
  auto now = clock::now();
  auto gap = std::min<clock::duration>(min_refresh_gap * (1u << std::min(refresh_failures_, 8u)), max_refresh_gap);
  if (refreshing_ || (!urgent && have_map_) || now - last_refresh_ < gap)
    return false;
  refreshing_ = true;
  last_refresh_ = now;
  return true;
}

void router::end_refresh(bool fetched) {
  std::lock_guard lock(mutex_);
  refreshing_ = false;
  refresh_failures_ = fetched ? 0 : refresh_failures_ + 1;
}

std::vector<std::string> router::known_nodes() const {
  std::lock_guard lock(mutex_);
  return nodes_;
}

} // namespace bento::client::detail
