// Membership over real transports on loopback: failure detection with the default timings, restarts with a
// higher incarnation, discovery from one seed, heartbeat payloads.
#include <catch2/catch.hpp>

#include <map>

#include "tests/support/cluster_node.hpp"

using namespace bento::test;
using clock_type = std::chrono::steady_clock;

namespace {

// Member changes one node saw, with the time each arrived.
struct change_log {
  std::mutex mutex;
  std::vector<std::pair<mb::member_change, clock_type::time_point>> changes;

  void attach(mb::membership& m) {
    m.on_member_change([this](const mb::member_change& c) {
      std::lock_guard lock(mutex);
      changes.emplace_back(c, clock_type::now());
    });
  }
  std::optional<std::pair<mb::member_change, clock_type::time_point>> first(const std::string& id,
                                                                              mb::member_state to,
                                                                              clock_type::time_point after) {
    std::lock_guard lock(mutex);
    for (auto& [c, t] : changes)
      if (c.id == id && c.to == to && !c.joined && t >= after)
        return std::make_pair(c, t);
    return std::nullopt;
  }
};

tp::transport_config with_incarnation(tp::transport_config c, uint64_t incarnation) {
  c.incarnation = incarnation;
  return c;
}

long long ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

} // namespace

TEST_CASE("membership: a killed peer is suspect, then down, in time; restarted it is up with its new incarnation",
          "[unit][membership]") {
  mb::membership_config mc; // the defaults: heartbeat 100 ms, suspect 500 ms, down 1000 ms
  cluster_node a(node_config("node-a"), true, mc);
  change_log seen;
  seen.attach(a.membership());
  a.start();
  auto b = std::make_unique<cluster_node>(with_incarnation(node_config("node-b"), 1), true, mc);
  b->start();
  auto b_port = b->port();
  REQUIRE(b->transport().add_peer(a.address()));
  REQUIRE(eventually([&] {
    for (auto& m : a.membership().members())
      if (m.id == "node-b" && m.state == mb::member_state::up)
        return a.membership().stats().heartbeats_received >= 3;
    return false;
  }));

  auto killed = clock_type::now();
  b->stop(); // its connections close, its heartbeats stop
  b.reset();
  REQUIRE(eventually([&] { return seen.first("node-b", mb::member_state::down, killed).has_value(); }, 5s));
  auto suspect = seen.first("node-b", mb::member_state::suspect, killed);
  auto down = seen.first("node-b", mb::member_state::down, killed);
  REQUIRE(suspect);
  auto to_suspect = ms_between(killed, suspect->second);
  auto to_down = ms_between(killed, down->second);
  WARN("kill -> suspect " << to_suspect << " ms, kill -> down " << to_down << " ms");
  // Last heard at most one heartbeat before the kill; noticed at most a quarter heartbeat (the detector's check)
  // after the deadline, plus scheduling slack on a shared machine.
  auto hb = mc.heartbeat_interval.count();
  CHECK(to_suspect >= mc.suspect_after.count() - hb);
  CHECK(to_suspect <= mc.suspect_after.count() + hb / 4 + 150);
  CHECK(to_down >= mc.down_after.count() - hb);
  CHECK(to_down <= mc.down_after.count() + hb / 4 + 150);
  CHECK(suspect->second <= down->second);

  // Restarted on the same port and data dir: incarnation 2. It dials a; a also keeps dialling it.
  auto restarted_at = clock_type::now();
  auto cb = with_incarnation(node_config("node-b"), 2);
  cb.port = b_port;
  cluster_node b2(cb, true, mc);
  b2.start();
  REQUIRE(b2.transport().add_peer(a.address()));
  REQUIRE(eventually([&] { return seen.first("node-b", mb::member_state::up, restarted_at).has_value(); }));
  auto up = seen.first("node-b", mb::member_state::up, restarted_at);
  CHECK(up->first.restarted);
  CHECK(up->first.incarnation == 2);
  CHECK(up->first.from == mb::member_state::down);
  WARN("restart -> up " << ms_between(restarted_at, up->second) << " ms");
  for (auto& m : a.membership().members())
    if (m.id == "node-b") {
      CHECK(m.incarnation == 2);
      CHECK(m.state == mb::member_state::up);
      CHECK(m.address == b2.address());
    }
  // And it stays up: no flapping while heartbeats flow.
  auto steady_from = clock_type::now();
  REQUIRE(eventually([&] { return a.membership().stats().heartbeats_received >= 20; }));
  auto until = clock_type::now() + 600ms;
  eventually([&] { return clock_type::now() >= until; }, 1s);
  CHECK_FALSE(seen.first("node-b", mb::member_state::suspect, steady_from));
}

TEST_CASE("membership: a node given one seed finds the others", "[unit][membership]") {
  cluster_node a(node_config("node-a"), true);
  a.start();
  auto cb = node_config("node-b");
  cb.seeds = {a.address()};
  cluster_node b(cb, true);
  b.start();
  REQUIRE(eventually([&] { return a.connected_to("node-b"); }));
  // c knows only a; it learns b from a's member list, and b learns c when c dials it.
  auto cc = node_config("node-c");
  cc.seeds = {a.address()};
  cluster_node c(cc, true);
  c.start();
  REQUIRE(eventually([&] {
    return c.connected_to("node-a") && c.connected_to("node-b") && b.connected_to("node-c")
           && a.connected_to("node-c");
  }));
  CHECK(c.membership().stats().peers_discovered >= 1);
  auto p = c.peer("node-b");
  REQUIRE(p);
  CHECK(p->address == b.address());
  // Every node hears heartbeats from every other.
  REQUIRE(eventually([&] {
    for (auto* n : {&a, &b, &c}) {
      auto members = n->membership().members();
      if (members.size() != 2)
        return false;
      for (auto& m : members)
        if (m.state != mb::member_state::up)
          return false;
    }
    return true;
  }));
  // Frames flow between the nodes that were never told about each other.
  REQUIRE(c.transport().send("node-b", "hello b, from c") == tp::errc::none);
  REQUIRE(b.wait_frames(1));
  CHECK(b.frames()[0].from == "node-c");
}

TEST_CASE("membership: heartbeats carry a payload per peer for modules that piggyback", "[unit][membership]") {
  cluster_node a(node_config("node-a"), true);
  cluster_node b(node_config("node-b"), true);
  a.membership().set_heartbeat_payload([](const std::string& peer) { return "raft-heartbeats-for-" + peer; });
  std::mutex m;
  std::map<std::string, std::string> got;
  b.membership().on_heartbeat_payload([&](const std::string& from, std::string payload) {
    std::lock_guard lock(m);
    got[from] = std::move(payload);
  });
  a.start();
  b.start();
  REQUIRE(b.transport().add_peer(a.address()));
  REQUIRE(eventually([&] {
    std::lock_guard lock(m);
    return got.count("node-a") == 1;
  }));
  std::lock_guard lock(m);
  CHECK(got["node-a"] == "raft-heartbeats-for-node-b");
  CHECK(got.size() == 1); // b sends empty payloads: nothing delivered
}
