// Replication: figure 8, snapshots for far-behind followers, learners, membership changes, transfer, reads.
#include "tests/sim/sim_cluster.hpp"
#include "tests/unit/raft_test_support.hpp"

#include <catch2/catch.hpp>

using namespace bento::cluster::consensus;
using namespace bento::cluster::consensus::testing;
using bento::cluster::consensus::sim::cluster;

namespace {

node_config sim_config() {
  node_config cfg;
  cfg.election_ticks = 10;
  cfg.heartbeat_ticks = 2;
  cfg.max_entries_per_append = 8;
  return cfg;
}

node_id some_follower(cluster& c, node_id leader, node_id not_this = no_node) {
  for (auto id : c.ids()) {
    if (id != leader && id != not_this && c.alive(id)) return id;
  }
  return no_node;
}

message ack(node_id from, node_id to, term_t term, index_t index) {
  message m = msg(message_type::append_resp, from, to, term);
  m.index = index;
  return m;
}

}  // namespace

TEST_CASE("consensus: an entry of an earlier term on a majority is committed only by one of the leader's term "
          "(figure 8)",
          "[unit]") {
  // Node 1 holds index 2 from term 2 (replicated to a minority then), comes back and wins term 4.
  solo l(1, voters({1, 2, 3, 4, 5}));
  l.storage.append({entry{2, 2, entry_type::normal, "from term 2"}});
  l.storage.set_hard_state({3, no_node, 1});
  l.restart();
  l.win({2, 3, 4, 5});
  REQUIRE(l.core->role() == role::leader);
  REQUIRE(l.core->term() == 4);
  REQUIRE(l.core->last_index() == 3);  // its noop
  // Index 2 reaches a majority (1, 2, 3) but the noop does not: counting must not commit a term-2 entry, or a
  // node holding another index 2 from term 3 could still win and overwrite it.
  l.step(ack(2, 1, 4, 2));
  l.step(ack(3, 1, 4, 2));
  CHECK(l.core->commit_index() == 1);
  // Once the noop of term 4 is on a majority, it commits, and index 2 with it.
  l.step(ack(2, 1, 4, 3));
  l.step(ack(3, 1, 4, 3));
  CHECK(l.core->commit_index() == 3);
}

TEST_CASE("consensus: a follower far behind a compacted log catches up through install_snapshot", "[unit]") {
  cluster c(3, {1, 2, 3}, sim_config());
  const node_id l = c.wait_for_leader();
  REQUIRE(l != no_node);
  const node_id lagging = some_follower(c, l);
  c.crash(lagging);
  for (int i = 0; i < 60; ++i) {
    c.propose(l, "e" + std::to_string(i));
    c.tick();
  }
  REQUIRE(c.run_until([&] { return c.get(l)->commit_index() == c.get(l)->last_index(); }, 100));
  for (auto id : c.ids()) c.compact(id);
  REQUIRE(c.get(l)->first_index() > 50);
  const auto installed_before = c.stats().snapshots_installed;
  c.restart(lagging);
  REQUIRE(c.run_until([&] { return c.converged(); }, 200));
  CHECK(c.stats().snapshots_installed == installed_before + 1);
  CHECK(c.machine(lagging).applied == c.machine(l).applied);
  c.check_final();
}

TEST_CASE("consensus: a learner receives entries but does not count until promoted", "[unit]") {
  cluster c(17, {1, 2, 3}, sim_config());
  const node_id l = c.wait_for_leader();
  REQUIRE(l != no_node);
  const node_id learner = c.add_empty_node();
  auto r = c.get(l)->propose_membership_change({change_kind::add_learner, learner});
  REQUIRE(r.ok());
  REQUIRE(c.run_until([&] { return c.converged(); }, 100));
  CHECK(c.get(learner)->membership().is_learner(learner));

  // Two voters down: the learner holds the new entry, yet it is not committed.
  const node_id f1 = some_follower(c, l, learner);
  const node_id f2 = some_follower(c, l, f1 == no_node ? learner : f1);
  REQUIRE(f2 != learner);
  c.crash(f1);
  c.crash(f2);
  auto p = c.propose(l, "needs a majority of voters");
  REQUIRE(p->ok());
  for (int i = 0; i < 8; ++i) c.tick();  // less than a check-quorum window
  CHECK(c.get(learner)->last_index() >= p->index);
  CHECK(c.get(l)->commit_index() < p->index);
  CHECK(c.get(learner)->role() == role::follower);  // and never campaigns

  c.restart(f1);
  c.restart(f2);
  REQUIRE(c.run_until([&] { return c.converged(); }, 300));
  const node_id l2 = c.leader();
  REQUIRE(c.get(l2)->propose_membership_change({change_kind::promote_learner, learner}).ok());
  REQUIRE(c.run_until([&] { return c.converged(); }, 100));
  CHECK(c.get(l2)->membership().is_voter(learner));
  // Four voters, one down: the leader, the promoted learner and one more make the majority of three.
  c.crash(some_follower(c, l2, learner));
  auto q = c.propose(l2, "counted with the promoted learner");
  REQUIRE(q->ok());
  REQUIRE(c.run_until([&] { return c.get(l2)->commit_index() >= q->index; }, 20));
}

TEST_CASE("consensus: a demoted voter keeps the log as a learner and no longer counts or campaigns", "[unit]") {
  cluster c(7, {1, 2, 3}, sim_config());
  REQUIRE(c.run_until([&] { return c.converged(); }, 300));
  const node_id l = c.leader();
  const node_id moved = some_follower(c, l, no_node);
  REQUIRE(c.get(l)->propose_membership_change({change_kind::demote_voter, moved}).ok());
  REQUIRE(c.run_until([&] { return c.converged(); }, 100));
  CHECK(c.get(l)->membership().is_learner(moved));
  CHECK(c.get(l)->membership().voters.size() == 2);
  const node_id other = some_follower(c, l, moved);
  c.crash(other);
  auto p = c.propose(l, "the two voters left need both: this waits");
  REQUIRE(p->ok());
  for (int i = 0; i < 5; ++i) c.tick();
  CHECK(c.get(l)->commit_index() < p->index);     // the learner's copy does not count
  CHECK(c.get(moved)->last_index() >= p->index);  // but it gets the entry
  CHECK(c.get(moved)->role() == role::follower);
  c.restart(other);
  REQUIRE(c.run_until([&] { return c.get(l)->commit_index() >= p->index; }, 100));
}

TEST_CASE("consensus: one membership change at a time, and none before the leader commits in its term", "[unit]") {
  solo l(1, voters({1, 2, 3}));
  l.win({2, 3});
  REQUIRE(l.core->role() == role::leader);
  CHECK(l.core->propose_membership_change({change_kind::add_learner, 4}).error == errc::not_ready);
  l.step(ack(2, 1, l.core->term(), l.core->last_index()));
  REQUIRE(l.core->committed_in_term());
  CHECK(l.core->propose_membership_change({change_kind::add_voter, 2}).error == errc::invalid_change);
  CHECK(l.core->propose_membership_change({change_kind::remove, 9}).error == errc::invalid_change);
  CHECK(l.core->propose_membership_change({change_kind::promote_learner, 3}).error == errc::invalid_change);
  auto r = l.core->propose_membership_change({change_kind::add_learner, 4});
  REQUIRE(r.ok());
  l.drain();
  // In force as soon as it is in the log (thesis §4.1), committed or not.
  CHECK(l.core->membership().is_learner(4));
  CHECK(l.core->propose_membership_change({change_kind::promote_learner, 4}).error == errc::change_in_progress);
  l.step(ack(2, 1, l.core->term(), r.index));
  CHECK(l.core->propose_membership_change({change_kind::promote_learner, 4}).ok());
}

TEST_CASE("consensus: a leader that removes itself leads until the removal commits, then steps down", "[unit]") {
  cluster c(23, {1, 2, 3, 4}, sim_config());
  const node_id l = c.wait_for_leader();
  REQUIRE(l != no_node);
  auto r = c.get(l)->propose_membership_change({change_kind::remove, l});
  REQUIRE(r.ok());
  REQUIRE(c.run_until([&] { return c.get(l)->role() != role::leader; }, 50));
  CHECK(c.get(l)->commit_index() >= r.index);
  REQUIRE(c.run_until([&] { return c.converged() && c.leader() != l; }, 300));
  CHECK_FALSE(c.get(c.leader())->membership().contains(l));
  for (int i = 0; i < 100; ++i) c.tick();
  CHECK(c.get(l)->role() == role::follower);  // not a voter any more: it never campaigns
}

TEST_CASE("consensus: leadership transfer hands over to a caught-up voter and gives up the lease", "[unit]") {
  cluster c(29, {1, 2, 3}, sim_config());
  const node_id l = c.wait_for_leader();
  REQUIRE(l != no_node);
  for (int i = 0; i < 5; ++i) {
    c.propose(l, "before transfer " + std::to_string(i));
    c.tick();
  }
  REQUIRE(c.get(l)->lease_valid());
  const node_id to = some_follower(c, l);
  REQUIRE(c.get(l)->transfer_leadership(to) == errc::ok);
  auto refused = c.propose(l, "during transfer");
  REQUIRE(refused);
  CHECK(refused->error == errc::transfer_in_progress);
  CHECK(c.get(l)->transfer_leadership(99) == errc::invalid_argument);
  bool lease_dropped_first = true;
  REQUIRE(c.run_until(
    [&] {
      if (c.get(to)->role() == role::leader && c.get(l)->lease_valid()) lease_dropped_first = false;
      return c.get(to)->role() == role::leader;
    },
    30));
  CHECK(lease_dropped_first);
  CHECK(c.get(to)->term() > c.get(l)->term() - 1);
  REQUIRE(c.run_until([&] { return c.converged(); }, 100));
  CHECK(c.leader() == to);
}

TEST_CASE("consensus: read_index confirms after a heartbeat round; a cut-off leader confirms nothing", "[unit]") {
  cluster c(31, {1, 2, 3}, sim_config());
  const node_id l = c.wait_for_leader();
  REQUIRE(l != no_node);
  REQUIRE(c.read(l) == errc::ok);
  REQUIRE(c.run_until([&] { return c.reads_confirmed() == 1; }, 5));
  // A follower forwards to the leader.
  REQUIRE(c.read(some_follower(c, l)) == errc::ok);
  REQUIRE(c.run_until([&] { return c.reads_confirmed() == 2; }, 5));
  // Cut off: the leader still believes it leads for a while, but no majority answers the round.
  c.isolate(l);
  REQUIRE(c.read(l) == errc::ok);
  for (int i = 0; i < 40; ++i) c.tick();
  CHECK(c.reads_confirmed() == 2);
  CHECK(c.get(l)->role() != role::leader);
}

TEST_CASE("consensus: a follower commits only what the leader's append proved it holds", "[unit]") {
  // Node 2 kept index 2..3 from a term-2 leader that never committed them; the term-3 leader has its own index 3.
  solo f(2, voters({1, 2, 3}));
  f.storage.append({entry{2, 2, entry_type::normal, "a"}, entry{2, 3, entry_type::normal, "stale"}});
  f.storage.set_hard_state({2, no_node, 1});
  f.restart();
  message app = msg(message_type::append, 1, 2, 3);
  app.index = 1;
  app.log_term = 1;
  app.entries = {entry{2, 2, entry_type::normal, "a"}};  // agrees up to 2; says nothing about our 3
  app.commit = 3;
  f.step(app);
  CHECK(f.core->commit_index() == 2);
  // A heartbeat carries at most the follower's known match, and the follower never commits past its log.
  message hb = msg(message_type::heartbeat, 1, 2, 3);
  hb.commit = 2;
  f.step(hb);
  CHECK(f.core->commit_index() == 2);
  for (const auto& e : f.applied) CHECK(e.data != "stale");
}

TEST_CASE("consensus: a probe refused at the follower's acknowledged index is not sent again at once", "[unit]") {
  // Never from a correct follower; a lying or corrupted one refusing `match` itself would otherwise get the same
  // append back at once, without end (tests/fuzz/corpus_peer/probe_livelock). The next heartbeat probes again.
  progress pr(16);
  REQUIRE(pr.maybe_update(6));
  pr.become_probe();
  REQUIRE(pr.next == 7);
  CHECK_FALSE(pr.maybe_decrease_to(6, 1));
  CHECK(pr.next == 7);
  pr.next = 10; // a probe further ahead still walks back
  CHECK(pr.maybe_decrease_to(9, 7));
  CHECK(pr.next == 8);
}
