#include "node/cluster_setup.hpp"

#include <algorithm>

namespace bento::node {

cluster::transport::transport_config transport_settings(const node_config& cfg, uint64_t incarnation) {
  cluster::transport::transport_config t;
  t.node_id = cfg.node_id;
  t.bind = cfg.bind;
  t.port = cfg.cluster_port;
  t.advertise = cfg.cluster_advertise;
  t.secret = cfg.cluster_secret;
  if (!cfg.tls_cert.empty())
    t.tls = cluster::transport::tls_files{cfg.tls_cert, cfg.tls_key, cfg.tls_ca};
  t.incarnation = incarnation;
  t.seeds = cfg.seeds;
  t.frame_max_bytes = cfg.peer_frame_max_bytes;
  // A queue holds at least a few of the largest frames.
  t.queue_max_bytes = std::max<uint64_t>(t.queue_max_bytes, 4ull * cfg.peer_frame_max_bytes);
  t.window_bytes = std::max<uint64_t>(t.window_bytes, 2ull * cfg.peer_frame_max_bytes);
  // A second process with this node's id is refused while the first was heard within the time that would make
  // it down: before that, it may only be slow.
  t.duplicate_grace_ms = cfg.down_ms;
  // CAF's own check closes connections silent for longer than our down time, with room (transport_config.hpp).
  t.caf_heartbeat_ms = std::max<uint32_t>(1000, cfg.heartbeat_ms);
  t.caf_connection_timeout_ms = std::max<uint32_t>(3 * t.caf_heartbeat_ms, 2 * cfg.down_ms);
  t.handshake_timeout_ms = std::max<uint32_t>(2000, cfg.down_ms);
  return t;
}

cluster::membership::membership_config membership_settings(const node_config& cfg) {
  cluster::membership::membership_config m;
  m.heartbeat_interval = std::chrono::milliseconds(cfg.heartbeat_ms);
  m.suspect_after = std::chrono::milliseconds(cfg.suspect_ms);
  m.down_after = std::chrono::milliseconds(cfg.down_ms);
  m.client_address = cfg.client_advertise;
  return m;
}

} // namespace bento::node
