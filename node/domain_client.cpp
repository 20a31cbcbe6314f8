#include "node/domain_client.hpp"

#include <atomic>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/common/domain_error.hpp"
#include "actors/store/entity_store.hpp"
#include "node/runtime.hpp"

namespace bento::node {

namespace {

/// Work for a bridge actor: issue one request and arrange for its callback.
struct bridge_job {
  std::function<void(caf::event_based_actor*)> run;
};

} // namespace
} // namespace bento::node

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::node::bridge_job)

namespace bento::node {

struct domain_client::impl {
  node_runtime rt;
  caf::duration timeout;
  std::vector<caf::actor> bridges;
  std::atomic<size_t> next{0};

  void post(std::function<void(caf::event_based_actor*)> fn) {
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

  template <class Reply, class Handle, class Cmd>
  void dispatch(const Handle& target, Cmd cmd, callback<Reply> done) {
    post([target, cmd = std::move(cmd), done = std::move(done), t = timeout,
          store = rt.store](caf::event_based_actor* self) mutable {
      self->request(target, t, std::move(cmd))
        .then([done, store](Reply& reply) { deliver<Reply>(store, done, std::move(reply)); },
              [done, store](caf::error& err) { deliver<Reply>(store, done, actors::to_failure(err)); });
    });
  }
};

domain_client::domain_client(const node_runtime& rt, std::chrono::milliseconds timeout, size_t bridges)
  : impl_(std::make_shared<impl>()) {
  impl_->rt = rt;
  impl_->timeout = caf::duration{timeout};
  for (size_t i = 0; i < bridges; ++i)
    impl_->bridges.push_back(rt.system->spawn([](caf::event_based_actor* self) -> caf::behavior {
      return {[self](bridge_job& job) { job.run(self); }};
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

BENTO_ROUTE(register_user, domain::user_view, router)
BENTO_ROUTE(verify_login, domain::user_view, router)
BENTO_ROUTE(get_user, domain::user_view, router)
BENTO_ROUTE(end_session, bool, router)
BENTO_ROUTE(set_member_state, bool, router)
BENTO_ROUTE(open_restaurant, domain::restaurant, router)
BENTO_ROUTE(upsert_menu_item, domain::upsert_result, router)
BENTO_ROUTE(patch_menu_item, domain::upsert_result, router)
BENTO_ROUTE(delete_menu_item, bool, router)
BENTO_ROUTE(get_menu, domain::menu_view, router)
BENTO_ROUTE(place_order, domain::order, router)
BENTO_ROUTE(get_order, domain::order, router)
BENTO_ROUTE(transition_order, domain::order, router)
BENTO_ROUTE(edit_order, domain::order, router)
BENTO_ROUTE(list_orders, domain::order_list, order_index)
BENTO_ROUTE(menu_query, domain::menu_page, catalog)
BENTO_ROUTE(restaurants_query, domain::restaurant_list, catalog)

#undef BENTO_ROUTE

void domain_client::stats(callback<entity_stats> done) {
  auto rt = impl_->rt;
  auto t = impl_->timeout;
  impl_->post([rt, t, done = std::move(done)](caf::event_based_actor* self) {
    self->request(rt.router, t, actors::stats_atom::value)
      .then(
        [self, rt, t, done](actors::entity_counts& counts) {
          self->request(rt.catalog, t, actors::stats_atom::value)
            .then(
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
