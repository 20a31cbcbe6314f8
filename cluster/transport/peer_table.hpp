#pragma once
// What the transport's callers (any thread) and the transport actor share: each peer's bounded send queues, its
// counters and what peers() shows. One mutex; nothing slow runs under it (no crypto, no I/O, no callbacks).
// Internal to the transport.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/transport/errc.hpp"
#include "cluster/transport/peer_info.hpp"
#include "cluster/transport/transport_config.hpp"

namespace bento::cluster::transport {

struct outgoing {
  channel ch;
  std::string bytes;
};

class peer_table {
public:
  explicit peer_table(const transport_config& cfg);

  // -- any thread ------------------------------------------------------------------------------------------

  /// Queues a frame for `peer`. `wake` is set when the transport actor must be told (nothing was pending).
  errc enqueue(const std::string& peer, channel ch, std::string bytes, bool& wake);
  std::vector<peer_info> snapshot() const;
  transport_stats stats() const;
  /// Ids with at least one authenticated session.
  std::vector<std::string> connected_peers() const;

  // -- transport actor -------------------------------------------------------------------------------------

  /// Adds the peer if it is new and there is room (false: max_peers reached, counted).
  bool ensure_peer(const std::string& id);
  /// The state of our link dialling `address`; `id` empty while it has not reached a node yet.
  void set_link(const std::string& address, const std::string& id, link_state state);
  void forget_link(const std::string& address);
  void set_identity(const std::string& id, const std::string& address, uint64_t incarnation);
  /// Disconnecting drops what is queued for the peer (counted as dropped_not_connected): a frame is only ever
  /// sent on a session that existed when it was queued, or dropped.
  void set_connected(const std::string& id, bool connected);
  /// An authenticated frame arrived; `delivered` when it went to a handler (bare acks do not).
  void heard(const std::string& id, std::chrono::steady_clock::time_point when, bool delivered, uint64_t bytes);
  void remove_peer(const std::string& id);

  /// Counts on the peer (or on `unattributed` when id is empty or unknown) and on the total.
  void count(const std::string& id, uint64_t peer_counters::*field, uint64_t n = 1);
  std::shared_ptr<std::atomic<uint64_t>> foreign_messages() const { return foreign_; }

  /// Called when the actor starts a drain: later enqueues wake it again.
  void begin_drain();
  /// Peers with queued frames.
  std::vector<std::string> peers_with_frames() const;
  /// Takes queued frames of `id` in order, membership first, while fits(bytes, is_membership) says yes.
  std::vector<outgoing> take(const std::string& id, const std::function<bool(size_t, bool)>& fits);

private:
  struct slot {
    peer_info info;
    std::deque<outgoing> priority;
    std::deque<outgoing> data;
    uint64_t data_bytes = 0;
  };

  transport_config cfg_;
  mutable std::mutex mutex_;
  std::map<std::string, slot> peers_;          // by node id
  std::map<std::string, peer_info> unnamed_;   // links (by address) that have not reached a node yet
  transport_stats stats_;
  bool wake_pending_ = false;
  std::shared_ptr<std::atomic<uint64_t>> foreign_ = std::make_shared<std::atomic<uint64_t>>(0);
};

} // namespace bento::cluster::transport
