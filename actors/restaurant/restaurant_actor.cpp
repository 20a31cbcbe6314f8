#include "actors/restaurant/restaurant_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/common/domain_error.hpp"
#include "actors/common/entity_context.hpp"
#include "actors/common/keys.hpp"
#include "actors/restaurant/restaurant_state.hpp"
#include "actors/store/entity_store.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/calendar.hpp"

namespace bento::actors {

namespace {

using namespace bento::domain;

struct restaurant_actor_state {
  entity_context_ptr ctx;
  std::string id;
  restaurant_state rules;
  idle_state idle;
  static inline const char* name = "restaurant";
};

using self_ptr = restaurant_actor::stateful_pointer<restaurant_actor_state>;

[[noreturn]] void corrupt(const std::string& rid, std::string_view key) {
  spdlog::critical("restaurant.corrupt_record restaurant={} key={}", rid, std::string(key));
  std::abort();
}

bool load(restaurant_actor_state& st) {
  auto header = st.ctx->store->get(store::column::entities, keys::restaurant_record(st.id));
  if (!header) {
    spdlog::error("restaurant.load_failed restaurant={} error={}", st.id, header.error().message);
    return false;
  }
  if (!*header)
    return true;
  restaurant r;
  if (!codec::decode(**header, r))
    corrupt(st.id, keys::restaurant_record(st.id));
  st.rules.load(std::move(r));
  auto prefix = keys::restaurant_children(st.id);
  auto scanned = st.ctx->store->scan(store::column::entities, prefix, {}, [&](std::string_view key,
                                                                             std::string_view value) {
    auto rest = key.substr(prefix.size());
    if (rest.rfind("i/", 0) == 0) {
      menu_item item;
      if (!codec::decode(value, item))
        corrupt(st.id, key);
      st.rules.load(std::move(item));
    } else if (rest.rfind("v/", 0) == 0) {
      reservation resv;
      if (!codec::decode(value, resv))
        corrupt(st.id, key);
      st.rules.load(std::move(resv));
    } else if (rest.rfind("d/", 0) == 0) {
      auto promise = keys::parse_promise(rest, value);
      if (!promise)
        corrupt(st.id, key);
      st.rules.load_promise(promise->day, promise->item_id, promise->units);
    }
    return true;
  });
  if (!scanned) {
    spdlog::error("restaurant.load_failed restaurant={} error={}", st.id, scanned.error().message);
    return false;
  }
  return true;
}

/// Writes what a command changed, with its events, in one batch. On failure the in-memory state is ahead of
/// the store, so the actor stops and the next activation reloads what was really stored.
caf::error persist(self_ptr self, const restaurant_change& change, const char* item_event_type) {
  auto& st = self->state;
  const auto& info = *st.rules.info();
  auto now = now_ms();
  store::write_batch batch;
  auto entity = keys::restaurant_entity(st.id);
  if (change.restaurant_changed) {
    batch.put(store::column::entities, keys::restaurant_record(st.id), codec::encode(info));
    batch.append_event(event{0, "restaurant.created", entity, now, info, st.id});
  }
  std::vector<stock_level> levels;
  for (auto& iid : change.changed_items) {
    auto& item = st.rules.items().at(iid);
    batch.put(store::column::entities, keys::item_record(st.id, iid), codec::encode(item));
    if (item_event_type)
      batch.append_event(event{0, item_event_type, entity, now, item, st.id});
    else
      levels.push_back(stock_level{iid, item.stock, item.stock_date});
  }
  if (!levels.empty())
    batch.append_event(event{0, "stock.changed", entity, now, std::move(levels), st.id});
  for (auto& iid : change.deleted_items) {
    batch.erase(store::column::entities, keys::item_record(st.id, iid));
    menu_item gone;
    gone.restaurant_id = st.id;
    gone.id = iid;
    batch.append_event(event{0, "menu.item_deleted", entity, now, std::move(gone), st.id});
  }
  if (change.reservation_put)
    batch.put(store::column::entities, keys::reservation_record(st.id, *change.reservation_put),
              codec::encode(st.rules.reservations().at(*change.reservation_put)));
  if (change.reservation_erased)
    batch.erase(store::column::entities, keys::reservation_record(st.id, *change.reservation_erased));
  std::vector<stock_level> promises;
  for (auto& [day, iid] : change.changed_promises) {
    auto units = st.rules.promised(day, iid);
    auto key = keys::promised_record(st.id, day, iid);
    if (units > 0)
      batch.put(store::column::entities, key, std::to_string(units));
    else
      batch.erase(store::column::entities, key);
    promises.push_back(stock_level{iid, units, day});
  }
  if (!promises.empty())
    batch.append_event(event{0, "stock.promised", entity, now, std::move(promises), st.id});
  if (batch.empty())
    return {};
  auto committed = st.ctx->store->commit(batch);
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
  st.id = std::move(id);
  if (!load(st)) // the behavior is still returned; quit() stops the actor before it handles anything
    self->quit(make_error(fail(errc::storage_failure, "could not load restaurant")));
  report_exit_to_router(self, *st.ctx, keys::restaurant_entity(st.id));
  schedule_idle_tick(self, *st.ctx);
  return {
    [self](create_restaurant& cmd) -> caf::result<restaurant> {
      auto& st = self->state;
      st.idle.touch();
      auto r = st.rules.create(cmd, now_ms());
      if (!r)
        return make_error(r.error());
      if (auto err = persist(self, r->change, nullptr))
        return err;
      spdlog::info("restaurant.created restaurant={} owner={}", st.id, r->value.owner_id);
      return std::move(r->value);
    },
    [self](upsert_menu_item& cmd) -> caf::result<upsert_result> {
      auto& st = self->state;
      st.idle.touch();
      auto r = st.rules.upsert_item(cmd, local_date(now_ms()));
      if (!r)
        return make_error(r.error());
      if (auto err = persist(self, r->change, "menu.item_upserted"))
        return err;
      return std::move(r->value);
    },
    [self](delete_menu_item& cmd) -> caf::result<bool> {
      auto& st = self->state;
      st.idle.touch();
      auto r = st.rules.delete_item(cmd);
      if (!r)
        return make_error(r.error());
      if (auto err = persist(self, *r, nullptr))
        return err;
      return true;
    },
    [self](get_menu& cmd) -> caf::result<menu_view> {
      auto& st = self->state;
      st.idle.touch();
      if (!st.rules.exists())
        return make_error(fail(errc::not_found, "restaurant not found"));
      return st.rules.menu(local_date(now_ms()), cmd.date);
    },
    [self](set_reservation& cmd) -> caf::result<reservation_result> {
      auto& st = self->state;
      st.idle.touch();
      auto r = st.rules.reserve(cmd, local_date(now_ms()));
      if (!r)
        return make_error(r.error());
      if (auto err = persist(self, r->change, nullptr))
        return err;
      return std::move(r->value);
    },
    [self](finalize_reservation& cmd) {
      auto& st = self->state;
      st.idle.touch();
      persist(self, st.rules.finalize(cmd.order_id), nullptr);
    },
    [self](evict_atom) {
      auto& st = self->state;
      request_passivation(self, st.idle, *st.ctx, keys::restaurant_entity(st.id));
    },
    [self](idle_tick_atom) {
      auto& st = self->state;
      on_idle_tick(self, st.idle, *st.ctx, keys::restaurant_entity(st.id), st.rules.exists());
    },
  };
}

} // namespace

restaurant_actor spawn_restaurant_actor(caf::actor_system& sys, entity_context_ptr ctx, std::string id) {
  return sys.spawn(restaurant_behavior, std::move(ctx), std::move(id));
}

} // namespace bento::actors
