#pragma once
// Idle ticks that do not keep a stopped entity's memory alive. A delayed message holds a strong reference to its
// receiver until it fires, and an entity's idle tick is due when it could be idle long enough (minutes). Even a
// weak reference is not enough: CAF 0.17 allocates an actor and its control block as one block, freed only when
// the last weak reference goes, so an evicted order waiting for its five-minute tick kept ~2 KB allocated (1M
// orders at one restaurant: RSS grew ~2 KB per order past the active-entity cap, 2.1 GiB at 1M). The node's
// ticker keeps the schedule itself, at most one tick per entity, and forgets an entity as soon as it stops.
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/weak_intrusive_ptr.hpp>

#include <chrono>

#include "actors/common/atoms.hpp"

namespace bento::actors {

/// "Send `entity` an idle_tick_atom at `due`." An entity has at most one tick waiting: a request for a later
/// time than the one waiting is folded into it (a tick handler looks at the entity's state and asks again).
struct idle_tick_for {
  caf::weak_actor_ptr entity;
  std::chrono::steady_clock::time_point due;
};

/// "This entity stopped": its waiting tick, and the reference to it, are dropped.
struct idle_tick_forget {
  caf::actor_id entity;
};

/// How many entities have a tick waiting (tests; the ticker's whole memory is proportional to it).
using idle_ticks_waiting_atom = caf::atom_constant<caf::atom("idlewait")>;

/// One per node (entity_context::idle_ticker).
caf::actor spawn_idle_ticker(caf::actor_system& sys);

} // namespace bento::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::actors::idle_tick_for)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::actors::idle_tick_forget)
