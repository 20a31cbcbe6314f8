#pragma once
// What the rest of the node can see of the transport: peers, link states and counters. Plain values, copied out
// as snapshots, so readers never hold a lock of the transport.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace bento::cluster::transport {

/// Which stream of messages a frame belongs to. Membership frames (heartbeats) have their own small queue that
/// is sent ahead of data, so that a full data window never delays a heartbeat into a false "suspect".
enum class channel : uint8_t {
  membership = 1,
  data = 2,
};

/// State of our outbound link to a peer (we also accept its inbound link; either carries frames).
enum class link_state : uint8_t {
  idle,        // not started
  connecting,  // TCP and CAF connection under way
  handshaking, // challenge-response under way
  up,          // authenticated session
  backoff,     // waiting before the next attempt
  self,        // the address is this node (a seed list that names every node): never dialled again
  alias,       // the address leads to a peer already linked under another address
};
const char* to_string(link_state s) noexcept;

/// Counters of one peer (or, in transport_stats, of all peers and of senders never authenticated).
struct peer_counters {
  uint64_t frames_received = 0;  // authenticated frames delivered
  uint64_t frames_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t malformed = 0;        // unparseable, oversized, unknown kind, absurd field
  uint64_t unauthenticated = 0;  // frames before/without a session: dropped
  uint64_t bad_proof = 0;        // handshake proofs that failed (wrong or no secret)
  uint64_t bad_mac = 0;          // sealed frames whose MAC failed
  uint64_t replayed = 0;         // sealed frames whose sequence number was not new
  uint64_t refused = 0;          // handshakes refused (duplicate node id, ...)
  uint64_t dropped_queue_full = 0;
  uint64_t dropped_not_connected = 0; // send() without a session, or queued frames when the last session closed
  uint64_t handshakes = 0;       // sessions established
  uint64_t sessions_closed = 0;  // sessions that ended (connection lost, peer stopped or restarted, refused)
  uint64_t sessions_unacked = 0; // closed because the peer stopped acknowledging them (it lost them, or hangs)
  uint64_t link_failures = 0;    // our link's connect or handshake attempts that failed, and its sessions lost
};

struct peer_info {
  std::string id;           // empty for a seed not reached yet
  std::string address;      // host:port we dial
  link_state state = link_state::idle;
  bool connected = false;   // at least one authenticated session (ours or the peer's)
  uint64_t incarnation = 0;
  std::optional<std::chrono::steady_clock::time_point> last_heard; // last authenticated frame
  size_t queued_frames = 0;
  peer_counters counters;
};

struct transport_stats {
  peer_counters total;          // every peer, plus the senders below
  peer_counters unattributed;   // frames from CAF nodes with no session (strangers, wrong secrets)
  uint64_t foreign_messages = 0; // CAF messages of another type than peer_frame sent to our published actor
  uint64_t dropped_unknown_peer = 0; // send() to an id the transport does not know
  uint64_t peers_over_limit = 0;     // peers ignored because max_peers was reached
};

} // namespace bento::cluster::transport
