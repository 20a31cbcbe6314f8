#pragma once
// The single-node router: a registry of live entity actors keyed by entity key. It activates an entity on its
// first message (the actor loads itself from the store) and forgets it when it passivates or dies. The cluster
// router will replace this with placement over members behind the same router_actor interface.
#include "actors/common/entity_context.hpp"
#include "actors/router/router_actor.hpp"

namespace bento::cluster {

/// ctx.router is filled in by the router itself (entities talk to each other through it).
actors::router_actor spawn_local_router(caf::actor_system& sys, actors::entity_context ctx);

} // namespace bento::cluster
