#include "actors/restaurant/restaurant_actor.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/common/domain_error.hpp"
#include "actors/common/entity_context.hpp"
#include "actors/common/shared_behavior.hpp"
#include "actors/common/reply_gate.hpp"
#include "actors/common/keys.hpp"
#include "actors/order/order_event.hpp"
#include "actors/order/order_state.hpp"
#include "actors/order_index/order_index_writes.hpp"
#include "actors/restaurant/menu_board.hpp"
#include "actors/restaurant/restaurant_records.hpp"
#include "actors/restaurant/restaurant_state.hpp"
#include "actors/restaurant/reservation_cache.hpp"
#include "actors/store/shard_store.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/calendar.hpp"

namespace bento::actors {

namespace {

using namespace bento::domain;

/// Reservation records a restaurant keeps in memory (a few hundred bytes each): a popular restaurant's recent
/// orders, whose next change usually comes soon; older ones are read from the store when needed.
constexpr size_t reservations_in_memory = 1024;
/// Tombstones of closed days forgotten per command: the first order of a day must not wait for all of them.
constexpr size_t tombstones_per_sweep = 256;

struct restaurant_actor_state {
  entity_context_ptr ctx;
  uint64_t epoch = 0; // the shard's write epoch this activation loaded its state in (shard_store::epoch)
  std::string id;
  restaurant_state rules;
  idle_state idle;
  reply_gate replies; // answers waiting for this restaurant's writes to be committed
  reservation_cache cache{reservations_in_memory};
  bool sweep_due = true;  // tombstones of closed days may be left in the index (activation, a busy sweep)
  std::string swept_day; // the restaurant's day when the index was last swept: a new day sweeps again
  // Menus built since the last change, by (today, day asked for): every reader shares one until a write.
  std::map<std::pair<std::string, std::string>, menu_view> menus;
  bool pinned = false; // some of them are on the node's menu board (menu_board.hpp)
  static inline const char* name = "restaurant";
};

using entity = shared_behavior_entity<restaurant_actor, restaurant_actor_state>;
using self_ptr = entity::pointer;

[[noreturn]] void corrupt(const std::string& rid, std::string_view key) {
  spdlog::critical("restaurant.corrupt_record restaurant={} key={}", rid, std::string(key));
  std::abort();
}

/// `also`: writes of another entity of this shard that go in the same batch (a placed order's, see set_reservation).
caf::error persist(self_ptr self, const restaurant_change& change, store::write_batch* also = nullptr);

std::string today(const restaurant_actor_state& st) {
  return local_date(st.ctx->now_ms());
}

record_reader reader_of(const restaurant_actor_state& st) {
  auto* store = st.ctx->store;
  record_reader reader;
  reader.get = [store](const std::string& key) { return store->get(store::column::entities, key); };
  reader.scan = [store](const std::string& prefix,
                        const std::function<bool(std::string_view, std::string_view)>& visit) {
    return store->scan(store::column::entities, prefix, {}, visit);
  };
  return reader;
}

/// A read of the restaurant's records: false (logged) when the store failed; a record that does not parse
/// stops the node, since serving from a partial state would oversell.
bool read_ok(const restaurant_actor_state& st, const read_result& r) {
  if (!r) {
    spdlog::error("restaurant.load_failed restaurant={} error={}", st.id, r.error().message);
    return false;
  }
  if (*r)
    corrupt(st.id, **r);
  return true;
}

bool load(self_ptr self) {
  auto& st = self->state;
  if (!read_ok(st, load_restaurant(st.rules, st.id, reader_of(st))))
    return false;
  auto upgrade = st.rules.finish_load();
  if (!upgrade.empty()) {
    spdlog::info("restaurant.records_upgraded restaurant={} day_counts={} tombstones_indexed={}", st.id,
                 upgrade.changed_day_used.size(), upgrade.tombstones_put.size());
    if (persist(self, upgrade))
      return false;
  }
  // Records of an older layout were all loaded: they leave memory like any other (the upgrade wrote none).
  for (auto& [oid, r] : st.rules.reservations())
    st.cache.touch(oid, store::write_mark{});
  return true;
}

/// An order record to write with a reservation (set_reservation::order_record) must be that order's first
/// placement, at this restaurant, in this restaurant's shard: its keys then fall in this shard's range, where
/// the order reads them. Anything else (a peer's mistake or lie) is refused before anything is written.
outcome<order> check_order_record(const restaurant_actor_state& st, const set_reservation& cmd) {
  auto refuse = [](const char* why) { return fail(errc::invalid_argument, std::string("order record: ") + why); };
  if (!st.ctx->shards || domain::shard_of(keys::order_entity(cmd.order_id), st.ctx->shards->count()) !=
                             st.ctx->store->shard())
    return refuse("the order is not in the restaurant's shard");
  order o;
  if (!codec::decode(cmd.order_record, o))
    return refuse("does not decode");
  if (o.id != cmd.order_id || o.restaurant_id != st.id || o.committed || !o.intent ||
      o.intent->kind != intent_kind::place || o.intent->seq != cmd.seq || cmd.seq != 1)
    return refuse("not this order's first placement here");
  return o;
}

/// The placed order's writes, as the order would make them on the restaurant's answer (order_state::applied,
/// its listing entries, its event): the record goes in the reservation's batch, and comes back in the answer.
std::string place_order_with(const order& placing, const reservation_result& held, int64_t now_ms,
                             store::write_batch& out, order& placed_out) {
  auto placed = order_state::applied_to(placing, held, now_ms); // placing itself is not copied into a state
  auto record = codec::encode(placed);
  out.put(store::column::entities, keys::order_record(placed.id), record);
  add_index_writes(out, &placing, placed);
  append_order_event(out, "order.placed", placed.id, placed, record);
  placed_out = std::move(placed);
  return record;
}

/// Before a command about an order: its reservation in memory, and the day's bookkeeping done. `fresh`: the
/// order's id was drawn for this very command, which nothing delivered before (place_order::fresh_id), so no
/// reservation can be stored under it: none is read.
caf::error prepare(self_ptr self, const std::string& order_id, bool fresh = false) {
  auto& st = self->state;
  if (auto err = persist(self, st.rules.advance_day(today(st))))
    return err;
  if (!st.rules.reservation_known(order_id)) {
    if (!fresh && !read_ok(st, fetch_reservation(st.rules, st.id, order_id, reader_of(st))))
      return make_error(fail(errc::storage_failure, "could not read the order's reservation"));
    st.cache.touch(order_id, store::write_mark{});
  }
  return {};
}

/// After a command: the reservations it wrote are remembered with their write, the oldest that landed leave
/// memory, and tombstones of closed days are forgotten a batch at a time.
caf::error tidy_reservations(self_ptr self, const restaurant_change& change) {
  auto& st = self->state;
  if (st.sweep_due || st.rules.meta().last_today != st.swept_day) {
    restaurant_change sweep;
    bool more = false;
    if (!read_ok(st, sweep_tombstones(st.rules, st.id, reader_of(st), tombstones_per_sweep, sweep, more)))
      return make_error(fail(errc::storage_failure, "could not read the restaurant's tombstones"));
    if (auto err = persist(self, sweep))
      return err;
    st.sweep_due = more;
    st.swept_day = st.rules.meta().last_today;
    auto swept = st.ctx->store->mark(st.epoch);
    for (auto& entry : sweep.tombstones_erased) // each swept order's record was read: it leaves memory too
      st.cache.touch(entry.second, swept);
  }
  auto mark = st.ctx->store->mark(st.epoch);
  for (auto& oid : change.reservations_put)
    st.cache.touch(oid, mark);
  auto* store = st.ctx->store;
  st.cache.trim([store](const store::write_mark& m) { return store->committed(m); },
                [&st](const std::string& oid) { st.rules.forget_reservation(oid); });
  return {};
}

/// Writes what a command changed, with its events, in one batch (with `also`'s writes, taken from it). On failure
/// the in-memory state is ahead of the store, so the actor stops and the next activation reloads what was really
/// stored.
caf::error persist(self_ptr self, const restaurant_change& change, store::write_batch* also) {
  auto& st = self->state;
  if (change.clock_regressed) {
    st.ctx->probe->clock_regressions.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("restaurant.clock_regressed restaurant={} today={} latest_seen={}", st.id, today(st),
                 st.rules.meta().last_today);
  }
  if (change.empty() && !also)
    return {};
  st.menus.clear();
  if (st.pinned) { // before the write: once it is acknowledged, no reader may be answered the old menu
    st.ctx->menus->unpin(st.id);
    st.pinned = false;
  }
  const auto& info = *st.rules.info();
  auto now = st.ctx->now_ms();
  store::write_batch batch;
  for (auto& op : records_of(st.rules, change)) {
    if (op.value)
      batch.put(store::column::entities, op.key, *op.value);
    else
      batch.erase(store::column::entities, op.key);
  }
  if (also)
    batch.append(std::move(*also)); // taken: the placed order's writes, with its whole order in its event
  auto entity = keys::restaurant_entity(st.id);
  if (change.restaurant_changed)
    batch.append_event(event{0, "restaurant.created", entity, now, info, st.id});
  for (auto& iid : change.upserted_items)
    batch.append_event(event{0, "menu.item_upserted", entity, now, st.rules.items().at(iid), st.id});
  for (auto& iid : change.deleted_items) {
    menu_item gone;
    gone.restaurant_id = st.id;
    gone.id = iid;
    batch.append_event(event{0, "menu.item_deleted", entity, now, std::move(gone), st.id});
  }
  // Free units of plain items and units used per day, in one event: an order changes both, and each event is a
  // key of its own in the write (two events per order before).
  std::vector<stock_level> levels;
  for (auto& iid : change.stock_items) {
    auto& item = st.rules.items().at(iid);
    levels.push_back(stock_level{iid, item.stock, {}, item.version});
  }
  for (auto& [day, iid] : change.changed_day_used)
    levels.push_back(stock_level{iid, st.rules.used(day, iid), day, 0});
  if (!levels.empty())
    batch.append_event(event{0, "stock.levels", entity, now, std::move(levels), st.id});
  auto committed = st.ctx->store->commit(batch, st.epoch);
  if (!committed) {
    spdlog::error("restaurant.persist_failed restaurant={} error={}", st.id, committed.error().message);
    auto err = make_error(committed.error());
    self->quit(err);
    return err;
  }
  st.replies.wrote(*st.ctx->store);
  return {};
}

/// A reservation's answer, and the order it placed (when it placed one).
struct reserved {
  reservation_result held;
  std::optional<order> placed;
};

/// Reserves `cmd`'s lines (prepare() done) and writes them with, when `placing` is given and this reservation is
/// new, the order's first record; the answer waits for the write (gated).
outcome<reserved> reserve(self_ptr self, const set_reservation& cmd, const order* placing) {
  auto& st = self->state;
  auto r = st.rules.reserve(cmd, today(st));
  if (!r)
    return r.error();
  // The order is placed with a reservation written now, never with a replay of one written before (that
  // write placed it already, and the order may have moved on since).
  auto& put = r->change.reservations_put;
  bool fresh = std::any_of(put.begin(), put.end(), [&](const auto& oid) { return oid == cmd.order_id; });
  reserved out;
  store::write_batch placed;
  if (placing && fresh) {
    order o;
    r->value.order_record = place_order_with(*placing, r->value, st.ctx->now_ms(), placed, o);
    out.placed = std::move(o);
  }
  if (auto err = persist(self, r->change, placing && fresh ? &placed : nullptr))
    return to_failure(err);
  if (tidy_reservations(self, r->change))
    // Written already: a storage_failure now would tell the order that nothing was (the order takes that
    // as a refusal when its intent rode with the reservation). Settling finds out what it holds.
    return fail(errc::outcome_unknown, "the reservation was written; the bookkeeping after it failed");
  if (st.ctx->at("restaurant.reserved", st.id)) {
    self->quit(caf::exit_reason::kill);
    return fail(errc::outcome_unknown, "crashed (test)");
  }
  out.held = std::move(r->value);
  return out;
}

/// Every restaurant actor's handlers, built once and shared (shared_behavior.hpp).
const restaurant_actor::behavior_type& restaurant_handlers() {
  static const restaurant_actor::behavior_type handlers{
    [](create_restaurant& cmd) -> caf::result<restaurant> {
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      auto r = st.rules.create(cmd, st.ctx->now_ms());
      if (!r)
        return make_error(r.error());
      if (auto err = persist(self, r->change))
        return err;
      spdlog::info("restaurant.created restaurant={} owner={}", st.id, r->value.owner_id);
      return gated(self, *st.ctx->store, st.replies, std::move(r->value));
    },
    [](upsert_menu_item& cmd) -> caf::result<upsert_result> {
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      auto r = st.rules.upsert_item(cmd);
      if (!r)
        return make_error(r.error());
      if (auto err = persist(self, r->change))
        return err;
      return gated(self, *st.ctx->store, st.replies, std::move(r->value));
    },
    [](patch_menu_item& cmd) -> caf::result<upsert_result> {
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      auto r = st.rules.patch_item(cmd);
      if (!r)
        return make_error(r.error());
      if (auto err = persist(self, r->change))
        return err;
      return gated(self, *st.ctx->store, st.replies, std::move(r->value));
    },
    [](delete_menu_item& cmd) -> caf::result<bool> {
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      auto r = st.rules.delete_item(cmd);
      if (!r)
        return make_error(r.error());
      if (auto err = persist(self, *r))
        return err;
      return gated(self, *st.ctx->store, st.replies, true);
    },
    [](get_menu& cmd) -> caf::result<menu_view> {
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      if (!st.rules.exists())
        return make_error(fail(errc::not_found, "restaurant not found"));
      auto key = std::make_pair(today(st), std::move(cmd.date));
      auto found = st.menus.find(key);
      if (found == st.menus.end()) {
        if (st.menus.size() >= 8) // a few days asked for at most; more is someone walking the calendar
          st.menus.clear();
        found = st.menus.emplace(key, menu_view(st.rules.menu(key.first, key.second))).first;
      }
      if (st.ctx->menus && st.replies.clear(*st.ctx->store)) { // all it shows is committed: readers may skip us
        st.ctx->menus->pin(st.id, *st.ctx->store, st.epoch, found->first.first, found->first.second, found->second);
        st.pinned = true;
      }
      return gated(self, *st.ctx->store, st.replies, found->second);
    },
    [](set_reservation& cmd) -> caf::result<reservation_result> {
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      std::optional<order> placing;
      if (!cmd.order_record.empty()) {
        auto checked = check_order_record(st, cmd);
        if (!checked)
          return make_error(checked.error());
        placing = std::move(*checked);
      }
      if (auto err = prepare(self, cmd.order_id))
        return err;
      if (placing) {
        // Only an order with no record yet is placed here. One with a record but no reservation at this
        // restaurant is not this order's first placement, whatever the command says: a stale activation of it
        // elsewhere (its shard moved), or a peer's mistake. Placing it would overwrite what the order holds
        // (a keyed refusal, another restaurant's order). A replay (the record and this reservation, written
        // together) goes on below and writes nothing.
        auto stored = st.ctx->store->get(store::column::entities, keys::order_record(cmd.order_id));
        if (!stored)
          return make_error(fail(errc::storage_failure, "could not read the order's record"));
        if (*stored && !st.rules.reservations().count(cmd.order_id))
          return make_error(fail(errc::unavailable, "the order has a record already; it is not placed here (retry)"));
      }
      auto r = reserve(self, cmd, placing ? &*placing : nullptr);
      if (!r)
        return make_error(r.error());
      return gated(self, *st.ctx->store, st.replies, std::move(r->held));
    },
    [](place_order& cmd) -> caf::result<order> {
      // A placement without an Idempotency-Key, in this restaurant's shard, sent here by the router instead of
      // to an order actor (local_router: placed_at_restaurant): the order's record, its reservation, listings
      // and events in one write, and no order actor activated for it. Its id is new (the edge drew it), so a
      // record under it is this same command again (delivered twice): answered from the record.
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      if (st.ctx->at("restaurant.placing", st.id)) {
        self->quit(caf::exit_reason::kill);
        return make_error(fail(errc::unavailable, "crashed (test)"));
      }
      if (!st.ctx->shards || cmd.order_id.empty() || !cmd.idempotency_key.empty() ||
          shard_of(keys::order_entity(cmd.order_id), st.ctx->shards->count()) != st.ctx->store->shard())
        return make_error(fail(errc::invalid_argument, "only a keyless order in its restaurant's shard is placed "
                                                       "by the restaurant"));
      // A fresh id (drawn by this node's edge for this command, delivered once: place_order::fresh_id) has
      // nothing stored under it, and its two reads were an eighth of this thread's work per order.
      domain::outcome<std::optional<std::string>> stored = std::optional<std::string>();
      if (!cmd.fresh_id)
        stored = st.ctx->store->get(store::column::entities, keys::order_record(cmd.order_id));
      if (!stored)
        return make_error(fail(errc::storage_failure, "could not read the order's record"));
      order_state rules;
      if (*stored) {
        order o;
        if (!codec::decode(**stored, o))
          corrupt(st.id, keys::order_record(cmd.order_id));
        rules.load(std::move(o), std::move(**stored));
      }
      auto decision = rules.begin_place(cmd, st.ctx->now_ms());
      if (!decision)
        return make_error(decision.error());
      if (decision->replay)
        return gated(self, *st.ctx->store, st.replies, std::move(decision->order));
      if (rules.exists()) // an uncommitted record: an order actor's, never a keyless placement's
        return make_error(fail(errc::unavailable, "the order has a record already; it is not placed here (retry)"));
      if (decision->order.restaurant_id != st.id)
        return make_error(fail(errc::invalid_argument, "the order is for another restaurant"));
      // Its reservation too, if any: a record can be missing beside one (a settled placement's fence whose
      // order never wrote its outcome, an erased refusal), and the stock rules assume it is in memory.
      if (auto err = prepare(self, cmd.order_id, cmd.fresh_id))
        return err;
      rules.commit(std::move(decision->order));
      auto request = rules.reservation_request();
      auto r = reserve(self, request, rules.current());
      if (!r)
        return make_error(r.error());
      if (!r->placed)
        // A reservation held already, with no record readable: the same command delivered twice while the first
        // one's write is on its way. It may well be placed: a retry would take a new id, a second order.
        return make_error(fail(errc::outcome_unknown, "the order may have been placed: read your orders"));
      return gated(self, *st.ctx->store, st.replies, std::move(*r->placed));
    },
    [](settle_reservation& cmd) -> caf::result<settle_result> {
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      if (auto err = prepare(self, cmd.order_id))
        return err;
      auto r = st.rules.settle(cmd, today(st));
      if (auto err = persist(self, r.change))
        return err;
      if (auto err = tidy_reservations(self, r.change))
        return err;
      return gated(self, *st.ctx->store, st.replies, std::move(r.value));
    },
    [](finalize_reservation& cmd) -> caf::result<bool> {
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      if (auto err = prepare(self, cmd.order_id))
        return err;
      auto change = st.rules.finalize(cmd, today(st));
      if (auto err = persist(self, change))
        return err;
      if (auto err = tidy_reservations(self, change))
        return err;
      return gated(self, *st.ctx->store, st.replies, true);
    },
    [](evict_atom) {
      auto self = entity::running();
      auto& st = self->state;
      if (!st.replies.empty()) {
        defer_eviction(self, st.idle, *st.ctx); // passivates once the answers have left
        return;
      }
      request_passivation(self, st.idle, *st.ctx, keys::restaurant_entity(st.id));
    },
    [](idle_tick_atom) {
      auto self = entity::running();
      auto& st = self->state;
      if (!st.replies.empty()) {
        schedule_idle_tick(self, *st.ctx);
        return;
      }
      on_idle_tick(self, st.idle, *st.ctx, keys::restaurant_entity(st.id), st.rules.exists());
    },
    [](committed_atom, uint64_t index, bool ok) {
      auto self = entity::running();
      self->state.replies.release(self, *self->state.ctx->store, index, ok);
    },
  };
  return handlers;
}

restaurant_actor::behavior_type restaurant_behavior(self_ptr self) {
  auto& st = self->state;
  st.epoch = st.ctx->store->epoch(); // before loading: a write that lands after is seen or fenced off
  st.replies.epoch = st.epoch;
  if (auto& board = st.ctx->menus) {
    // What an earlier activation pinned goes (this one writes without knowing of it; loading may write an
    // upgrade of older records), and so does this one's when it stops.
    board->unpin(st.id);
    self->attach_functor([board, id = st.id](const caf::error&) { board->unpin(id); });
  }
  if (!load(self)) // the behavior is still returned; quit() stops the actor before it handles anything
    self->quit(make_error(fail(errc::storage_failure, "could not load restaurant")));
  report_exit(self, *st.ctx, keys::restaurant_entity(st.id));
  start_idle_ticks(self, *st.ctx, st.rules.exists());
  return restaurant_handlers();
}

using restaurant_entity =
  entity_actor<restaurant_actor, restaurant_actor_state, &restaurant_actor_state::id, restaurant_behavior>;

} // namespace

restaurant_actor spawn_restaurant_actor(caf::actor_system& sys, entity_context_ptr ctx, std::string id) {
  return sys.spawn<restaurant_entity>(std::move(ctx), std::move(id));
}

} // namespace bento::actors
