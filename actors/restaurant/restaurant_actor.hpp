#pragma once
// restaurant/<id>: the restaurant, its menu and its stock. The single writer of its stock, and the writer of a
// keyless order's first record (placed with its reservation, no order actor activated for it).
#include <memory>

#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"

namespace bento::actors {

struct entity_context;
using entity_context_ptr = std::shared_ptr<const entity_context>;

using restaurant_actor
  = caf::typed_actor<caf::replies_to<domain::create_restaurant>::with<domain::restaurant>,
                     caf::replies_to<domain::upsert_menu_item>::with<domain::upsert_result>,
                     caf::replies_to<domain::patch_menu_item>::with<domain::upsert_result>,
                     caf::replies_to<domain::delete_menu_item>::with<bool>,
                     caf::replies_to<domain::get_menu>::with<domain::menu_view>,
                     caf::replies_to<domain::set_reservation>::with<domain::reservation_result>,
                     caf::replies_to<domain::settle_reservation>::with<domain::settle_result>,
                     caf::replies_to<domain::finalize_reservation>::with<bool>,
                     caf::replies_to<domain::place_order>::with<domain::order>, caf::reacts_to<idle_tick_atom>,
                     caf::reacts_to<evict_atom>, caf::reacts_to<committed_atom, uint64_t, bool>>;

restaurant_actor spawn_restaurant_actor(caf::actor_system& sys, entity_context_ptr ctx, std::string id);

} // namespace bento::actors
