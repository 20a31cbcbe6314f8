// The cluster router's view of its peers: the transport's "back" and the failure detector's "lost" reach it
// from different threads and may come in either order. The chaos rig found a live leader left unused for 15 s
// after a freeze because a "lost" came after its "back"; here the two arrive in that order by construction.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/common/domain_error.hpp"
#include "actors/router/router_actor.hpp"
#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"
#include "actors/store/store_layout.hpp"
#include "cluster/router/cluster_router.hpp"
#include "cluster/router/forward_codec.hpp"
#include "protocol/codec/command_codec.hpp"
#include "cluster/shard/replica_host.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento;
using namespace std::chrono_literals;

namespace {

/// A node's store on a fresh directory, with the layout the entities expect.
std::unique_ptr<store::entity_store> open_store(const std::string& path) {
  auto s = store::entity_store::open(store::store_options{path, false, 8u << 20, 4});
  REQUIRE(s);
  REQUIRE(actors::ensure_store_layout(**s));
  return std::move(*s);
}

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
    db = open_store(dir / "db");
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

namespace {

/// A local router whose entity takes a command and never answers it (a cancel waiting on a restaurant whose
/// leader is frozen, say): the command is running here, its outcome open.
struct stalled_local_state {
  std::vector<caf::response_promise> running;
};

caf::behavior stalled_local(caf::stateful_actor<stalled_local_state>* self, std::atomic<int>* taken) {
  return {
    [self, taken](domain::get_user&) {
      ++*taken;
      auto rp = self->make_response_promise();
      self->state.running.push_back(rp);
      return rp;
    },
    [](actors::stats_atom) { return actors::entity_counts{}; },
  };
}

/// One node's store and replica host, for a group of two wired in this process.
struct replica_node {
  bento::test::temp_dir dir;
  std::unique_ptr<store::entity_store> db;
  std::unique_ptr<store::shard_set> shards;
  std::unique_ptr<cluster::shard::replica_host> host;

  replica_node(const std::string& name, int election_ticks, cluster::shard::replica_host::outbound send) {
    db = open_store(dir / "db");
    shards = std::make_unique<store::shard_set>(*db);
    cluster::shard::host_options o;
    o.self = name;
    o.tick = 10ms;
    o.election_ticks = election_ticks;
    host = std::make_unique<cluster::shard::replica_host>(*shards, o, std::move(send));
    std::vector<std::vector<std::string>> placement(shards->count(), std::vector<std::string>{"a", "b"});
    REQUIRE(host->open(placement, {"a", "b"}, true, 2));
  }
};


/// Node "a" alone replicates every shard, so it serves them all once it has elected itself (carl's shard
/// included, when constructed).
struct lone_node {
  bento::test::temp_dir dir;
  std::unique_ptr<store::entity_store> db;
  std::unique_ptr<store::shard_set> shards;
  std::unique_ptr<cluster::shard::replica_host> host;

  lone_node() {
    db = open_store(dir / "db");
    shards = std::make_unique<store::shard_set>(*db);
    cluster::shard::host_options ho;
    ho.self = "a";
    ho.tick = 10ms;
    ho.election_ticks = 10;
    host = std::make_unique<cluster::shard::replica_host>(*shards, ho, [](const std::string&, std::string) {});
    REQUIRE(host->open(std::vector<std::vector<std::string>>(shards->count(), std::vector<std::string>{"a"}),
                       {"a"}, true, 1));
    host->start();
    auto shard = domain::shard_of("user/carl", shards->count());
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!host->serves(shard) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms); // polling interval of a bounded wait
    REQUIRE(host->serves(shard));
  }
  ~lone_node() { host->stop(); }
};

/// A local router whose entity answers at once.
caf::behavior answering_local(caf::event_based_actor*) {
  return {
    [](domain::get_user& cmd) {
      domain::user_view u;
      u.username = cmd.username;
      return u;
    },
    [](actors::stats_atom) { return actors::entity_counts{}; },
  };
}

} // namespace

TEST_CASE("cluster router: a command that began running here after its shard came here is never called unavailable",
          "[unit][router]") {
  // Nodes "a" and "b" replicate every shard; their link is down at first, so no shard has a leader and a
  // command at "a" waits. The link comes up, "a" leads its shard (at once, or when b hands it home) and the
  // command runs here (forwarding to b is refused, so it runs nowhere else), without an answer before the
  // router's deadline. That deadline must say outcome_unknown:
  // unavailable tells the caller that nothing ran and invites a retry, which the chaos rig caught as a cancel
  // answered invalid_transition (its retry found the first attempt's cancel done).
  std::atomic<bool> linked{false};
  std::unique_ptr<replica_node> a, b;
  a = std::make_unique<replica_node>("a", 10, [&](const std::string&, std::string batch) {
    if (linked)
      b->host->deliver("a", std::move(batch));
  });
  b = std::make_unique<replica_node>("b", 60, [&](const std::string&, std::string batch) {
    if (linked)
      a->host->deliver("b", std::move(batch));
  });
  a->host->set_moves_enabled(true); // a member of a formed cluster: while its shard elects, commands wait
  a->host->start();
  b->host->start();

  caf::actor_system sys{config()};
  cluster::router::cluster_router_options o;
  o.self = "a";
  o.host = a->host.get();
  o.timeout = 5s;
  o.retry = 20ms;
  o.send = [](const std::string&, std::string) { return false; }; // not queued: it ran nowhere
  auto router = cluster::router::spawn_cluster_router(sys, o);
  std::atomic<int> taken{0};
  auto local = sys.spawn(stalled_local, &taken);
  cluster::router::set_local(router, caf::actor_cast<actors::router_actor>(local));

  caf::scoped_actor self{sys};
  auto shard = domain::shard_of("user/carl", a->shards->count());
  REQUIRE_FALSE(a->host->serves(shard));
  auto pending = self->request(router, caf::infinite, domain::get_user{"carl"});
  // The router has taken the command (FIFO from one sender) while nothing is served here: it waits.
  self->request(router, caf::infinite, actors::stats_atom::value).receive([](actors::entity_counts&) {},
                                                                          [](caf::error&) { FAIL("no stats"); });
  linked = true;
  std::optional<domain::failure> answer;
  pending.receive([](domain::user_view&) { FAIL("the stalled entity answered"); },
                  [&](caf::error& err) { answer = actors::to_failure(err); });
  REQUIRE(answer);
  CHECK(taken.load() == 1); // it ran here
  CHECK(answer->code == domain::errc::outcome_unknown);
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
  a->host->stop();
  b->host->stop();
}

TEST_CASE("cluster router: a forwarded command waits here no longer than its caller has left", "[unit][router]") {
  // The caller sends the time it has left with the command. The executing node waited its own timeout
  // whatever that was, holding the call for an answer nobody would read; now it answers (outcome_unknown) once
  // the caller's time is up.
  lone_node alone;
  auto& host = *alone.host;
  // Declared before the actor system, so that what `o.send` below (the router's transport in this test,
  // recording the answers it takes) touches outlives every actor: the system's end waits for them all.
  std::mutex mutex;
  std::vector<cluster::router::forward_reply> replies;
  caf::actor_system sys{config()};
  cluster::router::cluster_router_options o;
  o.self = "a";
  o.host = &host;
  o.timeout = 60s; // the router's own: far past the test's wait
  o.retry = 20ms;
  o.send = [&](const std::string&, std::string bytes) {
    cluster::router::cluster_data d;
    if (cluster::router::decode_data(bytes, d))
      if (auto* r = std::get_if<cluster::router::forward_reply>(&d)) {
        std::lock_guard lock(mutex);
        replies.push_back(*r);
      }
    return true;
  };
  auto router = cluster::router::spawn_cluster_router(sys, o);
  std::atomic<int> taken{0};
  auto local = sys.spawn(stalled_local, &taken);
  cluster::router::set_local(router, caf::actor_cast<actors::router_actor>(local));
  cluster::router::forward_request req{7, cluster::router::command_traits<domain::get_user>::kind,
                                       codec::encode(domain::get_user{"carl"}), 200};
  cluster::router::deliver_data(router, "b", cluster::router::encode_data(req));
  auto answered = [&] {
    std::lock_guard lock(mutex);
    return !replies.empty();
  };
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!answered() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms); // polling interval of a bounded wait
  REQUIRE(answered()); // within the test's wait, not after the router's 60 s
  std::lock_guard lock(mutex);
  CHECK(taken.load() == 1); // it ran here
  CHECK(replies[0].id == 7);
  CHECK_FALSE(replies[0].ok);
  CHECK(replies[0].failure.code == domain::errc::outcome_unknown);
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
}

TEST_CASE("cluster router: a forwarded command's answer that the transport does not take is sent again until its "
          "caller stops waiting", "[unit][router]") {
  // The caller's queue was full: the answer of a command that ran here was lost, and its caller heard
  // outcome_unknown at its deadline.
  lone_node alone;
  // Declared before the actor system, so that what `o.send` below (the router's transport in this test,
  // recording and refusing sends) touches outlives every actor, even when a section fails with a resend still
  // pending: the system's end waits for them all.
  std::mutex mutex;
  std::vector<cluster::router::forward_reply> taken; // answers the transport took
  int refused = 0;
  int refuse_first = 0; // the transport refuses this many sends
  std::vector<std::string> sent_to;
  caf::actor_system sys{config()};
  cluster::router::cluster_router_options o;
  o.self = "a";
  o.host = alone.host.get();
  o.timeout = 60s;
  o.retry = 20ms;
  o.send = [&](const std::string& to, std::string bytes) { // on a CAF thread: records, the test asserts
    std::lock_guard lock(mutex);
    sent_to.push_back(to);
    if (refused < refuse_first) {
      ++refused;
      return false;
    }
    cluster::router::cluster_data d;
    if (cluster::router::decode_data(bytes, d))
      if (auto* r = std::get_if<cluster::router::forward_reply>(&d))
        taken.push_back(*r);
    return true;
  };
  auto counts = [&] {
    std::lock_guard lock(mutex);
    return std::make_pair(refused, taken.size());
  };
  auto wait_for = [&](auto done, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms); // polling interval of a bounded wait
    return done();
  };
  auto local = sys.spawn(answering_local);
  auto run = [&](uint32_t caller_ms) {
    auto router = cluster::router::spawn_cluster_router(sys, o);
    cluster::router::set_local(router, caf::actor_cast<actors::router_actor>(local));
    cluster::router::forward_request req{9, cluster::router::command_traits<domain::get_user>::kind,
                                         codec::encode(domain::get_user{"carl"}), caller_ms};
    cluster::router::deliver_data(router, "b", cluster::router::encode_data(req));
    return router;
  };
  // No try after the last one for a second: the router has given up.
  auto stable = [&] {
    auto before = counts().first;
    std::this_thread::sleep_for(1s);
    return counts().first == before;
  };
  SECTION("refused three times, then taken: the caller gets the answer") {
    refuse_first = 3;
    auto router = run(10000);
    REQUIRE(wait_for([&] { return counts().second == 1; }, 20s));
    std::lock_guard lock(mutex);
    CHECK(refused == 3);
    CHECK(taken[0].id == 9);
    CHECK(taken[0].ok);
    CHECK(std::all_of(sent_to.begin(), sent_to.end(), [](auto& to) { return to == "b"; }));
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  }
  SECTION("refused for good: tried until the caller's time is up, then given up") {
    refuse_first = 1000000;
    auto router = run(2000);
    REQUIRE(wait_for([&] { return counts().first >= 2; }, 20s)); // tried again
    REQUIRE(wait_for(stable, 30s));
    CHECK(counts().first <= 2000 / 20 + 1); // its last try came before the caller's 2 s were up
    CHECK(counts().second == 0);
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  }
  SECTION("the caller lost (its link closed, or it restarted): not sent again, though it had time left") {
    // A restarted caller numbers its calls from 1 again: an old answer on its new link could match a new call.
    refuse_first = 1000000;
    auto router = run(60000);
    REQUIRE(wait_for([&] { return counts().first >= 2; }, 20s));
    cluster::router::peer_lost(router, "b", false);
    REQUIRE(wait_for(stable, 30s)); // long before the caller's 60 s
    CHECK(counts().second == 0);
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  }
  caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
}
