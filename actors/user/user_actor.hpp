#pragma once
// user/<username>: registration, login verification and profile of one user.
#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"

namespace bento::actors {

struct entity_context;

using user_actor = caf::typed_actor<caf::replies_to<domain::register_user>::with<domain::user_view>,
                                    caf::replies_to<domain::verify_login>::with<domain::user_view>,
                                    caf::replies_to<domain::get_user>::with<domain::user_view>,
                                    caf::reacts_to<idle_tick_atom>>;

user_actor spawn_user_actor(caf::actor_system& sys, const entity_context& ctx, std::string username);

} // namespace bento::actors
