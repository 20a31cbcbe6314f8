#pragma once
// order/<id>: one order's life. Talks to its restaurant (through the router) to reserve and release stock.
#include <memory>

#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"

namespace bento::actors {

struct entity_context;
using entity_context_ptr = std::shared_ptr<const entity_context>;

using order_actor = caf::typed_actor<caf::replies_to<domain::place_order>::with<domain::order>,
                                     caf::replies_to<domain::get_order>::with<domain::order>,
                                     caf::replies_to<domain::transition_order>::with<domain::order>,
                                     caf::replies_to<domain::edit_order>::with<domain::order>,
                                     caf::reacts_to<idle_tick_atom>, caf::reacts_to<evict_atom>,
                                     caf::reacts_to<wake_atom>, caf::reacts_to<committed_atom, uint64_t, bool>>;

order_actor spawn_order_actor(caf::actor_system& sys, entity_context_ptr ctx, std::string id);

} // namespace bento::actors
