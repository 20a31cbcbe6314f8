#include "actors/order_index/order_index_actor.hpp"

#include <memory>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/common/domain_error.hpp"
#include "actors/store/entity_store.hpp"

namespace bento::actors {

using namespace bento::domain;

namespace {

using run_listing_atom = caf::atom_constant<caf::atom("runlist")>;

/// One listing in flight between the queue and a worker. The worker fills `result`; only the front actor
/// touches the promise (its reply must leave from the actor that received the request).
struct listing_job {
  list_orders query;
  outcome<order_list> result = fail(errc::storage_failure, "listing did not run");
};
using listing_job_ptr = std::shared_ptr<listing_job>;

} // namespace
} // namespace bento::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::actors::listing_job_ptr)

namespace bento::actors {
namespace {

using query_fn = std::function<outcome<order_list>(const list_orders&)>;

struct waiting_listing {
  listing_job_ptr job;
  caf::typed_response_promise<order_list> promise;
};

struct order_index_state {
  listing_queue queue;
  std::unordered_map<uint64_t, waiting_listing> jobs; // queued or running
  std::vector<caf::actor> idle_workers;
  uint64_t next_job = 1;
  static inline const char* name = "order_index";
};

using self_ptr = order_index_actor::stateful_pointer<order_index_state>;

/// Hands queued listings to idle workers, in the queue's fair order.
void pump(self_ptr self) {
  auto& st = self->state;
  while (!st.idle_workers.empty()) {
    auto ready = st.queue.next();
    if (!ready)
      return;
    auto worker = std::move(st.idle_workers.back());
    st.idle_workers.pop_back();
    auto job = st.jobs.at(ready->job).job;
    auto finish = [self, worker, id = ready->job, caller = ready->caller](std::optional<failure> f) {
      auto& st = self->state;
      auto it = st.jobs.find(id);
      if (it != st.jobs.end()) {
        auto& result = it->second.job->result;
        if (f)
          it->second.promise.deliver(make_error(*f));
        else if (result)
          it->second.promise.deliver(std::move(*result));
        else
          it->second.promise.deliver(make_error(result.error()));
        st.jobs.erase(it);
      }
      st.queue.finished(caller);
      st.idle_workers.push_back(worker);
      pump(self);
    };
    self->request(worker, caf::infinite, run_listing_atom::value, std::move(job))
      .then([finish](bool) { finish(std::nullopt); },
            [finish](caf::error& err) { finish(to_failure(err)); });
  }
}

order_index_actor::behavior_type order_index_behavior(self_ptr self, query_fn query, order_index_options options) {
  auto& st = self->state;
  auto policy = options.queue;
  auto workers = std::max<size_t>(1, options.workers);
  if (policy.max_running_per_caller == 0)
    policy.max_running_per_caller = std::max<size_t>(1, workers - 1);
  st.queue = listing_queue(policy);
  for (size_t i = 0; i < workers; ++i) {
    // Detached: each worker is its own thread, so a listing's RocksDB reads never hold a scheduler thread.
    // Linked: they stop with the front actor.
    st.idle_workers.push_back(self->spawn<caf::detached + caf::linked>(
      [query](caf::event_based_actor*) -> caf::behavior {
        return {[query](run_listing_atom, const listing_job_ptr& job) {
          job->result = query(job->query);
          return true;
        }};
      }));
  }
  return {
    [self](list_orders& q) -> caf::result<order_list> {
      auto& st = self->state;
      auto id = st.next_job++;
      auto caller = q.caller.user_id;
      switch (st.queue.push(caller, id)) {
        case listing_queue::admission::accepted:
          break;
        case listing_queue::admission::caller_full:
          return make_error(fail(errc::overloaded, "too many of your listings are waiting; retry"));
        case listing_queue::admission::queue_full:
          return make_error(fail(errc::overloaded, "too many listings are waiting; retry"));
      }
      auto job = std::make_shared<listing_job>();
      job->query = std::move(q);
      auto rp = self->make_response_promise<order_list>();
      st.jobs.emplace(id, waiting_listing{std::move(job), rp});
      pump(self);
      return rp;
    },
  };
}

} // namespace

order_index_actor spawn_order_index_actor(caf::actor_system& sys, store::entity_store* store,
                                          order_index_options options) {
  query_fn query = options.query;
  if (!query)
    query = [store](const list_orders& q) { return query_orders(*store, q); };
  return sys.spawn(order_index_behavior, std::move(query), std::move(options));
}

} // namespace bento::actors
