#include "actors/order/order_actor.hpp"

#include <utility>

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
#include "actors/store/shard_store.hpp"
#include "protocol/codec/entity_codec.hpp"

namespace bento::actors {

namespace {

using namespace bento::domain;

/// This order's share of probe->orders_settling, given back however the actor ends.
struct settling_gauge {
  std::shared_ptr<entity_probe> probe;
  bool counted = false;
  void set(bool on) {
    if (on != counted && probe) {
      counted = on;
      probe->orders_settling.fetch_add(on ? 1 : -1, std::memory_order_relaxed);
    }
  }
  ~settling_gauge() { set(false); }
};

struct order_actor_state {
  entity_context_ptr ctx;
  uint64_t epoch = 0; // the shard's write epoch this activation loaded its state in (shard_store::epoch)
  std::string id;
  order_state rules;
  idle_state idle;
  bool settling = false; // a settle or finalize request is out
  bool intent_in_flight = false; // an intent waits to be committed before the restaurant is asked
  bool intent_unwritten = false; // a first placement's intent the restaurant writes with its reservation
  settling_gauge gauge;
  uint32_t settle_failures = 0;
  store::write_mark last_write; // where this actor's last write ends: once applied, the store holds the record
  bool absent_tick = false; // a tick towards the empty timeout waits (absent_check)
  bool just_activated = true; // its record was read at activation: the first command needs no second read
  reply_gate replies; // answers waiting for this order's writes to be committed
  static inline const char* name = "order";
};

using entity = shared_behavior_entity<order_actor, order_actor_state>;
using self_ptr = entity::pointer;

int64_t now(const order_actor_state& st) {
  return st.ctx->now_ms();
}

void count_settling(order_actor_state& st, bool on) {
  st.gauge.set(on);
}

/// An order that does not exist (a read of an unknown id, a refused first placement) ticks towards the shorter
/// empty timeout, one tick at a time. Not at activation: most orders are activated to be placed, and a tick each
/// (a message to the ticker, one back five seconds later) was ~5,000 messages a second in a rush.
void tick_while_absent(self_ptr self) {
  auto& st = self->state;
  if (!st.rules.exists() && !st.absent_tick) {
    st.absent_tick = true;
    schedule_idle_tick(self, *st.ctx);
  }
}

/// Writes the order with its index entries, its pending marker and its event in one batch. A failed write
/// leaves memory ahead of the store: stop, and let the next activation settle from what is stored.
outcome<unit_t> commit(self_ptr self, order o, const char* event_type) {
  auto& st = self->state;
  store::write_batch batch;
  auto bytes = codec::encode(o);
  batch.put(store::column::entities, keys::order_record(st.id), bytes);
  if (o.intent)
    batch.put(store::column::indexes, keys::pending_order(st.id), {});
  else if (st.rules.has_intent())
    batch.erase(store::column::indexes, keys::pending_order(st.id));
  add_index_writes(batch, st.rules.exists() ? &*st.rules.current() : nullptr, o);
  if (event_type)
    append_order_event(batch, event_type, st.id, o, bytes);
  auto done = st.ctx->store->commit(batch, st.epoch);
  if (!done) {
    spdlog::error("order.persist_failed order={} error={}", st.id, done.error().message);
    self->quit(make_error(done.error()));
    return done;
  }
  // Info level: the trail a chaos run's diagnosis follows (off at the default warn level).
  spdlog::info("order.written order={} status={} intent={} seq={} version={} committed={}", st.id,
               to_string(o.status), o.intent ? static_cast<int>(o.intent->kind) : -1,
               o.intent ? o.intent->seq : o.reservation_seq, o.version, o.committed);
  st.replies.wrote(*st.ctx->store);
  st.last_write = st.replies.own();
  st.rules.commit(std::move(o), std::move(bytes));
  if (!st.rules.has_intent())
    count_settling(st, false);
  return done;
}

/// A first placement the restaurant placed itself, in the reservation's batch (set_reservation::order_record):
/// the order takes that record as its own, with nothing to write. False if `record` is not this order placed.
bool adopt_placed(self_ptr self, std::string record) {
  auto& st = self->state;
  // Only what this order asked for, placed: anything else (a peer's mistake) is not adopted, and the order
  // settles with the restaurant as after any unclear answer.
  order placed;
  if (record.empty() || !codec::decode(record, placed) || !st.rules.is_placed_form(placed))
    return false;
  spdlog::info("order.adopted order={} status={} version={}", st.id, to_string(placed.status), placed.version);
  st.intent_unwritten = false;
  st.last_write = st.ctx->store->mark(st.epoch); // the restaurant's write: what the answer must wait for
  st.rules.commit(std::move(placed), std::move(record));
  count_settling(st, false);
  return true;
}

enum class stored_placement { adopted, absent, unreadable };

/// The same from the store: after an answer that did not carry the record (a replay of the restaurant's own
/// answer, or a settle after the answer was lost). Unreadable is not absent: writing the order as placed then
/// would write it a second time (another record, a second order.placed event) if the restaurant had placed it.
stored_placement adopt_stored_placed(self_ptr self) {
  auto& st = self->state;
  auto loaded = st.ctx->store->get(store::column::entities, keys::order_record(st.id));
  if (!loaded)
    return stored_placement::unreadable;
  return *loaded && adopt_placed(self, std::move(**loaded)) ? stored_placement::adopted : stored_placement::absent;
}

/// A first placement refused outright whose intent was never written (it rode with the reservation): the order
/// forgets it, with nothing to erase.
void forget(self_ptr self) {
  auto& st = self->state;
  st.rules.reset();
  count_settling(st, false);
  tick_while_absent(self); // no order any more: it goes after the empty timeout
}

/// A placement the restaurant refused outright: no order, no trace (the restaurant recorded nothing either).
bool erase(self_ptr self) {
  auto& st = self->state;
  store::write_batch batch;
  batch.erase(store::column::entities, keys::order_record(st.id));
  batch.erase(store::column::indexes, keys::pending_order(st.id));
  auto done = st.ctx->store->commit(batch, st.epoch);
  if (!done) {
    self->quit(make_error(done.error()));
    return false;
  }
  st.replies.wrote(*st.ctx->store);
  st.last_write = st.replies.own();
  st.rules.reset();
  count_settling(st, false);
  tick_while_absent(self); // no order any more: it goes after the empty timeout
  return true;
}

/// Between messages: the order keeps its record encoded, or nothing once the store holds it (applied here). In
/// a replicated shard the write is usually still on its way: the answer it holds shrinks the order again when
/// the write commits (committed_atom); without one, a tick comes back for it.
void shrink(self_ptr self) {
  auto& st = self->state;
  // committed(), not landed(): landed() also says yes to writes a later term (or a failed group) dropped.
  bool stored = st.ctx->store->committed(st.last_write);
  st.rules.shrink(stored);
  if (!stored && st.replies.empty() && st.rules.exists() && !st.rules.released() && !st.rules.has_intent())
    schedule_idle_tick(self, *st.ctx);
}

/// Runs tick_while_absent after a command, whichever way it returns.
struct absent_check {
  self_ptr self;
  ~absent_check() { tick_while_absent(self); }
};

void settle(self_ptr self);

/// Reads the order's record into memory, if the store has one: at activation, and before a command of an order
/// that did not exist then. A keyless placement is written by its restaurant without this actor (local_router:
/// placed_at_restaurant), so an order activated by a read of the id just before must not go on answering "not
/// found" for an order that exists.
std::optional<caf::error> load_record(self_ptr self) {
  auto& st = self->state;
  auto loaded = st.ctx->store->get(store::column::entities, keys::order_record(st.id));
  if (!loaded)
    return make_error(loaded.error());
  if (!*loaded)
    return std::nullopt;
  order o;
  if (!codec::decode(**loaded, o)) {
    spdlog::critical("order.corrupt_record order={}", st.id);
    std::abort();
  }
  st.rules.load(std::move(o), std::move(**loaded));
  if (st.rules.has_intent())
    settle(self);
  return std::nullopt;
}

/// Before a command: reads back the record a shrink left to the store.
std::optional<caf::error> reload(self_ptr self) {
  auto& st = self->state;
  // Not for the command that activated it (the activation just read the store), nor while its own last write (an
  // erase) is on its way: the store still shows what that write removes.
  bool just_read = std::exchange(st.just_activated, false);
  if (!just_read && !st.rules.exists() && !st.intent_in_flight && !st.intent_unwritten &&
      st.ctx->store->committed(st.last_write))
    return load_record(self);
  if (!st.rules.released())
    return std::nullopt;
  auto loaded = st.ctx->store->get(store::column::entities, keys::order_record(st.id));
  if (!loaded)
    return make_error(loaded.error());
  if (!*loaded) {
    if (st.ctx->store->epoch() != st.epoch) {
      // The lead moved on since it was released (a later term dropped the write): whoever leads now knows.
      self->quit(make_error(fail(errc::unavailable, "lost the lead of the order's shard")));
      return not_known_committed();
    }
    // Only this actor writes the record, and it was there: the store lost it under us. Start over from it.
    spdlog::critical("order.record_vanished order={}", st.id);
    auto err = make_error(fail(errc::storage_failure, "the order's record could not be read back"));
    self->quit(err);
    return err;
  }
  st.rules.reload(std::move(**loaded));
  return std::nullopt;
}

const char* event_of(intent_kind kind) {
  switch (kind) {
    case intent_kind::place: return "order.placed";
    case intent_kind::edit: return "order.updated";
    case intent_kind::cancel: return "order.cancelled";
    case intent_kind::deliver: return nullptr; // written with the delivery itself
  }
  return nullptr;
}

/// Writes the outcome of the current intent once the restaurant has applied it.
outcome<unit_t> roll_forward(self_ptr self, const reservation_result& held) {
  auto& st = self->state;
  auto kind = st.rules.current()->intent->kind;
  return commit(self, st.rules.applied(held, now(st)), event_of(kind));
}

void on_settle_failed(self_ptr self, const failure& f) {
  auto& st = self->state;
  st.settling = false;
  ++st.settle_failures;
  st.ctx->probe->settle_retries.fetch_add(1, std::memory_order_relaxed);
  // Retried on a tick, soon at first (the restaurant's shard may have been between leaders), then backing off
  // to the tick period; only an unreachable restaurant (or store) keeps it here, so say so loudly.
  spdlog::error("order.settle_failed order={} attempts={} error={}", st.id, st.settle_failures, f.message);
  auto backoff = std::chrono::milliseconds(250) * (1 << std::min<uint32_t>(st.settle_failures - 1, 5));
  idle_tick_after(self, *st.ctx, std::min<std::chrono::milliseconds>(backoff, std::chrono::seconds(5)));
}

/// Finds out what became of the current intent and writes the outcome. Never needs stock, so only an
/// unreachable restaurant delays it (retried on the idle tick). Waits (await): other commands for this order
/// queue behind it instead of seeing a half-done change.
void settle(self_ptr self) {
  auto& st = self->state;
  if (st.settling || st.intent_in_flight || !st.rules.has_intent())
    return;
  st.settling = true;
  count_settling(st, true);
  if (st.ctx->at("order.settle", st.id)) {
    self->quit(caf::exit_reason::kill);
    return;
  }
  if (st.rules.current()->intent->kind == intent_kind::deliver) {
    self->request(st.ctx->router, st.ctx->call_timeout, st.rules.finalize_request())
      .await(
        [self](bool) {
          auto& st = self->state;
          st.settling = false;
          st.settle_failures = 0;
          reservation_result none;
          if (roll_forward(self, none))
            shrink(self);
        },
        [self](caf::error& err) { on_settle_failed(self, to_failure(err)); });
    return;
  }
  self->request(st.ctx->router, st.ctx->call_timeout, st.rules.settle_request())
    .await(
      [self](settle_result& r) {
        auto& st = self->state;
        st.settling = false;
        st.settle_failures = 0;
        bool forward = st.rules.settle_applies(r);
        auto kind = st.rules.current()->intent->kind;
        if (forward && kind == intent_kind::place && st.rules.current()->intent->seq == 1) {
          auto stored = adopt_stored_placed(self);
          if (stored == stored_placement::unreadable)
            return on_settle_failed(self, fail(errc::storage_failure, "the order's record could not be read"));
          if (stored == stored_placement::adopted) {
            // The restaurant placed it itself, with the reservation (its answer was lost): nothing to write.
            spdlog::warn("order.settled order={} kind={} seq=1 outcome=placed_by_restaurant", st.id,
                         static_cast<int>(kind));
            st.ctx->probe->settled_forward.fetch_add(1, std::memory_order_relaxed);
            shrink(self);
            return;
          }
        }
        spdlog::warn("order.settled order={} kind={} seq={} outcome={}", st.id, static_cast<int>(kind),
                     st.rules.current()->intent->seq, forward ? "applied" : "not_applied");
        (forward ? st.ctx->probe->settled_forward : st.ctx->probe->settled_back)
          .fetch_add(1, std::memory_order_relaxed);
        if (commit(self, st.rules.settled(r, now(st)), forward ? event_of(kind) : nullptr))
          shrink(self);
      },
      [self](caf::error& err) { on_settle_failed(self, to_failure(err)); });
}

caf::error busy_settling(self_ptr self) {
  settle(self);
  return make_error(fail(errc::overloaded, "the order is settling an interrupted change; retry"));
}

void send_intent(self_ptr self, caf::typed_response_promise<order> rp, std::string order_record = {});

/// Whether a first placement's intent can go in the restaurant's reservation batch instead of a write of its own
/// before it: the order and the restaurant share a shard (every order without an Idempotency-Key is created in
/// its restaurant's shard), so one atomic write holds both, and nothing can be reserved for an order that has
/// no record. One write fewer per order, and in a cluster one consensus round fewer.
bool intent_rides_with_reservation(const order_actor_state& st, const order& o) {
  // Only in the epoch this activation loaded in: a stale activation's view of "no order here" proves nothing.
  if (!st.ctx->shards || !o.intent || o.intent->kind != intent_kind::place || o.intent->seq != 1 ||
      st.rules.exists() || st.ctx->store->epoch() != st.epoch)
    return false;
  // This activation's store is the order's shard.
  return st.ctx->store->shard() == shard_of(keys::restaurant_entity(o.restaurant_id), st.ctx->shards->count());
}

/// Sends the intent just written to the restaurant and answers `rp` with the outcome. In a replicated shard the
/// intent is committed first: a restaurant that acted on an intent a failover then dropped would hold units for
/// an order that does not exist, with nothing left to settle them.
void ask_restaurant(self_ptr self, caf::typed_response_promise<order> rp) {
  auto& st = self->state;
  if (st.replies.clear(*st.ctx->store)) {
    send_intent(self, rp);
    return;
  }
  st.intent_in_flight = true;
  st.replies.hold(
    self, *st.ctx->store,
    [self, rp](const caf::error& not_committed) mutable {
      auto& st = self->state;
      st.intent_in_flight = false;
      if (not_committed) {
        // The lead moved on before the intent was known to commit: whoever leads next settles it if it did
        // (or the disk refused it: then it was not written).
        rp.deliver(not_committed);
        self->quit(make_error(fail(errc::unavailable, "lost the lead of the order's shard")));
        return;
      }
      send_intent(self, rp);
    },
    [rp]() mutable { rp.deliver(not_known_committed()); });
}

void send_intent(self_ptr self, caf::typed_response_promise<order> rp, std::string order_record) {
  auto& st = self->state;
  if (st.ctx->at("order.intent_written", st.id)) {
    rp.deliver(make_error(fail(errc::outcome_unknown, "crashed (test)")));
    self->quit(caf::exit_reason::kill);
    return;
  }
  auto request = st.rules.reservation_request();
  request.order_record = std::move(order_record);
  self->request(st.ctx->router, st.ctx->call_timeout, std::move(request))
    .await(
      [self, rp](reservation_result& held) mutable {
        auto& st = self->state;
        if (st.ctx->at("order.outcome", st.id)) {
          rp.deliver(make_error(fail(errc::outcome_unknown, "crashed (test)")));
          self->quit(caf::exit_reason::kill);
          return;
        }
        if (st.intent_unwritten) {
          auto stored = adopt_placed(self, std::move(held.order_record)) ? stored_placement::adopted
                                                                         : adopt_stored_placed(self);
          if (stored == stored_placement::adopted) {
            deliver_gated(self, *st.ctx->store, st.replies, rp, *st.rules.current());
            shrink(self);
            return;
          }
          if (stored == stored_placement::unreadable) {
            // Placed by the restaurant or not (a replay of its answer carries no record): settling finds out.
            st.intent_unwritten = false;
            rp.deliver(make_error(fail(errc::outcome_unknown, "the order's record could not be read; read the "
                                                              "order again (or retry with the same Idempotency-Key)")));
            settle(self);
            return;
          }
        }
        st.intent_unwritten = false;
        if (!roll_forward(self, held)) {
          rp.deliver(make_error(fail(errc::outcome_unknown, "the order could not be stored")));
          return;
        }
        deliver_gated(self, *st.ctx->store, st.replies, rp, *st.rules.current());
        shrink(self);
      },
      [self, rp](caf::error& err) mutable {
        auto& st = self->state;
        auto f = to_failure(err);
        auto kind = st.rules.current()->intent->kind;
        if (refused_before_any_change(f.code) && (kind == intent_kind::place || kind == intent_kind::edit)) {
          // The restaurant wrote nothing. A keyless placement leaves no trace (its id is never asked again). A
          // keyed one keeps the refusal for every later try of its key: a try still on its way when this answer
          // leaves must not place the order after its client heard "refused". Other tries keep their record, so
          // that the next one goes on numbering after the changes the restaurant has seen.
          const auto& current = *st.rules.current();
          bool keyed = !current.idempotency_key.empty();
          bool unwritten = std::exchange(st.intent_unwritten, false);
          if (kind == intent_kind::place && current.intent->seq == 1 && !keyed && unwritten)
            forget(self); // the refusal wrote nothing, and so nor was the intent that rode with it
          else if (kind == intent_kind::place && current.intent->seq == 1 && !keyed)
            erase(self);
          else if (commit(self, kind == intent_kind::place && keyed ? st.rules.refused_placement(f, now(st))
                                                                    : st.rules.not_applied(now(st)),
                          nullptr))
            shrink(self);
          rp.deliver(make_error(f));
          return;
        }
        if ((f.code == errc::storage_failure || f.code == errc::unavailable) &&
            std::exchange(st.intent_unwritten, false)) {
          // The restaurant wrote nothing (its disk refuses writes, its shard changed hands, no leader took the
          // command): the intent that rode with it was not written either. The caller hears so (503, retry).
          forget(self);
          rp.deliver(make_error(f));
          return;
        }
        // A timeout, or anything else that leaves the outcome open: the caller hears so, and the order finds
        // out (a retry with the same Idempotency-Key, or reading the order, then shows what happened).
        st.intent_unwritten = false; // written or not with the reservation: settling asks the restaurant
        spdlog::warn("order.outcome_unknown order={} error={}", st.id, f.message);
        rp.deliver(make_error(fail(errc::outcome_unknown,
                                   "the restaurant did not answer in time; the change may or may not have "
                                   "happened: read the order (or retry with the same Idempotency-Key)")));
        settle(self);
      });
}

/// Every order actor's handlers, built once and shared (shared_behavior.hpp).
const order_actor::behavior_type& order_handlers() {
  static const order_actor::behavior_type handlers{
    [](place_order& cmd) -> caf::result<order> {
      auto self = entity::running();
      absent_check after{self};
      auto& st = self->state;
      st.idle.touch();
      if (auto err = reload(self))
        return std::move(*err);
      if (st.rules.unsettled())
        return busy_settling(self);
      auto decision = st.rules.begin_place(cmd, now(st));
      if (!decision)
        return make_error(decision.error());
      if (decision->replay) {
        shrink(self); // a retry read the stored order: nothing changes
        return gated(self, *st.ctx->store, st.replies, std::move(decision->order));
      }
      if (intent_rides_with_reservation(st, decision->order)) {
        auto record = codec::encode(decision->order);
        st.rules.commit(std::move(decision->order), record); // in memory: the restaurant writes it
        st.intent_unwritten = true;
        auto rp = self->make_response_promise<order>();
        send_intent(self, rp, std::move(record));
        return rp;
      }
      if (auto done = commit(self, std::move(decision->order), nullptr); !done)
        return make_error(done.error());
      auto rp = self->make_response_promise<order>();
      ask_restaurant(self, rp);
      return rp;
    },
    [](get_order& cmd) -> caf::result<order> {
      auto self = entity::running();
      absent_check after{self};
      auto& st = self->state;
      st.idle.touch();
      if (auto err = reload(self))
        return std::move(*err);
      auto o = st.rules.read(cmd.caller);
      shrink(self);
      if (!o)
        return make_error(o.error());
      return gated(self, *st.ctx->store, st.replies, std::move(*o));
    },
    [](transition_order& cmd) -> caf::result<order> {
      auto self = entity::running();
      absent_check after{self};
      auto& st = self->state;
      st.idle.touch();
      if (auto err = reload(self))
        return std::move(*err);
      if (st.rules.unsettled())
        return busy_settling(self);
      auto plan = st.rules.plan_transition(cmd, now(st));
      if (!plan)
        return make_error(plan.error());
      auto kind = plan->next.intent ? std::optional<intent_kind>(plan->next.intent->kind) : std::nullopt;
      if (!kind || *kind == intent_kind::deliver) {
        // Confirm and deliver are final once written; a delivery then tells the restaurant in the background.
        if (auto done = commit(self, plan->next, plan->event_type); !done)
          return make_error(done.error());
        if (kind)
          settle(self);
        auto reply = gated(self, *st.ctx->store, st.replies, *st.rules.current());
        shrink(self); // its next tick may be minutes away
        return reply;
      }
      if (auto done = commit(self, std::move(plan->next), nullptr); !done)
        return make_error(done.error());
      auto rp = self->make_response_promise<order>();
      ask_restaurant(self, rp);
      return rp;
    },
    [](edit_order& cmd) -> caf::result<order> {
      auto self = entity::running();
      absent_check after{self};
      auto& st = self->state;
      st.idle.touch();
      if (auto err = reload(self))
        return std::move(*err);
      if (st.rules.unsettled())
        return busy_settling(self);
      auto next = st.rules.plan_edit(cmd, now(st));
      if (!next)
        return make_error(next.error());
      if (!next->intent) {
        if (auto done = commit(self, std::move(*next), "order.updated"); !done)
          return make_error(done.error());
        auto reply = gated(self, *st.ctx->store, st.replies, *st.rules.current());
        shrink(self);
        return reply;
      }
      if (auto done = commit(self, std::move(*next), nullptr); !done)
        return make_error(done.error());
      auto rp = self->make_response_promise<order>();
      ask_restaurant(self, rp);
      return rp;
    },
    [](committed_atom, uint64_t index, bool ok) {
      auto self = entity::running();
      self->state.replies.release(self, *self->state.ctx->store, index, ok);
      shrink(self); // the answers' writes are in: the record can go
    },
    [](evict_atom) {
      auto self = entity::running();
      auto& st = self->state;
      if (!st.replies.empty()) {
        defer_eviction(self, st.idle, *st.ctx); // passivates once the answers have left
        return;
      }
      if (st.rules.has_intent()) {
        // Stopping now could leave the change unsettled until the next start: settle first; the idle tick
        // passivates the order once it is done.
        settle(self);
        defer_eviction(self, st.idle, *st.ctx);
        return;
      }
      request_passivation(self, st.idle, *st.ctx, keys::order_entity(st.id));
    },
    [](wake_atom) {
      auto self = entity::running();
      // Activation already started settling an interrupted change, if there was one.
      absent_check after{self};
    },
    [](idle_tick_atom) {
      auto self = entity::running();
      auto& st = self->state;
      st.absent_tick = false;
      shrink(self);
      if (!st.replies.empty()) {
        schedule_idle_tick(self, *st.ctx);
        return;
      }
      if (st.rules.has_intent()) {
        settle(self); // the last attempt failed (restaurant unreachable): retry rather than passivate
        if (!st.settling) // none went out (one is, or the intent is not committed yet): look again later;
          schedule_idle_tick(self, *st.ctx); // one that did schedules its own retry if it fails
        return;
      }
      on_idle_tick(self, st.idle, *st.ctx, keys::order_entity(st.id), st.rules.exists());
    },
  };
  return handlers;
}

order_actor::behavior_type order_behavior(self_ptr self) {
  auto& st = self->state;
  st.epoch = st.ctx->store->epoch(); // before loading: a write that lands after is seen or fenced off
  st.replies.epoch = st.epoch;
  st.gauge.probe = st.ctx->probe;
  if (auto err = load_record(self))
    self->quit(*err); // the behavior is still returned; quit() stops the actor before it handles anything
  report_exit(self, *st.ctx, keys::order_entity(st.id));
  if (!st.ctx->router_passivates_idle)
    schedule_idle_tick(self, *st.ctx); // under the local router: the sweep, and absent_check after commands
  return order_handlers();
}

using order_entity = entity_actor<order_actor, order_actor_state, &order_actor_state::id,
                                  order_behavior>;

} // namespace

order_actor spawn_order_actor(caf::actor_system& sys, entity_context_ptr ctx, std::string id) {
  return sys.spawn<order_entity>(std::move(ctx), std::move(id));
}

} // namespace bento::actors
