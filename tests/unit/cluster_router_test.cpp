// The cluster router's view of its peers: the transport's "back" and the failure detector's "lost" reach it
// from different threads and may come in either order. The chaos rig found a live leader left unused for 15 s
// after a freeze because a "lost" came after its "back"; here the two arrive in that order by construction.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/router/router_actor.hpp"
#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"
#include "actors/store/store_layout.hpp"
#include "cluster/router/cluster_router.hpp"
#include "cluster/shard/replica_host.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento;
using namespace std::chrono_literals;

namespace {

/// Node "a", joining and not yet replicating anything: every command goes to "b", the one replica the placement
/// names.
struct router_of_a {
  bento::test::temp_dir dir;
  std::unique_ptr<store::entity_store> db;
  std::unique_ptr<store::shard_set> shards;
  std::unique_ptr<cluster::shard::replica_host> host;
  std::mutex mutex;
  std::vector<std::string> sent_to; // peers the router forwarded a command to
  std::atomic<bool> b_reachable{true};

  router_of_a() {
    auto s = store::entity_store::open(store::store_options{dir / "db", false, 8u << 20, 4});
    REQUIRE(s);
    db = std::move(*s);
    REQUIRE(actors::ensure_store_layout(*db));
    shards = std::make_unique<store::shard_set>(*db);
    cluster::shard::host_options o;
    o.self = "a";
    host = std::make_unique<cluster::shard::replica_host>(*shards, o, [](const std::string&, std::string) {});
    std::vector<std::vector<std::string>> placement(shards->count(), std::vector<std::string>{"b"});
    REQUIRE(host->open(placement, {"a", "b"}, false, 1));
    // A joining node's replicas know no leader yet: the router asks the placement's replica, "b".
    host->set_moves_enabled(false);
  }

  cluster::router::cluster_router_options options(bool ask_reachable) {
    cluster::router::cluster_router_options o;
    o.self = "a";
    o.host = host.get();
    o.timeout = 300ms;
    o.retry = 20ms;
    o.send = [this](const std::string& peer, std::string) {
      std::lock_guard lock(mutex);
      sent_to.push_back(peer);
      return true;
    };
    if (ask_reachable)
      o.reachable = [this](const std::string& peer) { return peer == "b" && b_reachable.load(); };
    return o;
  }

  std::vector<std::string> sends() {
    std::lock_guard lock(mutex);
    return sent_to;
  }
};

caf::actor_system_config& config() {
  static caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  cfg.set("logger.verbosity", caf::atom("quiet"));
  return cfg;
}

/// Asks for a user through the router; the answer does not matter (nobody answers for "b"), only where it went.
void ask(caf::actor_system& sys, const actors::router_actor& router) {
  caf::scoped_actor self{sys};
  self->request(router, caf::infinite, domain::get_user{"carl"})
    .receive([](const domain::user_view&) {}, [](const caf::error&) {});
}

} // namespace

TEST_CASE("cluster router: a peer's lost event that arrives after its back event does not strand it",
          "[unit][router]") {
  router_of_a a;
  caf::actor_system sys{config()};
  SECTION("the router asks whether the peer is reachable, and uses it") {
    auto router = cluster::router::spawn_cluster_router(sys, a.options(true));
    // The order a frozen-then-woken leader's events can take: back (its link is up again), then a late lost.
    cluster::router::peer_back(router, "b");
    cluster::router::peer_lost(router, "b", true);
    ask(sys, router);
    auto sent = a.sends();
    REQUIRE(sent.size() == 1); // sent once, then outcome_unknown at the timeout: never sent twice
    CHECK(sent[0] == "b");
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  }
  SECTION("a peer that is really gone gets nothing") {
    a.b_reachable = false;
    auto router = cluster::router::spawn_cluster_router(sys, a.options(true));
    cluster::router::peer_back(router, "b");
    cluster::router::peer_lost(router, "b", true);
    ask(sys, router);
    CHECK(a.sends().empty());
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  }
  SECTION("trusting the events alone (the old rule) strands the live peer") {
    auto router = cluster::router::spawn_cluster_router(sys, a.options(false));
    cluster::router::peer_back(router, "b");
    cluster::router::peer_lost(router, "b", true);
    ask(sys, router);
    CHECK(a.sends().empty());
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  }
}
