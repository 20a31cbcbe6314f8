#pragma once
// The router seam: every command addressed to an entity goes through a router_actor, which maps the entity
// key to the actor that owns it. On one node that is a local registry that activates and passivates entity
// actors (cluster/local_router); in a cluster it is placement over live members. Nothing else changes.
#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"

namespace bento::actors {

using router_actor = caf::typed_actor<
  caf::replies_to<domain::register_user>::with<domain::user_view>,
  caf::replies_to<domain::verify_login>::with<domain::user_view>,
  caf::replies_to<domain::get_user>::with<domain::user_view>,
  caf::replies_to<domain::end_session>::with<bool>,
  caf::replies_to<domain::set_member_state>::with<bool>,
  caf::replies_to<domain::create_restaurant>::with<domain::restaurant>,
  caf::replies_to<domain::open_restaurant>::with<domain::restaurant>,
  caf::replies_to<domain::upsert_menu_item>::with<domain::upsert_result>,
  caf::replies_to<domain::patch_menu_item>::with<domain::upsert_result>,
  caf::replies_to<domain::delete_menu_item>::with<bool>,
  caf::replies_to<domain::get_menu>::with<domain::menu_view>,
  caf::replies_to<domain::set_reservation>::with<domain::reservation_result>,
  caf::replies_to<domain::settle_reservation>::with<domain::settle_result>,
  caf::replies_to<domain::finalize_reservation>::with<bool>,
  caf::replies_to<domain::place_order>::with<domain::order>,
  caf::replies_to<domain::get_order>::with<domain::order>,
  caf::replies_to<domain::transition_order>::with<domain::order>,
  caf::replies_to<domain::edit_order>::with<domain::order>,
  // An idle entity asks to be forgotten; true means no further messages will be routed to it.
  caf::replies_to<passivate_atom, std::string>::with<bool>,
  caf::reacts_to<entity_down_atom, std::string, caf::actor_addr>,
  // Activates order/<id> so that it finishes or undoes an interrupted stock change (start-up sweep).
  caf::reacts_to<wake_atom, std::string>,
  // Stops every entity of the shard (leadership lost: their memory may hold uncommitted state).
  caf::reacts_to<drop_shard_atom, uint16_t>,
  // The local router's own timer (the cluster router ignores it).
  caf::reacts_to<idle_sweep_atom>,
  caf::replies_to<stats_atom>::with<entity_counts>>;

} // namespace bento::actors
