#pragma once
// How a node takes part in the cluster: its shard replicas (a one-node cluster without BENTO_SEEDS: every shard
// a group of one voter, this node), and with seeds the transport, membership, the formation of the member list
// and the placement of every shard's replicas. The one place main.cpp asks about any of it.
//
//   cluster_runtime cr(cfg, node_id);
//   cr.prepare(caf_cfg);                        // before the actor system
//   caf::actor_system sys{caf_cfg};
//   cr.start(sys, shards);                      // links, members, placement, replicas
//   ctx.serves = cr.serves();                   // the local router hosts only served shards' entities
//   ctx.router = cr.front(sys);                 // the cluster router (null alone)
//   auto router = cr.attach(local_router);      // what the edges call
//   ...
//   cr.stop();                                  // before the actor system goes
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/common/entity_context.hpp"
#include "actors/router/router_actor.hpp"
#include "protocol/domain/shards.hpp"
#include "node/node_config.hpp"
#include "protocol/domain/outcome.hpp"

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

namespace bento::store {
class shard_set;
}

namespace bento::node {

struct cluster_member_status {
  std::string id;
  std::string address;
  std::string client_address; // its client-protocol port, when known
  std::string state; // up, suspect, down
  uint64_t incarnation = 0;
  uint64_t shards_led = 0;
  uint64_t shards_replicated = 0;
};

/// Where clients should send requests, for the client protocol's SHARD_MAP.
struct client_shard_map {
  uint64_t epoch = 0;                // the sum of the shards' terms: grows whenever a leader may have changed
  uint32_t shards = 0;
  std::vector<std::string> leaders;  // per shard: the leader's client address, empty when unknown
  std::vector<std::string> nodes;    // every member's client address that is known
};

/// Where one entity's requests are served.
struct client_route {
  bool here = true;                  // this node leads the entity's shard (or runs alone)
  std::string leader;                // otherwise: the leader's client address, empty when unknown
};

struct cluster_status {
  std::vector<cluster_member_status> members;
  uint32_t shards = 0;
  uint32_t replicas = 0;
};

class cluster_runtime {
public:
  cluster_runtime(const node_config& cfg, std::string node_id);
  ~cluster_runtime();

  bool clustered() const noexcept { return !cfg_.seeds.empty(); }

  /// Loads CAF's network layer when clustered (before the actor system exists).
  domain::outcome<domain::unit_t> prepare(caf::actor_system_config& caf_cfg);
  /// Opens links and forms (or reloads) the member list and placement, then this node's replicas. Formation
  /// waits for every seed; `cancelled` (polled while it waits) ends the wait with errc::unavailable.
  domain::outcome<domain::unit_t> start(caf::actor_system& sys, store::shard_set& shards,
                                        std::function<bool()> cancelled = {});
  /// Whether this node serves a shard's entities now.
  std::function<bool(uint16_t)> serves() const;
  /// The cluster router (null alone): spawned before the local router, whose entities send through it.
  actors::router_actor front(caf::actor_system& sys);
  /// Completes the wiring with the local router; returns the router edges use (the front, or `local` alone).
  actors::router_actor attach(actors::router_actor local);
  cluster_status status() const;
  client_shard_map shard_map() const;
  client_route route_of(const std::string& entity_key) const;
  /// status() plus every shard's replicas and leader, as the JSON text GET /api/v1/cluster answers; with an
  /// entity key ("restaurant/<id>") also that entity's shard, replicas and leader.
  std::string status_json(const std::string& entity = {}) const;
  std::vector<std::string> members() const;
  uint32_t replicas() const;
  /// The shard that holds the cluster's member-state record (actors::keys::cluster_members_entity).
  domain::shard_id metadata_shard() const;
  /// Re-reads the member-state record from this node's copy: the placement leaves out leaving and replaced
  /// members. Call when the record's event or a snapshot of its shard is applied (any thread).
  void reload_member_states();
  /// Loads the record and, clustered, replaces members down longer than BENTO_REPLACE_AFTER_S while this node
  /// leads the metadata's shard (through `meta`).
  void run_metadata(actors::cluster_meta_actor meta);
  /// A node joining a running cluster (its address is not among its seeds, and it has not joined before) asks
  /// to be admitted, through the router, until the cluster records it; then remembers that it joined. Call
  /// after attach(); returns at once for founders. `cancelled` (polled) ends the wait.
  domain::outcome<domain::unit_t> join(caf::actor_system& sys, std::function<bool()> cancelled = {});
  /// Metrics of the cluster layer (name -> value).
  std::vector<std::pair<std::string, double>> gauges() const;
  void stop();

private:
  struct impl;
  node_config cfg_;
  std::unique_ptr<impl> impl_;
};

} // namespace bento::node
