#include "cluster/local_router.hpp"

#include <algorithm>
#include <chrono>
#include <string_view>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/common/domain_error.hpp"
#include "actors/common/keys.hpp"
#include "actors/store/shard_store.hpp"
#include "actors/order/order_actor.hpp"
#include "actors/restaurant/restaurant_actor.hpp"
#include "actors/user/user_actor.hpp"
#include "protocol/domain/validation.hpp"

namespace bento::cluster {

namespace {

using namespace bento::actors;
using namespace bento::domain;

/// One active entity: its actor, and its place in the list of entities by last routing. The list is threaded
/// through the registry's own map nodes (which never move), so an active entity costs the router one node and
/// its id: a list of keys with a map into it cost ~120 B more per entity, a tenth of an idle entity.
struct slot {
  enum class place : uint8_t { listed, evicting };
  slot* newer = nullptr;
  slot* older = nullptr;
  caf::actor actor; // the typed handle's actor, for evict_atom (every entity type takes it)
  std::chrono::steady_clock::time_point last_routed;
  place where = place::listed; // evicting: asked to passivate, out of the list until it is gone
};

struct registry {
  std::unordered_map<std::string, slot> by_id;
};

struct router_state;
using self_ptr = router_actor::stateful_pointer<router_state>;

/// An entity that agreed to passivate but has not exited yet: it is still finishing messages routed to it
/// before it agreed. Messages for its key wait here, so that its next activation loads the state it leaves.
struct deferred_message {
  std::function<void(self_ptr)> resume;
  // A request's answer when it will not be served here after all (its shard left this node, the node stops):
  // it never reached an entity, so its caller may send it again. Empty for one-way messages.
  std::function<void(const failure&)> refuse;
};

struct stopping_entity {
  caf::actor_addr who;
  std::vector<deferred_message> deferred;
};

/// Answers what waited in `s` with `f` instead of serving it: callers hear at once, not at their deadline.
void refuse_deferred(stopping_entity& s, const failure& f) {
  for (auto& d : s.deferred)
    if (d.refuse)
      d.refuse(f);
  s.deferred.clear();
}

struct router_state {
  entity_context ctx;
  std::vector<entity_context_ptr> shard_ctx; // what entities get: ctx with the router and their shard's store
  registry users;
  registry restaurants;
  registry orders;
  uint64_t activations = 0;
  uint64_t passivations = 0;
  uint64_t evictions = 0;
  // Listed entities by last routing, the newest first. Past ctx.max_active_entities the oldest is asked to
  // passivate; so is every one not routed to for ctx.idle_timeout (the idle sweep).
  slot* newest = nullptr;
  slot* oldest = nullptr;
  size_t listed = 0;
  bool sweep_armed = false;
  std::unordered_map<std::string, stopping_entity> stopping;
  // Writes an entity's earlier activation proposed that may not be applied yet, by key (it went down with them
  // in flight) and by shard (dropped with them in flight): its next activation waits for them, or it would load
  // the state before them and write over them once they land.
  std::unordered_map<std::string, store::write_mark> key_marks;
  std::vector<store::write_mark> shard_marks;
  size_t key_marks_sweep_at = 1024;
  // Shutdown: the entities still to be told to stop, and how many were told and have not exited yet.
  bool shutting_down = false;
  caf::error shutdown_reason;
  std::vector<caf::actor> to_stop;
  size_t stops_in_flight = 0;
  static inline const char* name = "router";
};

void unlink(router_state& st, slot& s) {
  (s.newer ? s.newer->older : st.newest) = s.older;
  (s.older ? s.older->newer : st.oldest) = s.newer;
  s.newer = s.older = nullptr;
  --st.listed;
}

void link_newest(router_state& st, slot& s) {
  s.older = st.newest;
  s.newer = nullptr;
  (st.newest ? st.newest->newer : st.oldest) = &s;
  st.newest = &s;
  ++st.listed;
}

/// The entity leaves the router's books: out of the list if it is in it.
void drop_slot(router_state& st, slot& s) {
  if (s.where == slot::place::listed)
    unlink(st, s);
}

void touch(router_state& st, slot& s) {
  if (s.where != slot::place::listed)
    return; // on its way out; its next activation enters the list afresh
  s.last_routed = std::chrono::steady_clock::now();
  if (st.newest == &s)
    return;
  unlink(st, s);
  link_newest(st, s);
}

void evict(self_ptr self, slot& s) {
  unlink(self->state, s);
  s.where = slot::place::evicting;
  caf::anon_send(s.actor, evict_atom::value); // a typed actor may not send() to a dynamically typed handle
}

/// Keeps at most the cap of entities that are not already on their way out: past it, each activation asks the
/// least recently used one to passivate, through the normal handshake, so a message routed to it meanwhile is
/// still served. Entities being evicted do not count: their handshakes queue behind live requests, and counting
/// them made every activation evict again until all were evicting, then all stopped at once (a 1 s stall).
/// Evicting a tenth of the cap at once had the same burst on a smaller scale (p99 400 ms in bench/run.sh).
void evict_over_cap(self_ptr self) {
  auto& st = self->state;
  while (st.listed > st.ctx.max_active_entities) {
    ++st.evictions;
    evict(self, *st.oldest);
  }
}

/// How often the idle sweep looks: a quarter of the idle timeout, within [10 ms, 1 s].
std::chrono::milliseconds sweep_period(const entity_context& ctx) {
  return std::clamp<std::chrono::milliseconds>(ctx.idle_timeout / 4, std::chrono::milliseconds(10),
                                               std::chrono::seconds(1));
}

void arm_sweep(self_ptr self) {
  auto& st = self->state;
  if (st.sweep_armed || st.listed == 0)
    return;
  st.sweep_armed = true;
  self->delayed_send(self, sweep_period(st.ctx), idle_sweep_atom::value);
}

/// Asks every listed entity not routed to for the idle timeout to passivate: the oldest end of the list, so
/// the sweep costs what it evicts. An entity still busy passivates when it is done (idle_state::evicted).
void sweep_idle(self_ptr self) {
  auto& st = self->state;
  st.sweep_armed = false;
  auto now = std::chrono::steady_clock::now();
  while (st.oldest && now - st.oldest->last_routed >= st.ctx.idle_timeout)
    evict(self, *st.oldest);
  arm_sweep(self);
}

template <class Handle, class Spawn>
Handle activate(self_ptr self, registry& reg, const std::string& id, const std::string& key, Spawn spawn) {
  auto& st = self->state;
  auto [it, fresh] = reg.by_id.try_emplace(id);
  auto& s = it->second;
  if (!fresh) {
    touch(st, s);
    return caf::actor_cast<Handle>(s.actor);
  }
  auto& ctx = st.shard_ctx[domain::shard_of(key, static_cast<shard_id>(st.shard_ctx.size()))];
  auto handle = spawn(self->system(), ctx, id);
  // No link or monitor: CAF keeps those in a list per actor, which would make every entity exit cost O(active
  // entities) here. Entities report their own exit (report_exit); shutdown fans out explicitly.
  ++st.activations;
  s.actor = caf::actor_cast<caf::actor>(handle);
  s.last_routed = std::chrono::steady_clock::now();
  link_newest(st, s);
  evict_over_cap(self);
  arm_sweep(self);
  return handle;
}

user_actor user_for(self_ptr self, const std::string& username) {
  return activate<user_actor>(self, self->state.users, username, keys::user_entity(username), spawn_user_actor);
}

restaurant_actor restaurant_for(self_ptr self, const std::string& id) {
  return activate<restaurant_actor>(self, self->state.restaurants, id, keys::restaurant_entity(id),
                                    spawn_restaurant_actor);
}

order_actor order_for(self_ptr self, const std::string& id) {
  return activate<order_actor>(self, self->state.orders, id, keys::order_entity(id), spawn_order_actor);
}

/// What a message is routed to: an entity kind and id, activated on demand.
struct user_ref {
  std::string id;
  std::string key() const { return keys::user_entity(id); }
  bool active(self_ptr self) const { return self->state.users.by_id.count(id) > 0; }
  user_actor operator()(self_ptr self) const { return user_for(self, id); }
};
struct restaurant_ref {
  std::string id;
  std::string key() const { return keys::restaurant_entity(id); }
  bool active(self_ptr self) const { return self->state.restaurants.by_id.count(id) > 0; }
  restaurant_actor operator()(self_ptr self) const { return restaurant_for(self, id); }
};
struct order_ref {
  std::string id;
  std::string key() const { return keys::order_entity(id); }
  bool active(self_ptr self) const { return self->state.orders.by_id.count(id) > 0; }
  order_actor operator()(self_ptr self) const { return order_for(self, id); }
};

store::shard_store& store_of(self_ptr self, const std::string& key) {
  auto& st = self->state;
  return *st.shard_ctx[domain::shard_of(key, static_cast<shard_id>(st.shard_ctx.size()))]->store;
}

/// The writes a new activation of `key` must see applied first, if any are still in flight.
std::optional<store::write_mark> unlanded(self_ptr self, const std::string& key) {
  auto& st = self->state;
  auto& store = store_of(self, key);
  if (auto it = st.key_marks.find(key); it != st.key_marks.end()) {
    if (!store.landed(it->second))
      return it->second;
    st.key_marks.erase(it);
  }
  auto& shard_mark = st.shard_marks[store.shard()];
  if (shard_mark.index != 0) {
    if (!store.landed(shard_mark))
      return shard_mark;
    shard_mark = {};
  }
  return std::nullopt;
}

/// Holds `key`'s messages until `mark` has landed: an entry in `stopping` that no entity owns, released by an
/// entity_down for the key without an address (sent when the write is applied, and after a backstop delay in
/// case it never is here: the release checks again).
stopping_entity& wait_for_writes(self_ptr self, const std::string& key, const store::write_mark& mark) {
  auto& entry = self->state.stopping[key];
  entry.who = caf::actor_addr{};
  auto router = caf::actor_cast<caf::actor>(self);
  store_of(self, key).when_committed(mark, [router, key](bool) {
    caf::anon_send(router, entity_down_atom::value, key, caf::actor_addr{});
  });
  self->delayed_send(self, std::chrono::milliseconds(500), entity_down_atom::value, key, caf::actor_addr{});
  return entry;
}

template <class Ref>
stopping_entity* stopping_of(self_ptr self, const Ref& ref) {
  auto& stopping = self->state.stopping;
  if (stopping.empty())
    return nullptr;
  auto it = stopping.find(ref.key());
  return it == stopping.end() ? nullptr : &it->second;
}

/// Delegates a request to the entity, or holds it (with its response promise) while the entity is stopping.
/// `cmd` is a forwarding reference on purpose: callers build `ref` from fields of the same command, and a
/// by-value parameter could be moved from before `ref` is built (argument order is unspecified).
bool served(self_ptr self, const std::string& key) {
  auto& st = self->state;
  return !st.ctx.serves || st.ctx.serves(domain::shard_of(key, static_cast<shard_id>(st.shard_ctx.size())));
}

template <class Reply>
caf::delegated<Reply> refuse(self_ptr self, const failure& f);

const failure not_served = fail(errc::unavailable, "this node does not serve the entity's shard now; retry");

const failure node_stopping = fail(errc::unavailable, "this node is stopping; retry");

template <class Reply, class Ref, class Cmd>
caf::delegated<Reply> forward(self_ptr self, const Ref& ref, Cmd&& cmd) {
  if (self->state.shutting_down) // no activation after the entities were collected for stopping
    return refuse<Reply>(self, node_stopping);
  if (!served(self, ref.key()))
    return refuse<Reply>(self, not_served);
  auto* s = stopping_of(self, ref);
  if (!s && !ref.active(self))
    if (auto mark = unlanded(self, ref.key()))
      s = &wait_for_writes(self, ref.key(), *mark);
  if (s) {
    auto rp = self->make_response_promise<Reply>();
    s->deferred.push_back(deferred_message{[rp, ref, cmd = std::forward<Cmd>(cmd)](self_ptr self) mutable {
                                             rp.delegate(ref(self), std::move(cmd));
                                           },
                                           [rp](const failure& f) mutable { rp.deliver(make_error(f)); }});
    return {};
  }
  return self->delegate(ref(self), std::forward<Cmd>(cmd));
}

/// The same for one-way messages.
template <class Ref, class Msg>
void forward_send(self_ptr self, const Ref& ref, Msg&& msg) {
  if (self->state.shutting_down || !served(self, ref.key()))
    return;
  auto* s = stopping_of(self, ref);
  if (!s && !ref.active(self))
    if (auto mark = unlanded(self, ref.key()))
      s = &wait_for_writes(self, ref.key(), *mark);
  if (s) {
    s->deferred.push_back(deferred_message{
      [ref, msg = std::forward<Msg>(msg)](self_ptr self) mutable { self->send(ref(self), std::move(msg)); }, {}});
    return;
  }
  self->send(ref(self), std::forward<Msg>(msg));
}

/// The registry an entity key's kind lives in, and the id after the kind; none for a key without a kind.
std::pair<registry*, std::string> registry_of(router_state& st, const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos)
    return {nullptr, {}};
  std::string_view kind(key.data(), slash);
  auto* reg = kind == "user" ? &st.users : kind == "restaurant" ? &st.restaurants : &st.orders;
  return {reg, key.substr(slash + 1)};
}

/// Forgets the entity with this key if it is `who`; false if the key now belongs to another activation.
bool forget(self_ptr self, const std::string& key, const caf::actor_addr& who) {
  auto& st = self->state;
  auto [reg, id] = registry_of(st, key);
  if (!reg)
    return false;
  auto it = reg->by_id.find(id);
  if (it == reg->by_id.end() || it->second.actor.address() != who)
    return false;
  drop_slot(st, it->second);
  reg->by_id.erase(it);
  return true;
}

// Keys are validated before an actor is activated for them: no garbage key ever gets an actor or a store read.
template <class Reply>
caf::delegated<Reply> refuse(self_ptr self, const failure& f) {
  auto rp = self->make_response_promise<Reply>();
  rp.deliver(make_error(f));
  return {};
}

/// Shutdown tells the entities to stop a batch at a time and quits once all of them have exited. Telling them
/// all at once (~80k orders after a load test) made them all runnable at once in this worker's CAF job queue;
/// the other worker steals from that queue's tail, and CAF 0.17's work-stealing deque finds the new tail by
/// walking the whole queue under both of its locks, so the queue drained in quadratic time while the owner
/// spun on the lock: a SIGTERM after bench/cluster_throughput.sh sat in await_all_actors_done for minutes.
constexpr size_t stop_batch = 256;

void stop_some(self_ptr self) {
  auto& st = self->state;
  while (st.stops_in_flight < stop_batch && !st.to_stop.empty()) {
    auto entity = std::move(st.to_stop.back());
    st.to_stop.pop_back();
    self->monitor(entity); // an entity already gone answers with a down message at once
    self->send_exit(entity, st.shutdown_reason);
    ++st.stops_in_flight;
  }
  if (st.stops_in_flight == 0)
    self->quit(st.shutdown_reason);
}

/// Whether a placement goes to its restaurant rather than to an order actor: one without an Idempotency-Key
/// (its id is new: the edge drew it in the restaurant's shard) whose order has no activation, none stopping and
/// no write in flight. The restaurant writes the order's record with its reservation (restaurant_actor.cpp),
/// and no order actor is spawned, messaged and passivated for it: six messages and an activation fewer per
/// order. An order actor activated meanwhile by a read of the id finds the record on its next command
/// (order_actor.cpp: an absent order reads its record again). Anything else goes to the order actor as before.
bool placed_at_restaurant(self_ptr self, const place_order& cmd) {
  if (!cmd.idempotency_key.empty() || check_id("restaurant id", cmd.restaurant_id))
    return false;
  auto key = keys::order_entity(cmd.order_id);
  auto count = static_cast<shard_id>(self->state.shard_ctx.size());
  if (domain::shard_of(key, count) != domain::shard_of(keys::restaurant_entity(cmd.restaurant_id), count))
    return false;
  order_ref ref{cmd.order_id};
  return !ref.active(self) && !stopping_of(self, ref) && !unlanded(self, key);
}

const failure no_restaurant = fail(errc::not_found, "restaurant not found");
const failure no_order = fail(errc::not_found, "order not found");

router_actor::behavior_type router_behavior(self_ptr self, entity_context ctx) {
  self->state.ctx = std::move(ctx);
  if (!self->state.ctx.router) // in a cluster, entities reach each other through the cluster router
    self->state.ctx.router = self;
  auto& shards = *self->state.ctx.shards;
  for (shard_id s = 0; s < shards.count(); ++s) {
    auto ctx_of_shard = self->state.ctx;
    ctx_of_shard.store = &shards.of(s);
    ctx_of_shard.router_passivates_idle = true; // sweep_idle
    self->state.shard_ctx.push_back(std::make_shared<const entity_context>(std::move(ctx_of_shard)));
  }
  self->state.shard_marks.resize(shards.count());
  self->set_exit_handler([self](caf::exit_msg& msg) {
    // Shutdown: stop every entity (a batch at a time, see stop_some), then ourselves.
    auto& st = self->state;
    if (st.shutting_down)
      return;
    st.shutting_down = true;
    st.shutdown_reason = msg.reason;
    auto collect = [&](registry& reg) {
      for (auto& [id, s] : reg.by_id)
        st.to_stop.push_back(std::move(s.actor));
      reg.by_id.clear();
    };
    st.newest = st.oldest = nullptr; // the slots go with the maps
    st.listed = 0;
    collect(st.users);
    collect(st.restaurants);
    collect(st.orders);
    // What waited for a passivating entity is not served any more (resuming it would activate an entity that
    // nobody stops): it never reached an entity, and its callers hear so now rather than at their deadline.
    for (auto& [key, s] : st.stopping)
      refuse_deferred(s, node_stopping);
    st.stopping.clear();
    stop_some(self);
  });
  self->set_down_handler([self](caf::down_msg&) {
    // Only entities told to stop at shutdown are monitored.
    auto& st = self->state;
    if (!st.shutting_down || st.stops_in_flight == 0)
      return;
    if (--st.stops_in_flight <= stop_batch / 2)
      stop_some(self);
  });
  return {
    [self](register_user& cmd) -> caf::delegated<user_view> {
      if (auto f = check_username(cmd.username))
        return refuse<user_view>(self, *f);
      return forward<user_view>(self, user_ref{cmd.username}, std::move(cmd));
    },
    [self](verify_login& cmd) -> caf::delegated<user_view> {
      // A malformed name gets the same answer as a wrong password: do not reveal which names are well-formed.
      if (check_username(cmd.username))
        return refuse<user_view>(self, fail(errc::unauthenticated, "invalid username or password"));
      return forward<user_view>(self, user_ref{cmd.username}, std::move(cmd));
    },
    [self](get_user& cmd) -> caf::delegated<user_view> {
      if (check_username(cmd.username))
        return refuse<user_view>(self, fail(errc::not_found, "user not found"));
      return forward<user_view>(self, user_ref{cmd.username}, std::move(cmd));
    },
    [self](end_session& cmd) -> caf::delegated<bool> {
      if (check_username(cmd.username))
        return refuse<bool>(self, fail(errc::not_found, "user not found"));
      return forward<bool>(self, user_ref{cmd.username}, std::move(cmd));
    },
    [self](set_member_state& cmd) -> caf::delegated<bool> {
      if (!self->state.ctx.cluster_meta)
        return refuse<bool>(self, fail(errc::invalid_argument, "this node keeps no cluster metadata"));
      return self->delegate(self->state.ctx.cluster_meta, std::move(cmd));
    },
    [self](create_restaurant& cmd) -> caf::delegated<restaurant> {
      if (auto f = check_id("restaurant id", cmd.restaurant_id))
        return refuse<restaurant>(self, *f);
      return forward<restaurant>(self, restaurant_ref{cmd.restaurant_id}, std::move(cmd));
    },
    [self](open_restaurant& cmd) -> caf::delegated<restaurant> {
      if (check_username(cmd.create.caller.username))
        return refuse<restaurant>(self, fail(errc::forbidden, "only merchants may create restaurants"));
      return forward<restaurant>(self, user_ref{cmd.create.caller.username}, std::move(cmd));
    },
    [self](upsert_menu_item& cmd) -> caf::delegated<upsert_result> {
      if (check_id("restaurant id", cmd.restaurant_id))
        return refuse<upsert_result>(self, no_restaurant);
      return forward<upsert_result>(self, restaurant_ref{cmd.restaurant_id}, std::move(cmd));
    },
    [self](patch_menu_item& cmd) -> caf::delegated<upsert_result> {
      if (check_id("restaurant id", cmd.restaurant_id))
        return refuse<upsert_result>(self, no_restaurant);
      return forward<upsert_result>(self, restaurant_ref{cmd.restaurant_id}, std::move(cmd));
    },
    [self](delete_menu_item& cmd) -> caf::delegated<bool> {
      if (check_id("restaurant id", cmd.restaurant_id))
        return refuse<bool>(self, no_restaurant);
      return forward<bool>(self, restaurant_ref{cmd.restaurant_id}, std::move(cmd));
    },
    [self](get_menu& cmd) -> caf::delegated<menu_view> {
      if (check_id("restaurant id", cmd.restaurant_id))
        return refuse<menu_view>(self, no_restaurant);
      return forward<menu_view>(self, restaurant_ref{cmd.restaurant_id}, std::move(cmd));
    },
    [self](set_reservation& cmd) -> caf::delegated<reservation_result> {
      if (check_id("restaurant id", cmd.restaurant_id))
        return refuse<reservation_result>(self, no_restaurant);
      return forward<reservation_result>(self, restaurant_ref{cmd.restaurant_id}, std::move(cmd));
    },
    [self](settle_reservation& cmd) -> caf::delegated<settle_result> {
      if (check_id("restaurant id", cmd.restaurant_id)) {
        settle_result none;
        none.restaurant_exists = false; // no such restaurant can hold anything
        auto rp = self->make_response_promise<settle_result>();
        rp.deliver(std::move(none));
        return {};
      }
      return forward<settle_result>(self, restaurant_ref{cmd.restaurant_id}, std::move(cmd));
    },
    [self](finalize_reservation& cmd) -> caf::delegated<bool> {
      if (check_id("restaurant id", cmd.restaurant_id)) {
        auto rp = self->make_response_promise<bool>();
        rp.deliver(true); // nothing to finalize where there is no restaurant
        return {};
      }
      return forward<bool>(self, restaurant_ref{cmd.restaurant_id}, std::move(cmd));
    },
    [self](place_order& cmd) -> caf::delegated<order> {
      if (auto f = check_id("order id", cmd.order_id))
        return refuse<order>(self, *f);
      if (placed_at_restaurant(self, cmd))
        return forward<order>(self, restaurant_ref{cmd.restaurant_id}, std::move(cmd));
      return forward<order>(self, order_ref{cmd.order_id}, std::move(cmd));
    },
    [self](get_order& cmd) -> caf::delegated<order> {
      if (check_id("order id", cmd.order_id))
        return refuse<order>(self, no_order);
      return forward<order>(self, order_ref{cmd.order_id}, std::move(cmd));
    },
    [self](transition_order& cmd) -> caf::delegated<order> {
      if (check_id("order id", cmd.order_id))
        return refuse<order>(self, no_order);
      return forward<order>(self, order_ref{cmd.order_id}, std::move(cmd));
    },
    [self](edit_order& cmd) -> caf::delegated<order> {
      if (check_id("order id", cmd.order_id))
        return refuse<order>(self, no_order);
      return forward<order>(self, order_ref{cmd.order_id}, std::move(cmd));
    },
    [self](wake_atom, const std::string& order_id) {
      if (!check_id("order id", order_id))
        forward_send(self, order_ref{order_id}, wake_atom::value);
    },
    [self](entity_down_atom, const std::string& key, const caf::actor_addr& who) {
      auto& st = self->state;
      if (who) {
        // Passivated entities were forgotten already; this matters for one that stopped on an error.
        if (forget(self, key, who))
          spdlog::warn("router.entity_down entity={}", key);
        // Its last writes may still be in flight (replicated shards): the next activation waits for them.
        auto mark = store_of(self, key).mark();
        if (mark.index != 0)
          st.key_marks[key] = mark;
        else
          st.key_marks.erase(key);
        if (st.key_marks.size() >= st.key_marks_sweep_at) {
          // Most marks land within a replication round; keep the map to the ones that have not.
          for (auto it = st.key_marks.begin(); it != st.key_marks.end();)
            it = store_of(self, it->first).landed(it->second) ? st.key_marks.erase(it) : std::next(it);
          st.key_marks_sweep_at = std::max<size_t>(1024, 2 * st.key_marks.size());
        }
      }
      // A passivated entity is gone now, with everything it was routed written (or the writes an earlier one
      // left have landed): what waited for it goes to a fresh activation, in the order it came.
      auto s = st.stopping.find(key);
      if (s == st.stopping.end() || s->second.who != who)
        return;
      auto deferred = std::move(s->second.deferred);
      st.stopping.erase(s);
      if (auto mark = unlanded(self, key)) {
        wait_for_writes(self, key, *mark).deferred = std::move(deferred);
        return;
      }
      for (auto& d : deferred)
        d.resume(self);
    },
    [self](passivate_atom, const std::string& key) -> bool {
      auto sender = self->current_sender();
      if (!sender)
        return false;
      auto who = caf::actor_cast<caf::actor_addr>(sender);
      bool ok = forget(self, key, who);
      if (ok) {
        ++self->state.passivations;
        self->state.stopping.emplace(key, stopping_entity{who, {}});
      }
      return ok;
    },
    [self](idle_sweep_atom) { sweep_idle(self); },
    [self](drop_shard_atom, uint16_t shard) {
      auto& st = self->state;
      auto count = static_cast<shard_id>(st.shard_ctx.size());
      size_t stopped = 0;
      auto drop = [&](registry& reg, auto key_of) {
        for (auto it = reg.by_id.begin(); it != reg.by_id.end();) {
          if (domain::shard_of(key_of(it->first), count) != shard) {
            ++it;
            continue;
          }
          self->send_exit(it->second.actor, caf::exit_reason::user_shutdown);
          drop_slot(st, it->second);
          it = reg.by_id.erase(it);
          ++stopped;
        }
      };
      drop(st.users, keys::user_entity);
      drop(st.restaurants, keys::restaurant_entity);
      drop(st.orders, keys::order_entity);
      // What waited for a stopping entity of this shard is not ours to serve any more. It never reached an
      // entity: its callers hear unavailable (retry; the shard's new leader serves it) at once, where dropping it
      // left them to their deadline and outcome_unknown (a login in a fresh cluster answered 504 so).
      for (auto it = st.stopping.begin(); it != st.stopping.end();) {
        if (domain::shard_of(it->first, count) != shard) {
          ++it;
          continue;
        }
        refuse_deferred(it->second, not_served);
        it = st.stopping.erase(it);
      }
      // Their writes may still land (the lease lapsed, the lead stayed): if the shard comes back here in this
      // term, nothing of it activates before they have.
      st.shard_marks[shard] = st.shard_ctx[shard]->store->mark();
      spdlog::info("router.shard_dropped shard={} entities={}", shard, stopped);
    },
    [self](stats_atom) -> entity_counts {
      auto& st = self->state;
      auto& probe = *st.ctx.probe;
      return entity_counts{st.users.by_id.size(),
                           st.restaurants.by_id.size(),
                           st.orders.by_id.size(),
                           st.activations,
                           st.passivations,
                           st.evictions,
                           probe.orders_settling.load(),
                           probe.settle_retries.load(),
                           probe.settled_forward.load(),
                           probe.settled_back.load(),
                           probe.clock_regressions.load()};
    },
  };
}

} // namespace

router_actor spawn_local_router(caf::actor_system& sys, entity_context ctx) {
  return sys.spawn(router_behavior, std::move(ctx));
}

} // namespace bento::cluster
