// The failure detector and the incarnation counter: pure logic under a virtual clock, and one small file.
#include <catch2/catch.hpp>

#include <fstream>

#include "cluster/membership/failure_detector.hpp"
#include "cluster/membership/incarnation.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using bento::cluster::membership::failure_detector;
using bento::cluster::membership::member_change;
using bento::cluster::membership::member_state;

namespace {

failure_detector::time_point at(std::chrono::milliseconds t) {
  return failure_detector::time_point{} + 1h + t; // a virtual clock
}

} // namespace

TEST_CASE("failure detector: suspect, then down, then up again when heard", "[unit][membership]") {
  failure_detector fd(500ms, 1000ms);
  auto first = fd.heard("b", 1, at(0ms));
  REQUIRE(first);
  CHECK(first->joined);
  CHECK(first->to == member_state::up);
  // Heartbeats every 100 ms keep it up.
  for (int t = 100; t <= 1000; t += 100) {
    CHECK_FALSE(fd.heard("b", 1, at(std::chrono::milliseconds(t))));
    CHECK(fd.tick(at(std::chrono::milliseconds(t))).empty());
  }
  // Silence from t=1000: suspect once 500 ms passed, not a moment earlier.
  CHECK(fd.tick(at(1499ms)).empty());
  auto s = fd.tick(at(1500ms));
  REQUIRE(s.size() == 1);
  CHECK(s[0].from == member_state::up);
  CHECK(s[0].to == member_state::suspect);
  CHECK(fd.tick(at(1700ms)).empty()); // no repeats
  CHECK(fd.tick(at(1999ms)).empty());
  auto d = fd.tick(at(2000ms));
  REQUIRE(d.size() == 1);
  CHECK(d[0].to == member_state::down);
  CHECK(fd.status("b")->state == member_state::down);
  CHECK(fd.tick(at(9000ms)).empty());
  // Heard again: up.
  auto back = fd.heard("b", 1, at(9100ms));
  REQUIRE(back);
  CHECK(back->from == member_state::down);
  CHECK(back->to == member_state::up);
  CHECK_FALSE(back->restarted);
}

TEST_CASE("failure detector: a coarse tick passes through suspect on its way down", "[unit][membership]") {
  failure_detector fd(500ms, 1000ms);
  fd.heard("b", 1, at(0ms));
  auto changes = fd.tick(at(5000ms));
  REQUIRE(changes.size() == 2);
  CHECK(changes[0].to == member_state::suspect);
  CHECK(changes[1].to == member_state::down);
}

TEST_CASE("failure detector: time this process did not run does not count against the members",
          "[unit][membership]") {
  // The chaos rig's paused nodes: on waking, the first check saw every peer silent for the whole pause and
  // marked all of them down, then up again milliseconds later when the queued heartbeats were read.
  failure_detector fd(500ms, 1000ms);
  fd.heard("b", 1, at(0ms));
  for (int t = 25; t <= 300; t += 25)
    CHECK(fd.tick(at(std::chrono::milliseconds(t))).empty());
  fd.heard("b", 1, at(300ms));
  CHECK(fd.tick(at(325ms)).empty());
  // Frozen for five seconds: nothing happens at the first tick after.
  CHECK(fd.tick(at(5325ms)).empty());
  CHECK(fd.status("b")->state == member_state::up);
  // A peer that stays silent goes suspect and down on the usual schedule, counted from the wake-up.
  // (It was last heard 25 ms before the last tick ahead of the pause: 5300 on the shifted clock.)
  CHECK(fd.tick(at(5775ms)).empty());
  auto s = fd.tick(at(5800ms));
  REQUIRE(s.size() == 1);
  CHECK(s[0].to == member_state::suspect);
  CHECK(fd.tick(at(6275ms)).empty());
  auto d = fd.tick(at(6300ms));
  REQUIRE(d.size() == 1);
  CHECK(d[0].to == member_state::down);
  // Regular ticks judge as before: silence is silence.
  fd.heard("b", 1, at(6400ms));
  for (int t = 6425; t <= 6875; t += 25)
    CHECK(fd.tick(at(std::chrono::milliseconds(t))).empty());
  CHECK(fd.tick(at(6900ms)).size() == 1);
}

TEST_CASE("failure detector: a checker late on every tick still finds a dead member", "[unit][membership]") {
  // Forgiving every late tick would hide every failure from a node overloaded for good: one stall is forgiven
  // per four down_after.
  failure_detector fd(500ms, 1000ms);
  fd.heard("b", 1, at(0ms));
  CHECK(fd.tick(at(25ms)).empty());
  bool down = false;
  for (int t = 1225; t <= 12000 && !down; t += 1200) // 1.2 s between ticks, b silent since 0
    for (auto& c : fd.tick(at(std::chrono::milliseconds(t))))
      down = down || c.to == member_state::down;
  CHECK(down);
  CHECK(fd.status("b")->state == member_state::down);
}

TEST_CASE("failure detector: incarnations tell a restart from a late frame of the old process", "[unit][membership]") {
  failure_detector fd(500ms, 1000ms);
  fd.heard("b", 4, at(0ms));
  fd.tick(at(1500ms)); // down
  auto restart = fd.heard("b", 5, at(1600ms));
  REQUIRE(restart);
  CHECK(restart->restarted);
  CHECK(restart->incarnation == 5);
  CHECK(restart->from == member_state::down);
  // A frame of incarnation 4 that arrives late changes nothing and does not count as a sign of life.
  fd.tick(at(2050ms));
  CHECK(fd.status("b")->state == member_state::up);
  CHECK_FALSE(fd.heard("b", 4, at(2100ms)));
  CHECK(fd.stale() == 1);
  auto s = fd.tick(at(2100ms));
  REQUIRE(s.size() == 1);
  CHECK(s[0].to == member_state::suspect); // 500 ms after 1600, the stale frame did not help
  // A restart noticed while still up is reported too.
  failure_detector fd2(500ms, 1000ms);
  fd2.heard("c", 1, at(0ms));
  auto quick = fd2.heard("c", 2, at(100ms));
  REQUIRE(quick);
  CHECK(quick->restarted);
  CHECK(quick->from == member_state::up);
}

TEST_CASE("failure detector: members are independent and can be forgotten", "[unit][membership]") {
  failure_detector fd(500ms, 1000ms);
  fd.heard("b", 1, at(0ms));
  fd.heard("c", 1, at(0ms));
  fd.heard("c", 1, at(400ms));
  auto changes = fd.tick(at(600ms));
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].id == "b");
  CHECK(fd.members().size() == 2);
  fd.forget("b");
  CHECK_FALSE(fd.status("b"));
  CHECK(fd.members().size() == 1);
}

TEST_CASE("incarnation: grows by one per start and survives in the data dir", "[unit][membership]") {
  bento::test::temp_dir dir;
  auto first = bento::cluster::membership::next_incarnation(dir.str());
  REQUIRE(first);
  CHECK(*first == 1);
  auto second = bento::cluster::membership::next_incarnation(dir.str());
  REQUIRE(second);
  CHECK(*second == 2);
  std::ifstream in(dir / "cluster_incarnation");
  uint64_t stored = 0;
  in >> stored;
  CHECK(stored == 2);
  std::ofstream(dir / "cluster_incarnation") << "garbage";
  CHECK_FALSE(bento::cluster::membership::next_incarnation(dir.str()));
  CHECK_FALSE(bento::cluster::membership::next_incarnation(dir / "missing-dir"));
}
