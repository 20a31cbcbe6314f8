#pragma once
// The user actor's handling of open_restaurant: at most ctx.max_restaurants_per_merchant restaurants per
// merchant, crash-safe across the two entities (see restaurant_slots.hpp). A template over the actor type so
// that user_actor.cpp needs only a handler line and a state member. Every step awaits its answer: the next
// message to this user (another creation) sees the outcome of this one.
#include <memory>

#include <spdlog/spdlog.h>

#include "actors/common/domain_error.hpp"
#include "actors/common/entity_context.hpp"
#include "actors/common/keys.hpp"
#include "actors/store/shard_store.hpp"
#include "actors/user/restaurant_slots.hpp"
#include "protocol/domain/calendar.hpp"

namespace bento::actors {

namespace open_restaurant_detail {

/// Writes (or with null, erases) one slot record.
inline domain::outcome<domain::unit_t> write_slot(const entity_context& ctx, const std::string& username,
                                                  const std::string& rid, const restaurant_slot* slot) {
  store::write_batch b;
  auto key = keys::restaurant_slot(username, rid);
  if (slot)
    b.put(store::column::entities, key, restaurant_slots::encode(*slot));
  else
    b.erase(store::column::entities, key);
  return ctx.store->commit(b);
}

inline domain::outcome<domain::unit_t> load_slots(const entity_context& ctx, const std::string& username,
                                                  restaurant_slots& slots) {
  auto prefix = keys::restaurant_slots(username);
  auto scanned = ctx.store->scan(store::column::entities, prefix, {}, [&](std::string_view key, std::string_view v) {
    slots.load(std::string(key.substr(prefix.size())), v);
    return true;
  });
  if (scanned)
    slots.mark_loaded();
  return scanned;
}

/// A creation can be in flight at most this long (the request's own timeout, twice for margin): a pending slot
/// older than that belongs to a creation that ended, one way or the other, possibly with the node.
inline int64_t settle_ms(const entity_context& ctx) {
  return 2 * static_cast<int64_t>(ctx.call_timeout.count());
}

template <class Self>
struct opening {
  Self* self;
  std::shared_ptr<const entity_context> ctx;
  std::string username;
  restaurant_slots* slots; // the user actor's state: lives as long as the actor that runs these callbacks
  domain::create_restaurant create;
  caf::typed_response_promise<domain::restaurant> promise;
  std::vector<std::string> to_check; // stale pending slots not yet checked against their restaurant

  void create_now() {
    auto now = domain::now_ms();
    restaurant_slot pending{false, now};
    // Recorded first: from here the slot counts, whatever happens to this node before the restaurant answers.
    if (auto w = write_slot(*ctx, username, create.restaurant_id, &pending); !w) {
      promise.deliver(make_error(w.error()));
      return;
    }
    slots->reserve(create.restaurant_id, now);
    auto rid = create.restaurant_id;
    auto me = *this;
    self->request(ctx->router, ctx->call_timeout, std::move(create))
      .await(
        [me](domain::restaurant& r) mutable {
          restaurant_slot ok{true, 0};
          // If this write fails the slot stays pending and is confirmed by the next check: still counted.
          if (write_slot(*me.ctx, me.username, r.id, &ok))
            me.slots->confirm(r.id);
          me.promise.deliver(std::move(r));
        },
        [me, rid](caf::error& err) mutable {
          auto f = to_failure(err);
          bool refused = f.code == domain::errc::forbidden || f.code == domain::errc::invalid_argument
                         || f.code == domain::errc::already_exists;
          // A refusal created nothing: free the slot. Any other failure may have created the restaurant: the
          // slot stays pending until a check finds out.
          if (refused && write_slot(*me.ctx, me.username, rid, nullptr))
            me.slots->release(rid);
          me.promise.deliver(make_error(f));
        });
  }

  /// At the limit, checks stale pending slots one at a time until one is freed or none is left.
  void run() {
    auto limit = ctx->max_restaurants_per_merchant;
    if (slots->count() < limit) {
      create_now();
      return;
    }
    if (to_check.empty()) {
      promise.deliver(make_error(restaurant_slots::limit_reached(limit)));
      return;
    }
    auto rid = std::move(to_check.back());
    to_check.pop_back();
    auto me = *this;
    self->request(ctx->router, ctx->call_timeout, domain::get_menu{rid, {}})
      .await(
        [me, rid](domain::menu_view&) mutable {
          restaurant_slot ok{true, 0};
          if (write_slot(*me.ctx, me.username, rid, &ok))
            me.slots->confirm(rid);
          me.run();
        },
        [me, rid](caf::error& err) mutable {
          if (to_failure(err).code == domain::errc::not_found) {
            spdlog::warn("user.restaurant_slot_freed user={} restaurant={}", me.username, rid);
            if (write_slot(*me.ctx, me.username, rid, nullptr))
              me.slots->release(rid);
          }
          me.run(); // unknown (restaurant unreachable): the slot still counts
        });
  }
};

} // namespace open_restaurant_detail

template <class Self>
caf::result<domain::restaurant> open_restaurant_for(Self* self, std::shared_ptr<const entity_context> ctx,
                                                    const std::string& username,
                                                    const std::optional<domain::user>& merchant,
                                                    restaurant_slots& slots, domain::open_restaurant cmd) {
  namespace d = open_restaurant_detail;
  if (auto f = restaurant_slots::check(cmd, merchant))
    return make_error(*f);
  if (!slots.loaded())
    if (auto loaded = d::load_slots(*ctx, username, slots); !loaded)
      return make_error(loaded.error());
  if (slots.find(cmd.create.restaurant_id))
    return make_error(domain::fail(domain::errc::already_exists, "restaurant exists"));
  auto rp = self->template make_response_promise<domain::restaurant>();
  auto stale = slots.stale(domain::now_ms(), d::settle_ms(*ctx));
  d::opening<Self>{self, std::move(ctx), username, &slots, std::move(cmd.create), rp, std::move(stale)}.run();
  return rp;
}

} // namespace bento::actors
