#include "actors/catalog/catalog_actor.hpp"

#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/catalog/catalog_state.hpp"
#include "actors/catalog/page_board.hpp"
#include "actors/common/domain_error.hpp"
#include "actors/store/entity_store.hpp"
#include "protocol/domain/calendar.hpp"

namespace bento::actors {

namespace {

using namespace bento::domain;

struct catalog_actor_state {
  std::unique_ptr<catalog_state> catalog;
  std::shared_ptr<page_board> board; // the pages answered since the catalog last changed (page_board.hpp)
  std::chrono::steady_clock::time_point last_catch_up;
  bool catch_up_scheduled = false;
  bool announced_since = false; // an announcement came after the last catch-up
  std::shared_ptr<std::atomic<bool>> announced;
  static inline const char* name = "catalog";
};

/// After reading events: the pages count again if nothing they show changed, else they go.
void reopen_board(catalog_actor_state& st) {
  if (st.board->revision() == st.catalog->revision())
    st.board->open();
  else
    st.board->reset(st.catalog->revision());
}

/// Applies the events the store has and the catalog has not. `announced` is cleared before reading: a commit
/// announced after this point sends a new announcement; one before it is within what is read.
void catch_up(catalog_actor::stateful_pointer<catalog_actor_state> self) {
  auto& st = self->state;
  // Closed before the flag clears: an edge that then finds no announcement pending finds no page of before.
  st.board->close();
  if (st.announced)
    st.announced->store(false);
  st.announced_since = false;
  st.last_catch_up = std::chrono::steady_clock::now();
  if (auto done = st.catalog->catch_up(local_date(now_ms())); !done)
    spdlog::error("catalog.apply_failed error={}", done.error().message);
  reopen_board(st);
}

/// A query sees every change announced before it: a merchant who edits a price and then browses sees the new
/// one. Only announcements no query is waiting for are left for the next catch-up.
void catch_up_if_announced(catalog_actor::stateful_pointer<catalog_actor_state> self) {
  if (self->state.announced_since)
    catch_up(self);
}

catalog_actor::behavior_type catalog_behavior(catalog_actor::stateful_pointer<catalog_actor_state> self,
                                              store::entity_store* store,
                                              std::shared_ptr<std::atomic<bool>> announced,
                                              catalog_options options) {
  auto& st = self->state;
  st.announced = announced;
  st.board = options.board ? options.board : std::make_shared<page_board>(std::move(announced));
  st.catalog = std::make_unique<catalog_state>(*store);
  if (auto opened = st.catalog->open(local_date(now_ms())); !opened)
    spdlog::error("catalog.open_failed error={}", opened.error().message);
  spdlog::info("catalog.opened restaurants={} items={}", st.catalog->restaurant_count(), st.catalog->item_count());
  // Its state changes only in open() and catch_up(), and every catch-up reopens the board at the revision it
  // reached (reopen_board): the board's pages are of the catalog's revision from here on.
  st.board->reset(st.catalog->revision());
  auto every = std::chrono::milliseconds(std::max<uint32_t>(options.prune_every_ms, 100));
  if (options.event_retention_s > 0)
    self->delayed_send(self, every, prune_atom::value);
  return {
    [self](menu_query& q) -> caf::result<menu_page> {
      auto& st = self->state;
      catch_up_if_announced(self);
      auto today = local_date(now_ms());
      auto& board = *st.board;
      auto key = page_board::key_of(q, today);
      if (auto hit = board.find(key))
        return std::move(*hit);
      auto page = st.catalog->query(q, today);
      if (!page)
        return make_error(page.error());
      menu_page shared(std::move(*page));
      board.put(std::move(key), shared);
      return shared;
    },
    [self](restaurants_query& q) -> caf::result<restaurant_list> {
      catch_up_if_announced(self);
      auto list = self->state.catalog->restaurants(q);
      if (!list)
        return make_error(list.error());
      return std::move(*list);
    },
    [self, options](event&) {
      // Only a signal that the store has new events: they are read from the events column in sequence
      // order, since announcements of concurrent commits can arrive in any order.
      auto& st = self->state;
      auto due = st.last_catch_up + std::chrono::milliseconds(options.catch_up_every_ms);
      auto now = std::chrono::steady_clock::now();
      if (now >= due) {
        catch_up(self);
      } else {
        // `announced` stays set meanwhile: commits until then send nothing more.
        st.announced_since = true;
        if (!st.catch_up_scheduled) {
          st.catch_up_scheduled = true;
          self->delayed_send(self, due - now, catch_up_atom::value);
        }
      }
    },
    [self](catch_up_atom) {
      self->state.catch_up_scheduled = false;
      if (self->state.announced_since)
        catch_up(self);
    },
    [self, options, every](prune_atom) {
      auto& cat = *self->state.catalog;
      // Catch up first, so that what is old enough to go was also read (the board closed meanwhile, as there).
      self->state.board->close();
      if (auto done = cat.catch_up(local_date(now_ms())); !done)
        spdlog::error("catalog.apply_failed error={}", done.error().message);
      reopen_board(self->state);
      auto older_than = now_ms() - int64_t{options.event_retention_s} * 1000;
      if (auto pruned = cat.prune_events(older_than, options.prune_batch); !pruned)
        spdlog::error("catalog.prune_failed error={}", pruned.error().message);
      else if (*pruned > 0)
        spdlog::debug("catalog.events_pruned count={}", *pruned);
      self->delayed_send(self, every, prune_atom::value);
    },
    [self](stats_atom) -> catalog_stats {
      auto& cat = *self->state.catalog;
      return catalog_stats{cat.restaurant_count(), cat.item_count(), cat.shard_rebuilds(), cat.events_pruned()};
    },
  };
}

} // namespace

catalog_actor spawn_catalog_actor(caf::actor_system& sys, store::entity_store* store,
                                  std::shared_ptr<std::atomic<bool>> announced, catalog_options options) {
  // Detached: its queries and writes go to RocksDB, which must not hold a scheduler thread that serves orders.
  return sys.spawn<caf::detached>(catalog_behavior, store, std::move(announced), options);
}

} // namespace bento::actors
