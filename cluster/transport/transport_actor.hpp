#pragma once
// The transport's one actor per node: links, handshakes, sessions, sealing and flow control. Internal to the
// transport; the rest of the node talks to transport.hpp.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "cluster/transport/peer_info.hpp"
#include "cluster/transport/transport_config.hpp"

namespace bento::cluster::transport {

class dialer;
class peer_table;

using init_atom = caf::atom_constant<caf::atom("tp_init")>;
using drain_atom = caf::atom_constant<caf::atom("tp_drain")>;
using add_peer_atom = caf::atom_constant<caf::atom("tp_addpeer")>;
using dialed_atom = caf::atom_constant<caf::atom("tp_dialed")>;
using retry_atom = caf::atom_constant<caf::atom("tp_retry")>;
using handshake_timeout_atom = caf::atom_constant<caf::atom("tp_hstime")>;
using tick_atom = caf::atom_constant<caf::atom("tp_tick")>;

struct transport_handlers {
  std::function<void(const std::string& from, std::string bytes)> data;
  std::function<void(const std::string& from, std::string bytes)> membership;
  std::vector<std::function<void(const std::string& peer, uint64_t incarnation)>> peer_up;
  std::vector<std::function<void(const std::string& peer, uint64_t incarnation)>> peer_down;
};

struct transport_actor_args {
  transport_config cfg;
  std::string advertise;  // host:port we tell peers
  uint64_t instance = 0;  // random per start
  caf::actor connector;   // CAF's middleman actor (plain or OpenSSL): connect_atom
  std::shared_ptr<peer_table> table;
  std::shared_ptr<dialer> dial;
  transport_handlers handlers;
};

/// Spawned before the gate exists; (init_atom, gate) starts it: seeds are dialled from then on.
caf::actor spawn_transport_actor(caf::actor_system& sys, transport_actor_args args);

} // namespace bento::cluster::transport
