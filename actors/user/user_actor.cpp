#include "actors/user/user_actor.hpp"
#include "actors/user/user_records.hpp"

#include <functional>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/common/domain_error.hpp"
#include "actors/common/entity_context.hpp"
#include "actors/common/owed_replies.hpp"
#include "actors/common/shared_behavior.hpp"
#include "actors/common/reply_gate.hpp"
#include "actors/common/keys.hpp"
#include "actors/store/shard_store.hpp"
#include "actors/user/login_guard.hpp"
#include "actors/user/open_restaurant.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/calendar.hpp"
#include "protocol/domain/ids.hpp"

namespace bento::actors {

namespace {

using namespace bento::domain;

/// A login given up because the user stopped while the hasher checked it (owed_replies.hpp): unavailable (a
/// login writes nothing, so the caller may send it again), and its hash-gate admission back, or every 8 such
/// losses shut a client address out of this node's logins (429). A registration awaits its hash, so its user
/// cannot stop under it.
std::function<void()> give_up_login(caf::typed_response_promise<user_view> rp, std::shared_ptr<hash_gate> gate,
                                    std::string address, std::string username) {
  return [rp, gate = std::move(gate), address = std::move(address), username = std::move(username)]() mutable {
    gate->leave(address, username);
    rp.deliver(make_error(
      fail(errc::unavailable, "this node stopped serving the user's shard before the password was checked; retry")));
  };
}

struct user_actor_state {
  explicit user_actor_state() = default;
  entity_context_ptr ctx;
  uint64_t epoch = 0; // the shard's write epoch this activation loaded its state in (shard_store::epoch)
  std::string username;
  user_state rules;
  restaurant_slots slots; // a merchant's restaurants (open_restaurant.hpp), loaded on first use
  idle_state idle;
  // Logins being verified (then, not await): an eviction waits for them, and they are answered if the actor stops
  // under them anyway (its shard left this node).
  owed_replies logins;
  bool evict_when_done = false;
  reply_gate replies; // answers waiting for this user's writes to be committed
  static inline const char* name = "user";
};

using entity = shared_behavior_entity<user_actor, user_actor_state>;
using self_ptr = entity::pointer;

caf::error unauthenticated() {
  return make_error(fail(errc::unauthenticated, "invalid username or password"));
}

/// An eviction that came while logins were verified or answers waited goes ahead once none is left.
void evict_if_due(self_ptr self) {
  auto& st = self->state;
  if (st.evict_when_done && st.logins.size() == 0 && st.replies.empty()) {
    st.evict_when_done = false;
    request_passivation(self, st.idle, *st.ctx, keys::user_entity(st.username));
  }
}

/// A login's verification ended.
void login_settled(self_ptr self, uint64_t op) {
  self->state.logins.settle(op);
  evict_if_due(self);
}

/// Every user actor's handlers, built once and shared (shared_behavior.hpp).
const user_actor::behavior_type& user_handlers() {
  static const user_actor::behavior_type handlers{
    [](register_user& cmd) -> caf::result<user_view> {
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      auto ok = st.rules.check_register(cmd);
      if (!ok)
        return make_error(ok.error());
      if (auto admitted = st.ctx->gate->try_enter(cmd.client_address, cmd.username);
          admitted != hash_gate::admission::admitted)
        return make_error(refusal(admitted));
      auto rp = self->make_response_promise<user_view>();
      // await: the next registration for this username must see the outcome of this one.
      self->request(st.ctx->hasher, caf::infinite, hash_atom::value, cmd.password)
        .await(
          [self, rp, cmd](std::string& hash) mutable {
            auto& st = self->state;
            st.ctx->gate->leave(cmd.client_address, cmd.username);
            auto u = st.rules.make_user(cmd, std::move(hash), random_id("u_"), now_ms());
            auto batch = registration_batch(u);
            auto committed = st.ctx->store->commit(batch, st.epoch);
            if (!committed) {
              // As every entity after a failed write: stop, the next activation loads what is stored.
              rp.deliver(make_error(committed.error()));
              self->quit(make_error(committed.error()));
              return;
            }
            st.replies.wrote(*st.ctx->store);
            st.rules.commit(u);
            spdlog::info("user.registered user={} id={} role={}", u.username, u.id, to_string(u.role));
            deliver_gated(self, *st.ctx->store, st.replies, rp, view_of(u));
          },
          [self, rp, address = cmd.client_address, name = cmd.username](caf::error& err) mutable {
            self->state.ctx->gate->leave(address, name);
            rp.deliver(make_error(to_failure(err)));
          });
      return rp;
    },
    [](verify_login& cmd) -> caf::result<user_view> {
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      // Failed logins are counted by the node's guard, whatever this actor's lifetime; this node leads the
      // user's shard, so every login of this name meets the same counts whichever edge it came through.
      if (st.ctx->logins)
        if (auto wait = st.ctx->logins->retry_after_ms(st.username, cmd.client_address, now_ms()); wait > 0)
          return make_error(fail(errc::throttled, "too many failed logins; retry later", std::to_string(wait)));
      if (auto admitted = st.ctx->gate->try_enter(cmd.client_address, st.username);
          admitted != hash_gate::admission::admitted)
        return make_error(refusal(admitted));
      auto rp = self->make_response_promise<user_view>();
      auto op = st.logins.owe(give_up_login(rp, st.ctx->gate, cmd.client_address, st.username));
      bool known = st.rules.exists();
      auto hash = known ? st.rules.user()->password_hash : st.ctx->dummy_hash;
      // then, not await: logins change nothing here, so they need not wait for one another (a crowd on one
      // account is bounded by the gate's per-user share instead of queueing one hash at a time).
      self->request(st.ctx->hasher, caf::infinite, verify_atom::value, std::move(hash), std::move(cmd.password))
        .then(
          [self, rp, known, op, address = cmd.client_address](bool match) mutable {
            auto& st = self->state;
            st.ctx->gate->leave(address, st.username);
            // The answer first, then the count: an eviction waiting for the last login may start passivating,
            // and a reply held for a write still committing must be in the gate by then, or stopping drops it
            // (the login would answer outcome_unknown).
            if (known && match && st.rules.exists()) {
              if (st.ctx->logins)
                st.ctx->logins->record_success(st.username, address, now_ms());
              deliver_gated(self, *st.ctx->store, st.replies, rp, st.rules.view());
            } else {
              if (st.ctx->logins)
                st.ctx->logins->record_failure(st.username, address, now_ms());
              spdlog::info("user.login_failed user={}", st.username);
              rp.deliver(unauthenticated());
            }
            login_settled(self, op);
          },
          [self, rp, op, address = cmd.client_address](caf::error& err) mutable {
            self->state.ctx->gate->leave(address, self->state.username);
            login_settled(self, op);
            rp.deliver(make_error(to_failure(err)));
          });
      return rp;
    },
    [](get_user&) -> caf::result<user_view> {
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      if (!st.rules.exists())
        return make_error(fail(errc::not_found, "user not found"));
      return gated(self, *st.ctx->store, st.replies, st.rules.view());
    },
    [](end_session& cmd) -> caf::result<bool> {
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      if (!st.rules.exists() || st.rules.user()->id != cmd.session.user_id)
        return make_error(fail(errc::not_found, "user not found"));
      store::write_batch batch;
      batch.put(store::column::indexes, keys::ended_session(cmd.session.expires_at_s, cmd.session.token_id),
                codec::encode(cmd.session));
      // Records whose tokens have expired are dead weight for every node's start: when the oldest one of this
      // shard has, they all go with this write (one range, and only then).
      auto now_s = now_ms() / 1000;
      bool expired = false;
      st.ctx->store->scan(store::column::indexes, keys::ended_sessions_prefix, {},
                          [&](std::string_view key, std::string_view) {
                            expired = key < keys::ended_sessions_until(now_s);
                            return false;
                          });
      if (expired)
        batch.erase_range(store::column::indexes, keys::ended_sessions_prefix, keys::ended_sessions_until(now_s));
      batch.append_event(event{0, "user.session_ended", keys::user_entity(st.username), now_ms(), cmd.session, {}});
      if (auto committed = st.ctx->store->commit(batch, st.epoch); !committed) {
        self->quit(make_error(committed.error()));
        return make_error(committed.error());
      }
      st.replies.wrote(*st.ctx->store);
      spdlog::info("user.session_ended user={} token={}", st.username, cmd.session.token_id);
      return gated(self, *st.ctx->store, st.replies, true);
    },
    [](committed_atom, uint64_t index, bool ok) {
      auto self = entity::running();
      self->state.replies.release(self, *self->state.ctx->store, index, ok);
      evict_if_due(self);
    },
    [](open_restaurant& cmd) -> caf::result<restaurant> {
      auto self = entity::running();
      auto& st = self->state;
      st.idle.touch();
      return open_restaurant_for(self, st.ctx, st.username, st.rules.user(), st.slots, std::move(cmd));
    },
    [](evict_atom) {
      auto self = entity::running();
      auto& st = self->state;
      if (st.logins.size() > 0 || !st.replies.empty()) {
        st.evict_when_done = true;
        return;
      }
      request_passivation(self, st.idle, *st.ctx, keys::user_entity(st.username));
    },
    [](idle_tick_atom) {
      auto self = entity::running();
      auto& st = self->state;
      if (st.logins.size() > 0 || !st.replies.empty()) {
        schedule_idle_tick(self, *st.ctx);
        return;
      }
      on_idle_tick(self, st.idle, *st.ctx, keys::user_entity(st.username), st.rules.exists());
    },
  };
  return handlers;
}

user_actor::behavior_type user_behavior(self_ptr self) {
  auto& st = self->state;
  st.epoch = st.ctx->store->epoch(); // before loading: a write that lands after is seen or fenced off
  st.replies.epoch = st.epoch;
  auto loaded = st.ctx->store->get(store::column::entities, keys::user_record(st.username));
  if (!loaded) {
    // The behavior below is still returned; quit() makes the actor stop before it handles anything.
    spdlog::error("user.load_failed user={} error={}", st.username, loaded.error().message);
    self->quit(make_error(loaded.error()));
  } else if (*loaded) {
    domain::user u;
    if (!codec::decode(**loaded, u)) {
      // Continuing would let a registration overwrite an existing user's record.
      spdlog::critical("user.corrupt_record user={}", st.username);
      std::abort();
    }
    st.rules.load(std::move(u));
  }
  report_exit(self, *st.ctx, keys::user_entity(st.username));
  start_idle_ticks(self, *st.ctx, st.rules.exists());
  return user_handlers();
}

using user_entity = entity_actor<user_actor, user_actor_state, &user_actor_state::username,
                                 user_behavior>;

} // namespace

user_actor spawn_user_actor(caf::actor_system& sys, entity_context_ptr ctx, std::string username) {
  return sys.spawn<user_entity>(std::move(ctx), std::move(username));
}

} // namespace bento::actors
