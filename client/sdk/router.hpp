#pragma once
// Where each request goes: the shard map (the newest one seen, patched by `leader` hints from the nodes'
// answers), the nodes known (configured, named by the map, named as leaders), and which of them failed to
// connect recently, so calls skip them for a while instead of waiting on each one in turn.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "bento/client/types.hpp"

namespace bento::client::detail {

struct route {
  std::string address; // empty: no node left to try
  bool direct = false; // sent to the key's leader, which must serve it itself
};

class router {
public:
  using clock = std::chrono::steady_clock;

  router(std::vector<std::string> seeds, bool leader_routing);

  /// A node for a request about `key` (empty: about no entity): its shard's leader when known and allowed,
  /// else the next healthy node in turn. Never one of `excluded`; one of `disfavoured` only if nothing else.
  route pick(const std::string& key, const std::set<std::string>& excluded,
             const std::set<std::string>& disfavoured, bool allow_direct);

  /// Keeps `m` if it is newer (higher epoch) than the map held. Returns whether it did.
  bool adopt(const shard_map& m);
  bool has_map() const;
  /// A node named `leader` for `key`'s shard. Returns whether that changed the map.
  bool note_leader(const std::string& key, const std::string& leader);
  void forget_leader(const std::string& key);

  /// Connecting to `address` failed: skip it for a while (growing with repeated failures).
  void node_failed(const std::string& address);
  void node_ok(const std::string& address);

  /// Whether to fetch the shard map now: not while a fetch runs, not more often than a few times a second
  /// (less often after failed fetches: a node may not serve SHARD_MAP), and unless `urgent` only when there
  /// is no map yet. When true the caller must call end_refresh().
  bool begin_refresh(bool urgent);
  void end_refresh(bool fetched);

  std::vector<std::string> known_nodes() const;

private:
  bool usable(const std::string& address, clock::time_point now) const;
  void learn(const std::string& address);

  struct health {
    clock::time_point down_until;
    unsigned failures = 0;
  };

  const bool leader_routing_;
  mutable std::mutex mutex_;
  std::vector<std::string> nodes_; // configured first, then learned, without repeats
  size_t next_ = 0;                // round robin over nodes_
  std::map<std::string, health> health_;
  bool have_map_ = false;
  shard_map map_;
  bool refreshing_ = false;
  unsigned refresh_failures_ = 0;
  clock::time_point last_refresh_{};
};

} // namespace bento::client::detail
