#pragma once
// Atoms and the local-only message types actors exchange. Domain structs travel between actors of one node by
// value; they never cross the network (cluster traffic is Protobuf bytes), hence CAF_ALLOW_UNSAFE_MESSAGE_TYPE.
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include "protocol/domain/commands.hpp"

namespace bento::actors {

using idle_tick_atom = caf::atom_constant<caf::atom("idletick")>;
using passivate_atom = caf::atom_constant<caf::atom("passivate")>;
/// From the router to an entity: too many are active, or it has not been routed to for the idle timeout:
/// passivate now if you can.
using evict_atom = caf::atom_constant<caf::atom("evict")>;
/// The local router's timer: time to passivate the entities idle for longer than the idle timeout.
using idle_sweep_atom = caf::atom_constant<caf::atom("idlesweep")>;
/// From an entity's exit hook to the router: forget me if I am still registered.
using entity_down_atom = caf::atom_constant<caf::atom("entdown")>;
/// To the router: activate order/<id> (the crash-recovery sweep). The activation itself does the recovery.
using wake_atom = caf::atom_constant<caf::atom("wake")>;
/// The catalog's timer: time to delete events past their retention.
using prune_atom = caf::atom_constant<caf::atom("prune")>;
using catch_up_atom = caf::atom_constant<caf::atom("catchup")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
/// From a shard replica to an entity: its writes up to this index are committed (true) or cannot be known to be
/// (false: leadership lost). See reply_gate.
using committed_atom = caf::atom_constant<caf::atom("committed")>;
/// To the local router: stop hosting a shard's entities (this node no longer serves it).
using drop_shard_atom = caf::atom_constant<caf::atom("dropshard")>;
using hash_atom = caf::atom_constant<caf::atom("hash")>;
using verify_atom = caf::atom_constant<caf::atom("verify")>;

struct entity_counts {
  uint64_t users = 0;
  uint64_t restaurants = 0;
  uint64_t orders = 0;
  uint64_t activations = 0;
  uint64_t passivations = 0;
  uint64_t evictions = 0; // passivations the router asked for because the cap was reached
  int64_t orders_settling = 0;  // orders with an unsettled stock change right now
  uint64_t settle_retries = 0;
  uint64_t settled_forward = 0;
  uint64_t settled_back = 0;
  uint64_t clock_regressions = 0;
};

struct catalog_stats {
  uint64_t restaurants = 0;
  uint64_t items = 0;
  uint64_t shard_rebuilds = 0; // shards rebuilt from their records after a gap in their events
  uint64_t events_pruned = 0;
};

} // namespace bento::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::register_user)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::verify_login)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::get_user)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::end_session)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::set_member_state)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::user_view)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::create_restaurant)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::open_restaurant)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::restaurant)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::upsert_menu_item)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::upsert_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::patch_menu_item)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::delete_menu_item)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::get_menu)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::menu_view)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::set_reservation)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::reservation_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::finalize_reservation)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::settle_reservation)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::settle_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::place_order)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::get_order)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::transition_order)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::edit_order)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::order)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::list_orders)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::order_list)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::menu_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::menu_page)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::restaurants_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::restaurant_list)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::domain::event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::actors::entity_counts)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::actors::catalog_stats)
