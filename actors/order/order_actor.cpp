#include "actors/order/order_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/common/domain_error.hpp"
#include "actors/common/entity_context.hpp"
#include "actors/common/keys.hpp"
#include "actors/order/order_state.hpp"
#include "actors/order_index/order_index_writes.hpp"
#include "actors/store/entity_store.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/calendar.hpp"

namespace bento::actors {

namespace {

using namespace bento::domain;

struct order_actor_state {
  entity_context_ptr ctx;
  std::string id;
  order_state rules;
  idle_state idle;
  static inline const char* name = "order";
};

using self_ptr = order_actor::stateful_pointer<order_actor_state>;

/// A refusal that the restaurant gives before changing anything: nothing to undo.
bool clean_refusal(const failure& f) {
  switch (f.code) {
    case errc::out_of_stock:
    case errc::invalid_argument:
    case errc::meal_unavailable:
    case errc::not_found:
      return true;
    default:
      return false;
  }
}

std::string record_key(const order_actor_state& st) {
  return keys::order_record(st.id);
}

/// Writes the order with its index entries and event. A failed write leaves memory ahead of the store: stop,
/// and let the next activation recover from what is stored.
bool pending(const order_actor_state& st) {
  return st.rules.exists() && st.rules.current()->pending_lines.has_value();
}

bool commit(self_ptr self, order o, const char* event_type) {
  auto& st = self->state;
  store::write_batch batch;
  auto bytes = codec::encode(o);
  batch.put(store::column::entities, record_key(st), bytes);
  if (o.pending_lines)
    batch.put(store::column::indexes, keys::pending_order(st.id), {});
  else if (pending(st))
    batch.erase(store::column::indexes, keys::pending_order(st.id));
  add_index_writes(batch, st.rules.exists() ? &*st.rules.current() : nullptr, o);
  if (event_type)
    batch.append_event(event{0, event_type, keys::order_entity(st.id), o.updated_at_ms, o, o.restaurant_id});
  auto done = st.ctx->store->commit(batch);
  if (!done) {
    spdlog::error("order.persist_failed order={} error={}", st.id, done.error().message);
    self->quit(make_error(done.error()));
    return false;
  }
  st.rules.commit(std::move(o));
  return true;
}

bool erase_intent(self_ptr self) {
  auto& st = self->state;
  store::write_batch batch;
  batch.erase(store::column::entities, record_key(st));
  batch.erase(store::column::indexes, keys::pending_order(st.id));
  auto done = st.ctx->store->commit(batch);
  if (!done) {
    self->quit(make_error(done.error()));
    return false;
  }
  st.rules.reset();
  return true;
}

/// Undoes an interrupted reservation change: the restaurant is told again what the last committed state of
/// the order holds (nothing for a placement that never committed). Idempotent, so it is safe to repeat.
void recover(self_ptr self) {
  auto& st = self->state;
  auto o = *st.rules.current();
  std::vector<order_line> target;
  if (o.committed && o.status != order_status::cancelled && o.status != order_status::delivered)
    target = o.lines;
  spdlog::warn("order.recovering order={} committed={}", st.id, o.committed);
  self->request(st.ctx->router, st.ctx->call_timeout, set_reservation{o.restaurant_id, st.id, target, {}, o.date})
    .await(
      [self, o](reservation_result&) mutable {
        if (!o.committed) {
          erase_intent(self);
          return;
        }
        o.pending_lines.reset();
        commit(self, std::move(o), nullptr);
      },
      [self, o](caf::error& err) {
        auto f = to_failure(err);
        if (!o.committed && f.code == errc::not_found) {
          erase_intent(self); // no such restaurant: nothing was ever reserved
          return;
        }
        spdlog::error("order.recovery_failed order={} error={}", self->state.id, f.message);
      });
}

caf::error still_recovering(self_ptr self) {
  recover(self);
  return make_error(fail(errc::overloaded, "order is recovering from an interrupted change; retry"));
}

order_actor::behavior_type order_behavior(self_ptr self, entity_context_ptr ctx, std::string id) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.id = std::move(id);
  auto loaded = st.ctx->store->get(store::column::entities, record_key(st));
  if (!loaded) {
    // The behavior is still returned; quit() stops the actor before it handles anything.
    self->quit(make_error(loaded.error()));
  } else if (*loaded) {
    order o;
    if (!codec::decode(**loaded, o)) {
      spdlog::critical("order.corrupt_record order={}", st.id);
      std::abort();
    }
    st.rules.load(std::move(o));
    if (pending(st))
      recover(self);
  }
  report_exit_to_router(self, *st.ctx, keys::order_entity(st.id));
  schedule_idle_tick(self, *st.ctx);
  return {
    [self](place_order& cmd) -> caf::result<order> {
      auto& st = self->state;
      st.idle.touch();
      if (pending(st))
        return still_recovering(self);
      auto now = now_ms();
      auto decision = st.rules.begin_place(cmd, now);
      if (!decision)
        return make_error(decision.error());
      if (decision->replay)
        return decision->order;
      auto intent = std::move(decision->order);
      if (!commit(self, intent, nullptr))
        return make_error(fail(errc::storage_failure, "could not record the order"));
      auto rp = self->make_response_promise<order>();
      set_reservation req{intent.restaurant_id, intent.id, *intent.pending_lines, intent.meal, intent.date};
      self->request(self->state.ctx->router, self->state.ctx->call_timeout, std::move(req))
        .await(
          [self, rp, intent](reservation_result& r) mutable {
            auto& st = self->state;
            auto placed = st.rules.complete_place(std::move(intent), r, now_ms());
            if (!commit(self, placed, "order.placed")) {
              rp.deliver(make_error(fail(errc::outcome_unknown, "order could not be stored")));
              return;
            }
            spdlog::debug("order.placed order={} restaurant={} customer={} total_cents={}", placed.id,
                         placed.restaurant_id, placed.customer_id, placed.total_cents);
            rp.deliver(std::move(placed));
          },
          [self, rp](caf::error& err) mutable {
            auto f = to_failure(err);
            if (clean_refusal(f)) {
              erase_intent(self);
            } else {
              recover(self);
              f = fail(errc::outcome_unknown, "the restaurant did not answer; the order was not placed");
            }
            rp.deliver(make_error(f));
          });
      return rp;
    },
    [self](get_order& cmd) -> caf::result<order> {
      auto& st = self->state;
      st.idle.touch();
      auto o = st.rules.read(cmd.caller);
      if (!o)
        return make_error(o.error());
      return std::move(*o);
    },
    [self](transition_order& cmd) -> caf::result<order> {
      auto& st = self->state;
      st.idle.touch();
      if (pending(st))
        return still_recovering(self);
      auto plan = st.rules.plan_transition(cmd, now_ms());
      if (!plan)
        return make_error(plan.error());
      auto event_type = plan->next.status == order_status::confirmed   ? "order.confirmed"
                        : plan->next.status == order_status::delivered ? "order.delivered"
                                                                       : "order.cancelled";
      if (!plan->release_stock) {
        if (!commit(self, plan->next, event_type))
          return make_error(fail(errc::outcome_unknown, "order could not be stored"));
        if (plan->finalize)
          self->send(st.ctx->router, finalize_reservation{plan->next.restaurant_id, st.id});
        spdlog::debug("{} order={}", event_type, st.id);
        return plan->next;
      }
      if (!commit(self, st.rules.with_intent({}), nullptr))
        return make_error(fail(errc::storage_failure, "could not record the cancellation"));
      auto rp = self->make_response_promise<order>();
      auto next = std::move(plan->next);
      self->request(st.ctx->router, st.ctx->call_timeout, set_reservation{next.restaurant_id, st.id, {}, {}, next.date})
        .await(
          [self, rp, next, event_type](reservation_result&) mutable {
            next.pending_lines.reset();
            if (!commit(self, next, event_type)) {
              rp.deliver(make_error(fail(errc::outcome_unknown, "order could not be stored")));
              return;
            }
            spdlog::debug("{} order={}", event_type, next.id);
            rp.deliver(std::move(next));
          },
          [self, rp](caf::error&) mutable {
            recover(self);
            rp.deliver(make_error(fail(errc::outcome_unknown, "the restaurant did not answer; not cancelled")));
          });
      return rp;
    },
    [self](edit_order& cmd) -> caf::result<order> {
      auto& st = self->state;
      st.idle.touch();
      if (pending(st))
        return still_recovering(self);
      auto plan = st.rules.plan_edit(cmd);
      if (!plan)
        return make_error(plan.error());
      if (!plan->touches_stock) {
        reservation_result unchanged;
        auto next = st.rules.complete_edit(*plan, unchanged, now_ms());
        if (!commit(self, next, "order.updated"))
          return make_error(fail(errc::outcome_unknown, "order could not be stored"));
        return next;
      }
      if (!commit(self, st.rules.with_intent(plan->target), nullptr))
        return make_error(fail(errc::storage_failure, "could not record the edit"));
      auto rp = self->make_response_promise<order>();
      auto& o = *st.rules.current();
      set_reservation req{o.restaurant_id, st.id, plan->target, o.meal, o.date};
      self->request(st.ctx->router, st.ctx->call_timeout, std::move(req))
        .await(
          [self, rp, p = *plan](reservation_result& r) mutable {
            auto& st = self->state;
            auto next = st.rules.complete_edit(p, r, now_ms());
            if (!commit(self, next, "order.updated")) {
              rp.deliver(make_error(fail(errc::outcome_unknown, "order could not be stored")));
              return;
            }
            rp.deliver(std::move(next));
          },
          [self, rp](caf::error& err) mutable {
            auto& st = self->state;
            auto f = to_failure(err);
            if (clean_refusal(f)) {
              auto back = *st.rules.current();
              back.pending_lines.reset();
              commit(self, std::move(back), nullptr);
            } else {
              recover(self);
              f = fail(errc::outcome_unknown, "the restaurant did not answer; the order was not changed");
            }
            rp.deliver(make_error(f));
          });
      return rp;
    },
    [self](evict_atom) {
      auto& st = self->state;
      if (pending(st)) {
        // Stopping now could leave stock held until the next start: recover first; the idle tick retries
        // and passivates the order once it is settled.
        recover(self);
        return;
      }
      request_passivation(self, st.idle, *st.ctx, keys::order_entity(st.id));
    },
    [](wake_atom) {
      // Activation already started the recovery of an interrupted change, if there was one.
    },
    [self](idle_tick_atom) {
      auto& st = self->state;
      if (pending(st)) {
        // The last recovery attempt failed (restaurant unreachable): retry rather than passivate with stock
        // possibly held for this order.
        recover(self);
        schedule_idle_tick(self, *st.ctx);
        return;
      }
      on_idle_tick(self, st.idle, *st.ctx, keys::order_entity(st.id), st.rules.exists());
    },
  };
}

} // namespace

order_actor spawn_order_actor(caf::actor_system& sys, entity_context_ptr ctx, std::string id) {
  return sys.spawn(order_behavior, std::move(ctx), std::move(id));
}

} // namespace bento::actors
