#pragma once
// Settings of one node's transport. Plain values: node/cluster_setup builds them from node_config, tests set them
// directly. No CAF here (see transport.hpp).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bento::cluster::transport {

/// Certificate, private key and CA bundle (PEM files). With them every link is TLS and the peer must present a
/// certificate signed by this CA; all three or none (a partial set is a configuration error, never a downgrade).
struct tls_files {
  std::string certificate;
  std::string private_key;
  std::string ca;
};

struct transport_config {
  std::string node_id;           // [A-Za-z0-9._-]{1,64}
  std::string bind = "127.0.0.1"; // the cluster port listens here
  uint16_t port = 0;             // 0: any free port (start() returns the bound one)
  std::string advertise;         // host:port other nodes dial to reach us; empty: bind:bound port
  std::string secret;            // BENTO_CLUSTER_SECRET; empty: this node can authenticate nobody, nor be accepted
  std::optional<tls_files> tls;
  uint64_t incarnation = 1;      // membership::next_incarnation(data dir) on a real node
  std::vector<std::string> seeds; // host:port, dialled at start

  uint32_t frame_max_bytes = 8u << 20; // a bigger frame is dropped (malformed); send() refuses to make one
  uint32_t queue_max_frames = 1024;    // per peer, frames waiting for the send window
  uint64_t queue_max_bytes = 64u << 20;
  uint32_t window_frames = 256;        // per session, frames sent but not acknowledged
  uint64_t window_bytes = 16u << 20;
  uint32_t priority_queue_frames = 64; // per peer, membership frames (heartbeats), sent ahead of data

  uint32_t connect_timeout_ms = 2000;   // TCP connect, then CAF's own handshake, each
  uint32_t handshake_timeout_ms = 2000; // our challenge-response
  uint32_t backoff_min_ms = 50;         // reconnect delay after a failure, doubling up to the max, with jitter
  uint32_t backoff_max_ms = 2000;
  uint32_t tick_ms = 20;                // acks that did not fill a batch, expiries

  // A handshake from a second instance of a node id is refused while the first one's link is open and it was
  // heard within this time (a restart is accepted once the old instance's link closed or it went quiet).
  uint32_t duplicate_grace_ms = 1000;   // BENTO_DOWN_MS on a real node

  // CAF's BASP heartbeats and connection timeout (off by default in CAF 0.17): they close a half-open
  // connection (peer machine gone without a RST) and a CAF handshake that never completes. The interval is
  // also CAF's timeout check, and CAF 0.17.6 takes an outbound connection still waiting for the peer's CAF
  // handshake for one silent since 1970 (its context starts with last_seen zero): a check that falls into that
  // window (about 1 ms on loopback, 15 ms with TLS) closes the new connection, and our link retries. A longer
  // interval makes that rare; our own heartbeats keep every live connection busy anyway.
  uint32_t caf_heartbeat_ms = 1000;
  uint32_t caf_connection_timeout_ms = 3000;

  // A session whose frames go unacknowledged this long is closed (its link redials): the peer lost it (it was
  // frozen, or its side closed on a connection event ours never saw) and drops everything sent on it as "of no
  // session", while this side, preferring that session, would keep sending there forever. Receivers ack within
  // a tick, so only a peer that lost the session, or is frozen or cut off, stays silent this long.
  uint32_t ack_timeout_ms = 3000;

  uint32_t max_peers = 256;             // known peers (seeds, discovered, dialled in); beyond: ignored, counted
  uint32_t max_pending_handshakes = 64; // inbound handshakes awaiting a proof; beyond: the oldest is dropped
};

} // namespace bento::cluster::transport
