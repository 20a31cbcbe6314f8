#pragma once
// The node's menu read model as an actor: fed by menu/stock events, answers menu and restaurant listings.
// Its data lives in the store (catalog_state); the actor holds none of it.
#include <atomic>
#include <cstdint>
#include <memory>

#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"

namespace bento::store {
class entity_store;
}

namespace bento::actors {

class page_board;

using catalog_actor = caf::typed_actor<caf::replies_to<domain::menu_query>::with<domain::menu_page>,
                                       caf::replies_to<domain::restaurants_query>::with<domain::restaurant_list>,
                                       caf::reacts_to<domain::event>, caf::reacts_to<prune_atom>,
                                       caf::reacts_to<catch_up_atom>,
                                       caf::replies_to<stats_atom>::with<catalog_stats>>;

/// Opens the catalog's records in the store (building them from the entity records on a data dir that has none,
/// then replaying events it has not applied) before it answers anything. Events sent to it only announce that
/// the store has new ones. Runs on a thread of its own.
/// `announced`, when given, is set by whoever sends it an event and cleared by the catalog before it reads the
/// events column, so that under load one announcement covers many commits (see node/main.cpp).
/// Events are the node's change feed, read by the catalog (its only reader): past `event_retention_s` (0: kept
/// forever) those it has applied are deleted, every `prune_every_ms`, so the events column does not grow
/// with every write forever.
struct catalog_options {
  uint32_t event_retention_s = 0;
  uint32_t prune_every_ms = 10000;
  uint64_t prune_batch = 20000; // events per shard per round at most, so queries wait little behind a round
  // Announcements that come sooner than this after the last catch-up wait for the next one: under an order
  // rush one read of the events column and one catalog write cover many orders instead of a few each. A query
  // catches up first all the same, so what it answers shows every change announced before it; only the
  // catalog's own bookkeeping waits. 50 ms, not 10: every node's catalog follows every shard's stock events,
  // and a 3-node rush measured +5 % orders/s, -8 % CPU per order (paired; one node ±1 %).
  uint32_t catch_up_every_ms = 50;
  // The board the catalog keeps its answered pages on, shared with the edges (page_board.hpp); none: its own.
  std::shared_ptr<page_board> board;
};

catalog_actor spawn_catalog_actor(caf::actor_system& sys, store::entity_store* store,
                                  std::shared_ptr<std::atomic<bool>> announced = nullptr,
                                  catalog_options options = {});

} // namespace bento::actors
