// The edges' door to the actors (node/domain_client): its own request deadlines, against an actor that answers
// when the test says so.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/store/entity_store.hpp"
#include "node/domain_client.hpp"
#include "node/runtime.hpp"
#include "protocol/domain/shards.hpp"
#include "protocol/domain/validation.hpp"
#include "tests/support/caf_config.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento;
using namespace std::chrono_literals;

namespace {

using release_atom = caf::atom_constant<caf::atom("release")>;

/// A router that answers get_order at once for order ids starting with "fast", and holds the others until
/// released (then answers every held one).
struct holding_router_state {
  std::vector<std::pair<caf::response_promise, std::string>> held;
};

caf::behavior holding_router(caf::stateful_actor<holding_router_state>* self) {
  return {
    [self](domain::get_order& q) -> caf::result<domain::order> {
      domain::order o;
      o.id = q.order_id;
      if (q.order_id.rfind("fast", 0) == 0)
        return o;
      self->state.held.emplace_back(self->make_response_promise(), q.order_id);
      return caf::delegated<domain::order>{};
    },
    [self](release_atom) {
      for (auto& [promise, id] : self->state.held) {
        domain::order o;
        o.id = id;
        promise.deliver(o);
      }
      self->state.held.clear();
    },
  };
}

/// Answers as they come, counted per outcome.
struct answers {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<domain::outcome<domain::order>> got;

  std::function<void(domain::outcome<domain::order>)> sink() {
    return [this](domain::outcome<domain::order> o) {
      std::lock_guard lock(mutex);
      got.push_back(std::move(o));
      cv.notify_all();
    };
  }
  bool wait_for(size_t n) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, 20s, [&] { return got.size() >= n; });
  }
  size_t count() {
    std::lock_guard lock(mutex);
    return got.size();
  }
};

/// What a domain client needs to run: a store (its answers wait for the store's durability), an actor system,
/// and a runtime pointing at both; the routers are the test's.
struct client_env {
  test::temp_dir dir;
  std::unique_ptr<store::entity_store> store;
  caf::actor_system sys{test::quiet_caf_config()};
  node::node_runtime rt;

  client_env() {
    auto opened = store::entity_store::open(store::store_options{dir / "db", false, 8u << 20});
    REQUIRE(opened);
    store = std::move(*opened);
    rt.system = &sys;
    rt.store = store.get();
  }
};

} // namespace

TEST_CASE("domain client: an unanswered request fails as outcome_unknown at its deadline, once; answered ones "
          "never time out; a late answer is dropped",
          "[unit]") {
  client_env env;
  auto& rt = env.rt;
  auto router = env.sys.spawn(holding_router);
  rt.router = caf::actor_cast<actors::router_actor>(router);
  {
    constexpr auto timeout = 2s; // long enough that a loaded machine answers the fast ones in time
    node::domain_client client(rt, timeout, 1); // one bridge: its mailbox order is what the test relies on
    answers a;
    auto ask = [&](std::string id) {
      domain::get_order q;
      q.order_id = std::move(id);
      client.call(std::move(q), a.sink());
    };
    for (int i = 0; i < 50; ++i)
      ask("fast" + std::to_string(i));
    REQUIRE(a.wait_for(50));
    auto asked = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i)
      ask("held" + std::to_string(i));
    REQUIRE(a.wait_for(53)); // without deadlines of its own the bridge would wait for ever here
    auto waited = std::chrono::steady_clock::now() - asked;
    CHECK(waited >= timeout - 10ms); // not before the deadline (the timer's granularity is 1 ms)
    {
      std::lock_guard lock(a.mutex);
      for (size_t i = 0; i < 50; ++i) {
        REQUIRE(a.got[i]);
        CHECK(a.got[i]->id.rfind("fast", 0) == 0);
      }
      for (size_t i = 50; i < 53; ++i) {
        REQUIRE_FALSE(a.got[i]);
        CHECK(a.got[i].error().code == domain::errc::outcome_unknown);
      }
    }
    // The held answers arrive now, late: dropped. The next answer comes after them through the same mailbox, so
    // once it is here any second callback would have been counted.
    caf::anon_send(router, release_atom::value);
    ask("fast-final");
    REQUIRE(a.wait_for(54));
    std::lock_guard lock(a.mutex);
    CHECK(a.got.size() == 54);
    REQUIRE(a.got.back());
    CHECK(a.got.back()->id == "fast-final");
  }
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
}

namespace {

/// A router that says who answered (in the order's customer id).
caf::behavior named_router(caf::event_based_actor*, std::string name) {
  return {[name](domain::get_order& q) -> domain::order {
    domain::order o;
    o.id = q.order_id;
    o.customer_id = name;
    return o;
  }};
}

} // namespace

TEST_CASE("domain client: a command for a shard this node serves goes to its own router, others to the cluster's",
          "[unit]") {
  client_env env;
  auto& rt = env.rt;
  rt.shard_count = 64;
  auto cluster_router = env.sys.spawn(named_router, "cluster");
  auto local_router = env.sys.spawn(named_router, "local");
  rt.router = caf::actor_cast<actors::router_actor>(cluster_router);
  rt.local_router = caf::actor_cast<actors::router_actor>(local_router);
  auto ask_all = [&](node::domain_client& client, std::vector<std::string>& via) {
    answers a;
    for (int i = 0; i < 64; ++i) {
      domain::get_order q;
      q.order_id = "o_" + std::to_string(i);
      client.call(std::move(q), a.sink());
    }
    REQUIRE(a.wait_for(64));
    std::lock_guard lock(a.mutex);
    for (auto& o : a.got) {
      REQUIRE(o);
      via.push_back(o->id + "=" + o->customer_id);
    }
  };
  {
    // Without a way to tell what it serves, everything goes through the cluster router.
    node::domain_client client(rt, 5s, 1);
    std::vector<std::string> via;
    ask_all(client, via);
    for (auto& v : via)
      CHECK(v.substr(v.find('=') + 1) == "cluster");
  }
  {
    rt.serves = [](domain::shard_id s) { return s % 2 == 0; };
    node::domain_client client(rt, 5s, 1);
    std::vector<std::string> via;
    ask_all(client, via);
    int local = 0;
    for (auto& v : via) {
      auto id = v.substr(0, v.find('='));
      bool served = domain::shard_of("order/" + id, 64) % 2 == 0;
      INFO(v);
      CHECK(v.substr(v.find('=') + 1) == (served ? "local" : "cluster"));
      local += served ? 1 : 0;
    }
    CHECK(local > 0);
    CHECK(local < 64);
  }
  caf::anon_send_exit(cluster_router, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(local_router, caf::exit_reason::user_shutdown);
}

TEST_CASE("domain client: a new order id falls in its restaurant's shard", "[unit]") {
  node::node_runtime rt;
  for (domain::shard_id count : {1, 8, 64, 4096}) {
    rt.shard_count = count;
    node::domain_client client(rt, 1s, 0);
    std::set<std::string> ids;
    for (int i = 0; i < 500; ++i) {
      auto rid = "r_" + std::to_string(i * 7919);
      auto id = client.new_order_id(rid);
      INFO(count << " shards, " << rid << ": " << id);
      CHECK(id.rfind("o_", 0) == 0);
      CHECK(id.find_first_not_of("0123456789abcdef", 2) == std::string::npos);
      CHECK(id.size() == (count > 1 ? 32u : 29u)); // o_, 11 digits of time, 16 random, 3 chosen
      CHECK(domain::check_id("order id", id) == std::nullopt);
      if (count > 1)
        CHECK(domain::shard_of("order/" + id, count) == domain::shard_of("restaurant/" + rid, count));
      // Time first (the wall clock's milliseconds, 11 hex digits): ids made one after another sort one after
      // another, so their keys append to the memtable. Checked against the clock within an hour, not against
      // each other: a clock stepped back mid-test must not fail it.
      auto made = static_cast<int64_t>(std::stoull(id.substr(2, 11), nullptr, 16));
      auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
      CHECK(std::llabs(now_ms - made) < 3'600'000);
      ids.insert(id);
    }
    CHECK(ids.size() == 500); // 64 random bits each
  }
}
