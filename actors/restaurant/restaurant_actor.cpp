#include "actors/restaurant/restaurant_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/common/domain_error.hpp"
#include "actors/common/entity_context.hpp"
#include "actors/common/reply_gate.hpp"
#include "actors/common/keys.hpp"
#include "actors/restaurant/restaurant_records.hpp"
#include "actors/restaurant/restaurant_state.hpp"
#include "actors/store/shard_store.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/calendar.hpp"

namespace bento::actors {

namespace {

using namespace bento::domain;

struct restaurant_actor_state {
  entity_context_ptr ctx;
  uint64_t epoch = 0; // the shard's write epoch this activation loaded its state in (shard_store::epoch)
  std::string id;
  restaurant_state rules;
  idle_state idle;
  reply_gate replies; // answers waiting for this restaurant's writes to be committed
  static inline const char* name = "restaurant";
};

using self_ptr = restaurant_actor::stateful_pointer<restaurant_actor_state>;

[[noreturn]] void corrupt(const std::string& rid, std::string_view key) {
  spdlog::critical("restaurant.corrupt_record restaurant={} key={}", rid, std::string(key));
  std::abort();
}

caf::error persist(self_ptr self, const restaurant_change& change);

bool load(self_ptr self) {
  auto& st = self->state;
  auto header = st.ctx->store->get(store::column::entities, keys::restaurant_record(st.id));
  if (!header) {
    spdlog::error("restaurant.load_failed restaurant={} error={}", st.id, header.error().message);
    return false;
  }
  if (!*header)
    return true;
  if (!load_record(st.rules, st.id, keys::restaurant_record(st.id), **header))
    corrupt(st.id, keys::restaurant_record(st.id));
  auto prefix = keys::restaurant_children(st.id);
  auto scanned = st.ctx->store->scan(store::column::entities, prefix, {}, [&](std::string_view key,
                                                                             std::string_view value) {
    if (!load_record(st.rules, st.id, key, value))
      corrupt(st.id, key);
    return true;
  });
  if (!scanned) {
    spdlog::error("restaurant.load_failed restaurant={} error={}", st.id, scanned.error().message);
    return false;
  }
  auto upgrade = st.rules.finish_load();
  if (!upgrade.empty()) {
    spdlog::info("restaurant.records_upgraded restaurant={} day_counts={}", st.id, upgrade.changed_day_used.size());
    if (persist(self, upgrade))
      return false;
  }
  return true;
}

std::string today(const restaurant_actor_state& st) {
  return local_date(st.ctx->now_ms());
}

/// Writes what a command changed, with its events, in one batch. On failure the in-memory state is ahead of
/// the store, so the actor stops and the next activation reloads what was really stored.
caf::error persist(self_ptr self, const restaurant_change& change) {
  auto& st = self->state;
  if (change.clock_regressed) {
    st.ctx->probe->clock_regressions.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("restaurant.clock_regressed restaurant={} today={} latest_seen={}", st.id, today(st),
                 st.rules.meta().last_today);
  }
  if (change.empty())
    return {};
  const auto& info = *st.rules.info();
  auto now = st.ctx->now_ms();
  store::write_batch batch;
  for (auto& op : records_of(st.rules, change)) {
    if (op.value)
      batch.put(store::column::entities, op.key, *op.value);
    else
      batch.erase(store::column::entities, op.key);
  }
  auto entity = keys::restaurant_entity(st.id);
  if (change.restaurant_changed)
    batch.append_event(event{0, "restaurant.created", entity, now, info, st.id});
  for (auto& iid : change.upserted_items)
    batch.append_event(event{0, "menu.item_upserted", entity, now, st.rules.items().at(iid), st.id});
  std::vector<stock_level> levels;
  for (auto& iid : change.stock_items) {
    auto& item = st.rules.items().at(iid);
    levels.push_back(stock_level{iid, item.stock, {}, item.version});
  }
  if (!levels.empty())
    batch.append_event(event{0, "stock.changed", entity, now, std::move(levels), st.id});
  for (auto& iid : change.deleted_items) {
    menu_item gone;
    gone.restaurant_id = st.id;
    gone.id = iid;
    batch.append_event(event{0, "menu.item_deleted", entity, now, std::move(gone), st.id});
  }
  std::vector<stock_level> used;
  for (auto& [day, iid] : change.changed_day_used)
    used.push_back(stock_level{iid, st.rules.used(day, iid), day, 0});
  if (!used.empty())
    batch.append_event(event{0, "stock.day_used", entity, now, std::move(used), st.id});
  auto committed = st.ctx->store->commit(batch, st.epoch);
  if (!committed) {
    spdlog::error("restaurant.persist_failed restaurant={} error={}", st.id, committed.error().message);
    auto err = make_error(committed.error());
    self->quit(err);
    return err;
  }
  return {};
}

restaurant_actor::behavior_type restaurant_behavior(self_ptr self, entity_context_ptr ctx, std::string id) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.epoch = st.ctx->store->epoch(); // before loading: a write that lands after is seen or fenced off
  st.replies.epoch = st.epoch;
  st.id = std::move(id);
  if (!load(self)) // the behavior is still returned; quit() stops the actor before it handles anything
    self->quit(make_error(fail(errc::storage_failure, "could not load restaurant")));
  report_exit_to_router(self, *st.ctx, keys::restaurant_entity(st.id));
  schedule_idle_tick(self, *st.ctx);
  return {
    [self](create_restaurant& cmd) -> caf::result<restaurant> {
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
    [self](upsert_menu_item& cmd) -> caf::result<upsert_result> {
      auto& st = self->state;
      st.idle.touch();
      auto r = st.rules.upsert_item(cmd);
      if (!r)
        return make_error(r.error());
      if (auto err = persist(self, r->change))
        return err;
      return gated(self, *st.ctx->store, st.replies, std::move(r->value));
    },
    [self](patch_menu_item& cmd) -> caf::result<upsert_result> {
      auto& st = self->state;
      st.idle.touch();
      auto r = st.rules.patch_item(cmd);
      if (!r)
        return make_error(r.error());
      if (auto err = persist(self, r->change))
        return err;
      return gated(self, *st.ctx->store, st.replies, std::move(r->value));
    },
    [self](delete_menu_item& cmd) -> caf::result<bool> {
      auto& st = self->state;
      st.idle.touch();
      auto r = st.rules.delete_item(cmd);
      if (!r)
        return make_error(r.error());
      if (auto err = persist(self, *r))
        return err;
      return gated(self, *st.ctx->store, st.replies, true);
    },
    [self](get_menu& cmd) -> caf::result<menu_view> {
      auto& st = self->state;
      st.idle.touch();
      if (!st.rules.exists())
        return make_error(fail(errc::not_found, "restaurant not found"));
      return gated(self, *st.ctx->store, st.replies, st.rules.menu(today(st), cmd.date));
    },
    [self](set_reservation& cmd) -> caf::result<reservation_result> {
      auto& st = self->state;
      st.idle.touch();
      if (auto err = persist(self, st.rules.advance_day(today(st))))
        return err;
      auto r = st.rules.reserve(cmd, today(st));
      if (!r)
        return make_error(r.error());
      if (auto err = persist(self, r->change))
        return err;
      if (st.ctx->at("restaurant.reserved", st.id)) {
        self->quit(caf::exit_reason::kill);
        return make_error(fail(errc::outcome_unknown, "crashed (test)"));
      }
      return gated(self, *st.ctx->store, st.replies, std::move(r->value));
    },
    [self](settle_reservation& cmd) -> caf::result<settle_result> {
      auto& st = self->state;
      st.idle.touch();
      if (auto err = persist(self, st.rules.advance_day(today(st))))
        return err;
      auto r = st.rules.settle(cmd, today(st));
      if (auto err = persist(self, r.change))
        return err;
      return gated(self, *st.ctx->store, st.replies, std::move(r.value));
    },
    [self](finalize_reservation& cmd) -> caf::result<bool> {
      auto& st = self->state;
      st.idle.touch();
      if (auto err = persist(self, st.rules.advance_day(today(st))))
        return err;
      if (auto err = persist(self, st.rules.finalize(cmd, today(st))))
        return err;
      return gated(self, *st.ctx->store, st.replies, true);
    },
    [self](evict_atom) {
      auto& st = self->state;
      if (!st.replies.empty()) {
        schedule_idle_tick(self, *st.ctx); // passivates once the answers have left
        return;
      }
      request_passivation(self, st.idle, *st.ctx, keys::restaurant_entity(st.id));
    },
    [self](idle_tick_atom) {
      auto& st = self->state;
      if (!st.replies.empty()) {
        schedule_idle_tick(self, *st.ctx);
        return;
      }
      on_idle_tick(self, st.idle, *st.ctx, keys::restaurant_entity(st.id), st.rules.exists());
    },
    [self](committed_atom, uint64_t index, bool ok) { self->state.replies.release(index, ok); },
  };
}

} // namespace

restaurant_actor spawn_restaurant_actor(caf::actor_system& sys, entity_context_ptr ctx, std::string id) {
  return sys.spawn(restaurant_behavior, std::move(ctx), std::move(id));
}

} // namespace bento::actors
