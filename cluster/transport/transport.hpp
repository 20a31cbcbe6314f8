#pragma once
// One node's links to the other nodes of the cluster, over CAF's middleman on the cluster port.
//
//   transport_config tc = ...;                 // node/cluster_setup.hpp builds it from node_config
//   caf::actor_system_config caf_cfg;
//   transport::prepare_actor_system(caf_cfg, tc);   // before the actor system exists
//   caf::actor_system sys{caf_cfg};
//   transport::transport t{sys, tc};
//   t.on_receive([](const std::string& from, std::string bytes) { ... });   // before start()
//   auto started = t.start();                 // listens, dials the seeds
//   t.send("node-2", bytes);                  // never blocks; errc says why a frame was not queued
//   ...
//   t.stop();                                 // before the actor system goes
//
// Peers authenticate with a challenge-response on the cluster secret (handshake.hpp) and every later frame is
// sealed with a session key (MAC, sequence number), so handlers only ever see bytes that an authenticated peer
// sent. No CAF or Protobuf types in this header: it is included across the node.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/transport/errc.hpp"
#include "cluster/transport/peer_info.hpp"
#include "cluster/transport/transport_config.hpp"

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

namespace bento::cluster::transport {

/// Loads CAF's middleman (and its OpenSSL module, with the certificate files, when cfg.tls is set), registers
/// peer_frame, and sets CAF's BASP heartbeat and connection timeout. Call once, before the actor system is built.
void prepare_actor_system(caf::actor_system_config& caf_cfg, const transport_config& cfg);

struct start_result {
  uint16_t port = 0; // the bound cluster port
  errc code = errc::none;
  std::string message;
  explicit operator bool() const noexcept { return code == errc::none; }
};

class transport {
public:
  using receive_handler = std::function<void(const std::string& from, std::string bytes)>;
  using peer_handler = std::function<void(const std::string& peer, uint64_t incarnation)>;

  transport(caf::actor_system& system, transport_config cfg);
  /// Stops if still running.
  ~transport();
  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;

  // Handlers: set them before start(). They run on the transport's actor, in the order frames arrive from a
  // peer: keep them short and non-blocking (hand work to an actor); they may call send() but not stop().

  /// Frames of one channel from authenticated peers. channel::data is the layer above (shards, routing);
  /// channel::membership is for cluster/membership.
  void on_receive(receive_handler handler, channel ch = channel::data);
  /// A peer's first authenticated session (again after it was down, or a new incarnation of it). Handlers add
  /// up: membership registers one, the layer above may register its own.
  void on_peer_up(peer_handler handler);
  /// A peer's last session closed (connection lost, peer stopped, replaced by a new instance).
  void on_peer_down(peer_handler handler);

  /// Opens the cluster port (plain, or TLS when configured) and dials the seeds. Once only.
  start_result start();

  /// Dials host:port (a seed, or an address learned by discovery) and keeps the link up. `expected_id`: the
  /// node id discovery says is there (no link is added when one to that node exists). False for a bad address.
  bool add_peer(const std::string& address, const std::string& expected_id = {});

  /// Queues `bytes` for `peer` and returns at once. Frames to one peer leave in order while its session lasts;
  /// nothing is promised across a reconnection (the layer above is idempotent and retries). Refusals
  /// (not_connected, queue_full, too_large, stopped) are counted.
  errc send(const std::string& peer, std::string bytes, channel ch = channel::data);

  std::vector<peer_info> peers() const;
  /// Ids of peers with an authenticated session now.
  std::vector<std::string> connected_peers() const;
  transport_stats stats() const;

  const std::string& node_id() const noexcept;
  uint64_t incarnation() const noexcept;
  /// host:port other nodes dial; valid after start().
  const std::string& advertised_address() const noexcept;

  /// Closes the port and every link, tells linked peers (their link closes at once) and waits until no handler
  /// runs any more. Call from a thread that is not one of CAF's (main, a test, a signal handler's thread).
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace bento::cluster::transport
