#pragma once
// user/<username>: registration, login verification and profile of one user.
#include <memory>

#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"

namespace bento::actors {

struct entity_context;
using entity_context_ptr = std::shared_ptr<const entity_context>;

using user_actor = caf::typed_actor<caf::replies_to<domain::register_user>::with<domain::user_view>,
                                    caf::replies_to<domain::verify_login>::with<domain::user_view>,
                                    caf::replies_to<domain::get_user>::with<domain::user_view>,
                                    caf::replies_to<domain::end_session>::with<bool>,
                                    caf::replies_to<domain::open_restaurant>::with<domain::restaurant>,
                                    caf::reacts_to<idle_tick_atom>, caf::reacts_to<evict_atom>,
                                    caf::reacts_to<committed_atom, uint64_t, bool>>;

user_actor spawn_user_actor(caf::actor_system& sys, entity_context_ptr ctx, std::string username);

} // namespace bento::actors
