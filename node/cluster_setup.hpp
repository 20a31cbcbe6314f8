#pragma once
// The cluster transport's and membership's settings, from the node's configuration. The integration with the
// shard layer (node/main.cpp) uses these; kept here so that every derived timing has one home.
//
//   auto incarnation = cluster::membership::next_incarnation(cfg.data_dir);   // once per start
//   auto tc = node::transport_settings(cfg, *incarnation);
//   cluster::transport::prepare_actor_system(caf_cfg, tc);                    // before the actor system
//   cluster::transport::transport transport{system, tc};
//   cluster::membership::membership membership{system, transport, node::membership_settings(cfg)};
//   ... transport.start(); membership.start(); ... membership.stop(); transport.stop();
#include <cstdint>

#include "cluster/membership/membership.hpp"
#include "cluster/transport/transport_config.hpp"
#include "node/node_config.hpp"

namespace bento::node {

cluster::transport::transport_config transport_settings(const node_config& cfg, uint64_t incarnation);

cluster::membership::membership_config membership_settings(const node_config& cfg);

} // namespace bento::node
