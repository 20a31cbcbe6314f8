#pragma once
// What every entity actor is given at activation, and the idle/passivation protocol they share.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <caf/send.hpp>
#include <caf/typed_actor.hpp>

#include "actors/common/idle_ticker.hpp"
#include "actors/crypto/password_hasher.hpp"
#include "actors/router/router_actor.hpp"
#include "actors/user/user_state.hpp"
#include "protocol/domain/shards.hpp"

namespace bento::store {
class shard_store;
class shard_set;
}

namespace bento::actors {

class login_guard;
class menu_board;

/// The keeper of the cluster's member-state record (cluster/cluster_meta), one per node.
using cluster_meta_actor = caf::typed_actor<caf::replies_to<domain::set_member_state>::with<bool>,
                                            caf::reacts_to<committed_atom, uint64_t, bool>>;

/// Counters entities keep for /metrics (shared, lock-free).
struct entity_probe {
  std::atomic<int64_t> orders_settling{0};     // orders with an unsettled change right now (should be ~0)
  std::atomic<uint64_t> settle_retries{0};     // settle attempts that failed and will be retried
  std::atomic<uint64_t> settled_forward{0};    // interrupted changes the restaurant had applied
  std::atomic<uint64_t> settled_back{0};       // interrupted changes it had not
  std::atomic<uint64_t> clock_regressions{0};  // a restaurant was asked with a "today" before one it had seen
};

struct entity_context {
  store::shard_store* store = nullptr; // the entity's shard (the router sets it per shard)
  store::shard_set* shards = nullptr;  // all of them, for the router
  router_actor router;                 // where entities send to other entities (in a cluster: the cluster router)
  // Whether this node may host a shard's entities now (leads it, caught up, lease held); empty: every shard.
  std::function<bool(domain::shard_id)> serves;
  hasher_actor hasher;
  caf::actor idle_ticker; // passes idle ticks on (idle_ticker.hpp); none: entities send them to themselves
  std::shared_ptr<hash_gate> gate;
  cluster_meta_actor cluster_meta; // the cluster's member-state record (cluster/cluster_meta); none: refused
  login_guard* logins = nullptr; // the node's failed-login counts (login_guard.hpp); none: not throttled here
  // Where restaurants pin the menus edges may answer with unasked (restaurant/menu_board.hpp); none: not pinned.
  std::shared_ptr<menu_board> menus;
  std::string dummy_hash; // unknown-user logins verify against it, so they cost what a real one costs
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds empty_idle_timeout{std::chrono::seconds(10)}; // entities that do not exist
  std::chrono::milliseconds call_timeout{std::chrono::seconds(5)};        // entity -> entity requests
  size_t max_active_entities = 100000; // beyond this the router evicts the least recently used
  // Set by the local router in what it gives its entities: it passivates those that exist and were not routed
  // to for idle_timeout itself (its least-recently-routed list), so they need no idle ticks of their own.
  bool router_passivates_idle = false;
  std::shared_ptr<entity_probe> probe = std::make_shared<entity_probe>();
  std::function<int64_t()> clock;      // wall clock in ms; empty: the system clock (tests shift it)
  // Tests park an entity at a named point (e.g. "restaurant.reserved") to build a race deterministically, or
  // crash it there (return true: the entity stops at once, writing nothing more, as kill -9 would leave it).
  // Empty in production.
  std::function<bool(std::string_view point, const std::string& entity)> fault_point;

  int64_t now_ms() const;
  /// True when a test wants the entity to crash at this point.
  bool at(std::string_view point, const std::string& entity) const {
    return fault_point && fault_point(point, entity);
  }
  size_t max_restaurants_per_merchant = 20;
};

/// Entities share one immutable context instead of each holding a copy.
using entity_context_ptr = std::shared_ptr<const entity_context>;

/// Idle bookkeeping of one entity actor. Touch on every message; on each tick, an entity idle for longer than
/// its timeout asks the router to forget it and stops once the router agrees. Messages the router routed
/// before agreeing are ahead of its answer in the mailbox, so none is lost.
struct idle_state {
  std::chrono::steady_clock::time_point last_activity = std::chrono::steady_clock::now();
  bool passivating = false;
  // The router asked it to passivate (over the cap, or idle) while it was busy: it no longer lists it, so it
  // passivates on its first tick with nothing left in flight, whatever its idle time.
  bool evicted = false;
  void touch() { last_activity = std::chrono::steady_clock::now(); }
};

/// An idle tick to this entity after `delay` (or earlier: see idle_tick_for), through the node's ticker when
/// there is one: a delayed message to the entity itself would keep a stopped entity allocated until it fires.
template <class Self>
void idle_tick_after(Self* self, const entity_context& ctx, std::chrono::milliseconds delay) {
  if (ctx.idle_ticker)
    caf::anon_send(ctx.idle_ticker,
                   idle_tick_for{caf::weak_actor_ptr{self->ctrl()}, std::chrono::steady_clock::now() + delay});
  else
    self->delayed_send(self, delay, idle_tick_atom::value);
}

template <class Self>
void schedule_idle_tick(Self* self, const entity_context& ctx) {
  auto period = std::min(ctx.idle_timeout, ctx.empty_idle_timeout) / 2;
  if (period < std::chrono::milliseconds(10))
    period = std::chrono::milliseconds(10);
  idle_tick_after(self, ctx, std::chrono::duration_cast<std::chrono::milliseconds>(period));
}

/// An entity's first idle tick, at activation. One that exists under a router that passivates idle entities
/// needs none: a tick waiting in the ticker costs ~100 B per entity for nothing. One that does not exist ticks
/// towards the shorter empty timeout (the router cannot tell it from one that does).
template <class Self>
void start_idle_ticks(Self* self, const entity_context& ctx, bool exists) {
  if (!exists || !ctx.router_passivates_idle)
    schedule_idle_tick(self, ctx);
}

/// The router asked the entity to passivate while it had something in flight: it passivates on the first tick
/// with nothing left (on_idle_tick).
template <class Self>
void defer_eviction(Self* self, idle_state& idle, const entity_context& ctx) {
  idle.evicted = true;
  schedule_idle_tick(self, ctx);
}

/// Tells the router when this entity stops for any reason, so that a crashed entity is not routed to again,
/// and the idle ticker, so that it drops the entity's waiting tick and with it the last reference to its memory.
template <class Self>
void report_exit(Self* self, const entity_context& ctx, std::string key) {
  self->attach_functor([router = ctx.router, ticker = ctx.idle_ticker, key = std::move(key),
                        who = self->address()](const caf::error&) {
    if (ticker)
      caf::anon_send(ticker, idle_tick_forget{who.id()});
    caf::anon_send(router, entity_down_atom::value, key, who);
  });
}

/// Starts the passivation handshake (idle timeout or eviction by the router).
template <class Self>
void request_passivation(Self* self, idle_state& idle, const entity_context& ctx, const std::string& key) {
  if (idle.passivating)
    return;
  idle.passivating = true;
  self->request(ctx.router, caf::infinite, passivate_atom::value, key)
    .then(
      [self, &idle, &ctx](bool agreed) {
        if (agreed) {
          self->quit();
        } else {
          idle.passivating = false;
          schedule_idle_tick(self, ctx);
        }
      },
      [self](caf::error&) { self->quit(); });
}

template <class Self>
void on_idle_tick(Self* self, idle_state& idle, const entity_context& ctx, const std::string& key, bool exists) {
  if (idle.passivating)
    return;
  if (idle.evicted) {
    request_passivation(self, idle, ctx, key);
    return;
  }
  if (exists && ctx.router_passivates_idle)
    return; // no more ticks: the router passivates it once it has not been routed to for idle_timeout
  auto timeout = exists ? ctx.idle_timeout : ctx.empty_idle_timeout;
  auto idle_for = std::chrono::steady_clock::now() - idle.last_activity;
  if (idle_for < timeout) {
    // The next look when it would be idle long enough, not a fixed period: tens of thousands of live orders
    // each ticking every 5 s kept a node at 25 % of a core after an order rush (14 % without those ticks).
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(timeout - idle_for);
    idle_tick_after(self, ctx, std::max(left, std::chrono::milliseconds(10)));
    return;
  }
  request_passivation(self, idle, ctx, key);
}

} // namespace bento::actors
