#pragma once
// Heartbeats, failure detection and seed-based discovery over the transport.
//
//   transport::transport t{sys, tc};
//   membership::membership m{sys, t, mc};      // before t.start(): it registers its transport handlers
//   m.set_heartbeat_payload([](const std::string& peer) { return raft_heartbeats_for(peer); });
//   m.on_heartbeat_payload([](const std::string& peer, std::string payload) { ... });
//   m.on_member_change([](const membership::member_change& c) { ... });
//   t.start(); m.start();
//   ...
//   m.stop(); t.stop();
//
// Every heartbeat_interval each connected peer gets one Heartbeat (incarnation + the opaque payload that other
// modules piggyback: one message per node pair and interval, however many Raft groups share the pair). A peer is
// suspect after suspect_after without a sign of life and down after down_after (failure_detector.hpp). When a
// link comes up, and every gossip_every heartbeats, peers exchange the members they know, so that a node given
// one seed finds the others.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/membership/failure_detector.hpp"

namespace caf {
class actor_system;
}

namespace bento::cluster::transport {
class transport;
}

namespace bento::cluster::membership {

struct membership_config {
  std::chrono::milliseconds heartbeat_interval{100}; // BENTO_HEARTBEAT_MS
  std::chrono::milliseconds suspect_after{500};      // BENTO_SUSPECT_MS
  std::chrono::milliseconds down_after{1000};        // BENTO_DOWN_MS
  uint32_t payload_max_bytes = 64 * 1024; // a bigger heartbeat payload is not sent (counted)
  uint32_t gossip_every = 20;             // heartbeats between member lists sent to every peer
  uint32_t max_members = 1024;            // entries read from one member list
  std::string client_address;             // this node's client-protocol address, told to peers in member lists
  /// Whether this node belongs to a formed cluster (told to peers, so that a founder with an empty data dir
  /// does not form a second cluster beside the one its seeds already run).
  std::function<bool()> formed;
};

struct membership_stats {
  uint64_t heartbeats_sent = 0;
  uint64_t heartbeats_received = 0;
  uint64_t heartbeats_not_sent = 0; // the transport refused (queue full, disconnected)
  uint64_t payloads_too_large = 0;
  uint64_t malformed = 0;           // membership messages that did not parse or check out
  uint64_t member_lists_received = 0;
  uint64_t peers_discovered = 0;    // addresses handed to the transport from member lists
};

struct member_view {
  std::string id;
  std::string address;
  std::string client_address; // where it takes client-protocol connections, as it said (empty: unknown)
  member_state state = member_state::up;
  uint64_t incarnation = 0;
  std::chrono::steady_clock::time_point last_heard{};
};

class membership {
public:
  using payload_provider = std::function<std::string(const std::string& peer)>;
  using payload_handler = std::function<void(const std::string& peer, std::string payload)>;
  using change_handler = std::function<void(const member_change& change)>;

  /// Registers with `t`: construct before t.start(). `t` and `system` must outlive this object.
  membership(caf::actor_system& system, transport::transport& t, membership_config cfg);
  ~membership();
  membership(const membership&) = delete;
  membership& operator=(const membership&) = delete;

  // Set before start(). The provider runs on membership's timer actor once per connected peer and interval; the
  // handlers on the transport's actor. Keep all short and non-blocking.
  void set_heartbeat_payload(payload_provider provider);
  void on_heartbeat_payload(payload_handler handler);
  void on_member_change(change_handler handler);

  /// Starts the heartbeat timer.
  void start();
  /// Stops it and waits until no provider or handler of ours runs; call before transport::stop().
  void stop();

  /// Every peer heard at least once (this node not included).
  std::vector<member_view> members() const;
  /// What a peer said of itself in the first member list this process got from it (nullopt: none yet), i.e.
  /// at their first link-up: whether it already belonged to a formed cluster then.
  std::optional<bool> formed_at_link_up(const std::string& peer) const;
  membership_stats stats() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_; // shared with the transport handlers and the timer actor
};

} // namespace bento::cluster::membership
