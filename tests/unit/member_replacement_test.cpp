#include <catch2/catch.hpp>

#include "node/member_replacement.hpp"

using bento::node::members_to_replace;
using bento::node::replacement_look;
using namespace std::chrono_literals;

namespace {

using time_point = std::chrono::steady_clock::time_point;

replacement_look look_at(time_point now) {
  replacement_look look;
  look.self = "n1";
  look.member_states = {{"n1", "up"}, {"n2", "up"}, {"n3", "up"}};
  look.members_up = {"n1", "n2", "n3"};
  look.now = now;
  look.replace_after = 300s;
  return look;
}

std::vector<std::string> names(const std::vector<bento::node::replacement_due>& due) {
  std::vector<std::string> out;
  for (auto& d : due)
    out.push_back(d.node);
  return out;
}

} // namespace

TEST_CASE("member replacement: a member of the record this node never heard is down from its first look",
          "[unit]") {
  // This node took the metadata's lead after n3 died: its failure detector never saw n3 up, so no "down" event
  // ever filled down_since for it. Before the rule, n3 kept its seats for good.
  std::map<std::string, time_point> down_since;
  auto t0 = time_point{} + 1000s;
  auto look = look_at(t0);
  look.members_up = {"n1", "n2"};
  CHECK(members_to_replace(look, down_since).empty());
  REQUIRE(down_since.count("n3"));
  CHECK(down_since["n3"] == t0);

  look.now = t0 + 299s;
  CHECK(members_to_replace(look, down_since).empty());
  look.now = t0 + 300s;
  auto due = members_to_replace(look, down_since);
  REQUIRE(names(due) == std::vector<std::string>{"n3"});
  CHECK_FALSE(due[0].address_taken);
}

TEST_CASE("member replacement: a later look does not restart a down member's clock", "[unit]") {
  std::map<std::string, time_point> down_since;
  auto t0 = time_point{} + 1000s;
  down_since["n3"] = t0 - 200s; // the membership's "down" event, 200 s before this node first looked
  auto look = look_at(t0);
  look.members_up = {"n1", "n2"};
  CHECK(members_to_replace(look, down_since).empty());
  CHECK(down_since["n3"] == t0 - 200s);
  look.now = t0 + 100s;
  CHECK(names(members_to_replace(look, down_since)) == std::vector<std::string>{"n3"});
}

TEST_CASE("member replacement: a down member whose address another member answers on goes at once", "[unit]") {
  std::map<std::string, time_point> down_since;
  auto t0 = time_point{} + 1000s;
  auto look = look_at(t0);
  look.member_states["n3-w1"] = "joining"; // n3's machine, its disk lost, back under a new id
  look.members_up = {"n1", "n2", "n3-w1"};
  look.superseded = {"n3"};
  auto due = members_to_replace(look, down_since);
  REQUIRE(names(due) == std::vector<std::string>{"n3"});
  CHECK(due[0].address_taken);
}

TEST_CASE("member replacement: never itself, never a member recorded leaving or replaced, never one up",
          "[unit]") {
  std::map<std::string, time_point> down_since;
  auto t0 = time_point{} + 1000s;
  auto look = look_at(t0);
  look.member_states = {{"n1", "up"}, {"n2", "leaving"}, {"n3", "replaced"}, {"n4", "up"}};
  look.members_up = {"n4"}; // n1 (itself) missing from its own view must not matter
  down_since["n1"] = t0 - 1000s;
  down_since["n2"] = t0 - 1000s;
  down_since["n3"] = t0 - 1000s;
  look.superseded = {"n1", "n2", "n3"};
  CHECK(members_to_replace(look, down_since).empty());
  CHECK_FALSE(down_since.count("n4"));
}
