#include "node/domain_client.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/send.hpp>

#include "actors/common/domain_error.hpp"
#include "actors/common/keys.hpp"
#include "actors/catalog/page_board.hpp"
#include "actors/restaurant/menu_board.hpp"
#include "actors/store/entity_store.hpp"
#include "cluster/router/forward_codec.hpp"
#include "node/runtime.hpp"
#include "protocol/domain/ids.hpp"
#include "protocol/domain/shards.hpp"

namespace bento::node {

namespace {

/// A bridge's requests and when each must have been answered. CAF 0.17 hands every request timeout to its clock
/// thread twice (set, then cancel on the answer), waking that thread each time: at the edge, with every client
/// call a request, that was measurable (~10 % of menu reads). A bridge asks with no CAF timeout and keeps its
/// own: when one is due unanswered it puts the same `request_timeout` error the clock would into its own
/// mailbox, which runs the request's error handler and removes it (an answer arriving later finds no handler
/// and is dropped, as with CAF's timeouts). One timer per bridge covers every request.
struct bridge_state {
  using clock = std::chrono::steady_clock;
  // Deadlines by the id the answer will carry (a request's handle holds its response id): issue order, which is
  // deadline order, since every request of a bridge has the same timeout.
  std::map<uint64_t, clock::time_point> pending;
  std::chrono::milliseconds timeout{0}; // every request's: what keeps the map in deadline order
  bool timer_set = false;
  static inline const char* name = "domain_bridge";
};

using tick_atom = caf::atom_constant<caf::atom("bridgetick")>;
using bridge_ptr = caf::stateful_actor<bridge_state>*;

void arm(bridge_ptr self, std::chrono::milliseconds in) {
  self->state.timer_set = true;
  self->delayed_send(self, std::max(in, std::chrono::milliseconds(1)), tick_atom::value);
}

void expire_due(bridge_ptr self) {
  auto& st = self->state;
  st.timer_set = false;
  auto now = bridge_state::clock::now();
  auto it = st.pending.begin();
  for (; it != st.pending.end() && it->second <= now; it = st.pending.erase(it))
    self->eq_impl(caf::message_id{it->first}, nullptr, self->context(), caf::make_error(caf::sec::request_timeout));
  if (it != st.pending.end())
    arm(self, std::chrono::duration_cast<std::chrono::milliseconds>(it->second - now) +
                std::chrono::milliseconds(1));
}

/// Work for a bridge actor: issue one request and arrange for its callback.
struct bridge_job {
  std::function<void(bridge_ptr)> run;
};

/// Sends `cmd` to `target` from the bridge, with the bridge's own deadline; `on_reply` / `on_error` as for
/// CAF's request(...).then(...).
template <class Reply, class Handle, class Cmd, class OnReply, class OnError>
void ask(bridge_ptr self, const Handle& target, Cmd&& cmd, OnReply on_reply, OnError on_error) {
  auto timeout = self->state.timeout;
  auto handle = self->request(target, caf::infinite, std::forward<Cmd>(cmd));
  auto id = handle.id().integer_value();
  self->state.pending.emplace(id, bridge_state::clock::now() + timeout);
  if (!self->state.timer_set)
    arm(self, timeout);
  handle.then(
    [self, id, on_reply](Reply& reply) mutable {
      self->state.pending.erase(id);
      on_reply(reply);
    },
    [self, id, on_error](caf::error& err) mutable {
      self->state.pending.erase(id);
      on_error(err);
    });
}

} // namespace
} // namespace bento::node

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::node::bridge_job)

namespace bento::node {

struct domain_client::impl {
  node_runtime rt;
  std::vector<caf::actor> bridges;
  std::atomic<size_t> next{0};

  void post(std::function<void(bridge_ptr)> fn) {
    auto& bridge = bridges[next.fetch_add(1, std::memory_order_relaxed) % bridges.size()];
    caf::anon_send(bridge, bridge_job{std::move(fn)});
  }

  /// Hands the answer over once what it reflects is durable (at once unless BENTO_SYNC_WRITES): a client must
  /// never see a state that a power loss could take back. Refusals wait too, since they reflect state as well.
  template <class Reply>
  static void deliver(store::entity_store* store, callback<Reply> done, domain::outcome<Reply> answer) {
    store->after_durable([done = std::move(done), answer = std::move(answer)](bool synced) mutable {
      if (synced || !answer)
        done(std::move(answer));
      else
        done(domain::fail(domain::errc::outcome_unknown, "the change may not have reached the disk"));
    });
  }

  actors::router_actor router_for(const std::string& entity_key) const {
    if (rt.local_router && rt.serves && rt.shard_count > 0 && rt.serves(domain::shard_of(entity_key, rt.shard_count)))
      return rt.local_router;
    return rt.router;
  }

  template <class Reply, class Handle, class Cmd>
  void dispatch(const Handle& target, Cmd cmd, callback<Reply> done) {
    post([target, cmd = std::move(cmd), done = std::move(done), store = rt.store](bridge_ptr self) mutable {
      ask<Reply>(
        self, target, std::move(cmd), [done, store](Reply& reply) { deliver<Reply>(store, done, std::move(reply)); },
        [done, store](caf::error& err) { deliver<Reply>(store, done, actors::to_failure(err)); });
    });
  }
};

domain_client::domain_client(const node_runtime& rt, std::chrono::milliseconds timeout, size_t bridges)
  : impl_(std::make_shared<impl>()) {
  impl_->rt = rt;
  for (size_t i = 0; i < bridges; ++i)
    impl_->bridges.push_back(rt.system->spawn([timeout](bridge_ptr self) -> caf::behavior {
      self->state.timeout = timeout;
      return {[self](bridge_job& job) { job.run(self); }, [self](tick_atom) { expire_due(self); }};
    }));
}

domain_client::~domain_client() {
  stop();
}

void domain_client::stop() {
  for (auto& b : impl_->bridges)
    caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
  impl_->bridges.clear();
}

#define BENTO_ROUTE(Cmd, Reply, target)                                                                         \
  void domain_client::call(domain::Cmd cmd, callback<Reply> done) {                                            \
    impl_->dispatch<Reply>(impl_->rt.target, std::move(cmd), std::move(done));                                  \
  }

// A command about an entity: to this node's own router when this node serves the entity's shard (what the
// cluster router would do with it, one message later), else to the cluster router, which forwards it. The shard
// may stop being served in between: the local router checks again and answers unavailable (retry), as it does
// for a command the cluster router delegated just before.
#define BENTO_ROUTE_ENTITY(Cmd, Reply)                                                                          \
  void domain_client::call(domain::Cmd cmd, callback<Reply> done) {                                            \
    auto target = impl_->router_for(cluster::router::entity_key_of(cmd)); /* before cmd is moved from */       \
    impl_->dispatch<Reply>(target, std::move(cmd), std::move(done));                                            \
  }

BENTO_ROUTE_ENTITY(register_user, domain::user_view)
BENTO_ROUTE_ENTITY(verify_login, domain::user_view)
BENTO_ROUTE_ENTITY(get_user, domain::user_view)
BENTO_ROUTE_ENTITY(end_session, bool)
BENTO_ROUTE_ENTITY(set_member_state, bool)
BENTO_ROUTE_ENTITY(open_restaurant, domain::restaurant)
BENTO_ROUTE_ENTITY(upsert_menu_item, domain::upsert_result)
BENTO_ROUTE_ENTITY(patch_menu_item, domain::upsert_result)
BENTO_ROUTE_ENTITY(delete_menu_item, bool)
void domain_client::call(domain::place_order cmd, callback<domain::order> done) {
  auto target = impl_->router_for(cluster::router::entity_key_of(cmd));
  // Only this node's own router delivers a command once; the cluster router may send it again (place_order).
  cmd.fresh_id = cmd.fresh_id && target == impl_->rt.local_router;
  impl_->dispatch<domain::order>(target, std::move(cmd), std::move(done));
}
BENTO_ROUTE_ENTITY(get_order, domain::order)
BENTO_ROUTE_ENTITY(transition_order, domain::order)
BENTO_ROUTE_ENTITY(edit_order, domain::order)
BENTO_ROUTE(list_orders, domain::order_list, order_index)
BENTO_ROUTE(restaurants_query, domain::restaurant_list, catalog)

#undef BENTO_ROUTE
#undef BENTO_ROUTE_ENTITY

void domain_client::call(domain::get_menu cmd, callback<domain::menu_view> done) {
  // The restaurant's pinned menu is what it would answer now; the answer leaves from this thread, no hop.
  if (impl_->rt.menus)
    if (auto pinned = impl_->rt.menus->find(cmd.restaurant_id, cmd.date))
      return impl::deliver<domain::menu_view>(impl_->rt.store, std::move(done), std::move(*pinned));
  auto target = impl_->router_for(cluster::router::entity_key_of(cmd)); // before cmd is moved from
  impl_->dispatch<domain::menu_view>(target, std::move(cmd), std::move(done));
}

void domain_client::call(domain::menu_query cmd, callback<domain::menu_page> done) {
  // A page the catalog answered, with nothing announced it has not read: what it would answer now.
  if (impl_->rt.pages)
    if (auto page = impl_->rt.pages->find_current(cmd))
      return impl::deliver<domain::menu_page>(impl_->rt.store, std::move(done), std::move(*page));
  impl_->dispatch<domain::menu_page>(impl_->rt.catalog, std::move(cmd), std::move(done));
}

std::string domain_client::new_order_id(const std::string& restaurant_id) const {
  auto count = impl_->rt.shard_count;
  if (count <= 1)
    return domain::time_ordered_id("o_");
  auto shard = domain::shard_of(actors::keys::restaurant_entity(restaurant_id), count);
  return domain::random_id_in_shard("o_", actors::keys::order_entity(""), shard, count, true);
}

void domain_client::stats(callback<entity_stats> done) {
  auto rt = impl_->rt;
  impl_->post([rt, done = std::move(done)](bridge_ptr self) {
    ask<actors::entity_counts>(
      self, rt.router, actors::stats_atom::value,
        [self, rt, done](actors::entity_counts& counts) {
          ask<actors::catalog_stats>(
            self, rt.catalog, actors::stats_atom::value,
              [done, counts](actors::catalog_stats& cat) {
                entity_stats out;
                out.users = counts.users;
                out.restaurants = counts.restaurants;
                out.orders = counts.orders;
                out.activations = counts.activations;
                out.passivations = counts.passivations;
                out.evictions = counts.evictions;
                out.orders_settling = counts.orders_settling;
                out.settle_retries = counts.settle_retries;
                out.settled_forward = counts.settled_forward;
                out.settled_back = counts.settled_back;
                out.clock_regressions = counts.clock_regressions;
                out.catalog_restaurants = cat.restaurants;
                out.catalog_items = cat.items;
                out.catalog_shard_rebuilds = cat.shard_rebuilds;
                out.events_pruned = cat.events_pruned;
                done(out);
              },
              [done](caf::error& err) { done(actors::to_failure(err)); });
        },
        [done](caf::error& err) { done(actors::to_failure(err)); });
  });
}

} // namespace bento::node
