#pragma once
// The router of a cluster node (behind the same router_actor interface as the single-node one): a command for
// an entity goes to the node that serves the entity's shard. Served here: to the local router (one hop). Led
// elsewhere: forwarded as command bytes to that node, whose answer comes back the same way. Retries happen only
// on a definite "not executed" (not leader, no leader yet, not sent): a command that may have run is never
// sent twice; its caller hears outcome_unknown and resolves it with its Idempotency-Key. With no leader within
// the caller's time: unavailable (503 with Retry-After at the edge).
#include <chrono>
#include <functional>
#include <string>

#include <caf/fwd.hpp>

#include "actors/router/router_actor.hpp"

namespace bento::cluster::shard {
class replica_host;
}

namespace bento::cluster::router {

struct cluster_router_options {
  std::string self;
  actors::router_actor local;           // the entities of the shards served here
  shard::replica_host* host = nullptr;  // who serves what, who leads what
  /// Sends a data-channel frame (ClusterData bytes) to a peer; must not block; false if it was not queued.
  std::function<bool(const std::string& peer, std::string bytes)> send;
  std::chrono::milliseconds timeout{5000};      // a forwarded command's answer is waited for this long
  std::chrono::milliseconds retry{50};          // pause before retrying a command that did not run
  /// Whether a peer is reachable now (linked and up), asked before giving up on one marked lost: the lost and
  /// back events come from the transport and the failure detector on different threads and may arrive out of
  /// order (a "lost" after its "back" left a live leader unused for good). Empty: trust the events.
  std::function<bool(const std::string& peer)> reachable;
};

/// The router; `serving_changed(shard, serving)` tells it (from any thread) when a shard starts or stops being
/// served here, and `deliver_data(from, bytes)` hands it the peers' data frames that are not consensus traffic.
actors::router_actor spawn_cluster_router(caf::actor_system& sys, cluster_router_options options);
void serving_changed(const actors::router_actor& router, uint16_t shard, bool serving);
/// A peer is gone (link closed, detected down: `gone`) or restarted: calls in flight to it end as outcome_unknown
/// at once; a gone peer gets no calls until peer_back (it is heard again).
void peer_lost(const actors::router_actor& router, const std::string& node, bool gone);
void peer_back(const actors::router_actor& router, const std::string& node);
/// The local router (spawned after this one: its entities send through this router).
void set_local(const actors::router_actor& router, actors::router_actor local);
void deliver_data(const actors::router_actor& router, const std::string& from, std::string bytes);

} // namespace bento::cluster::router
