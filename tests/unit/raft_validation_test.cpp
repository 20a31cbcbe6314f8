// Peer input is untrusted: malformed or hostile messages are dropped and counted, never fatal.
#include "cluster/consensus/message_validation.hpp"
#include "cluster/consensus/rng.hpp"
#include "tests/unit/raft_test_support.hpp"

#include <catch2/catch.hpp>

using namespace bento::cluster::consensus;
using namespace bento::cluster::consensus::testing;

namespace {

std::uint64_t wild(rng& r) {
  switch (r.below(6)) {
    case 0: return 0;
    case 1: return r.below(5);
    case 2: return r.below(50);
    case 3: return max_sane_value - 1 + r.below(3);
    case 4: return ~std::uint64_t{0} - r.below(2);
    default: return r.next();
  }
}

message random_message(rng& r, node_id to) {
  message m;
  m.type = static_cast<message_type>(r.below(message_type_count + 1));
  m.from = r.below(5);
  m.to = r.below(8) ? to : r.below(5);
  m.term = r.below(3) ? 1 + r.below(8) : wild(r);
  m.log_term = r.below(2) ? r.below(8) : wild(r);
  m.index = r.below(2) ? r.below(12) : wild(r);
  m.commit = r.below(2) ? r.below(12) : wild(r);
  m.reject = r.below(2);
  m.reject_hint = r.below(2) ? r.below(12) : wild(r);
  m.context = wild(r);
  m.transfer = r.below(4) == 0;
  const auto n = r.below(4);
  index_t idx = r.below(4) ? m.index + 1 : wild(r);
  term_t t = r.below(4) ? m.log_term : r.below(10);
  for (std::uint64_t i = 0; i < n; ++i) {
    entry e;
    e.index = r.below(6) ? idx++ : wild(r);
    t += r.below(2);
    e.term = r.below(6) ? t : wild(r);
    e.type = static_cast<entry_type>(r.below(4));
    if (e.type == entry_type::conf_change) {
      e.data = r.below(2) ? encode_membership(voters({1, 2, 3, r.below(6)})) : std::string(r.below(20), 'x');
    }
    m.entries.push_back(e);
  }
  m.snapshot.index = r.below(2) ? r.below(12) : wild(r);
  m.snapshot.term = r.below(2) ? r.below(8) : wild(r);
  if (r.below(3)) m.snapshot.members = voters({1, 2, 3});
  if (r.below(5) == 0) m.snapshot.members.learners.insert(r.below(4));
  return m;
}

}  // namespace

TEST_CASE("consensus: tens of thousands of random hostile messages never trip an invariant", "[unit]") {
  rng r(2024);
  for (int round = 0; round < 60; ++round) {
    solo n(1, voters({1, 2, 3}));
    // Put the node in various roles: follower, candidate, leader.
    if (round % 3 == 1) n.tick_until_campaign();
    if (round % 3 == 2) n.win({2, 3});
    for (int i = 0; i < 500; ++i) {
      n.step(random_message(r, 1));
      if (r.below(10) == 0) {
        n.core->tick();
        n.drain();
      }
      if (r.below(50) == 0 && n.core->role() == role::leader) n.core->propose("p");
      n.drain();
      REQUIRE(n.core->commit_index() <= n.core->last_index());
    }
    const auto& d = n.core->drops();
    CHECK(d.invalid + d.unexpected + d.stale_term > 0);
  }
}

TEST_CASE("consensus: malformed appends are dropped and leave the log alone", "[unit]") {
  solo f(2, voters({1, 2, 3}));
  message ok = msg(message_type::append, 1, 2, 2);
  ok.index = 1;
  ok.log_term = 1;
  ok.entries = {entry{2, 2, entry_type::normal, "a"}, entry{2, 3, entry_type::normal, "b"}};
  ok.commit = 3;

  message gap = ok;
  gap.entries[1].index = 5;  // out of order
  message future = ok;
  future.entries[1].term = 3;  // an entry from beyond the message's term
  message absurd = ok;
  absurd.index = max_sane_value + 7;
  message backwards = ok;
  backwards.entries[0].term = 2;
  backwards.entries[1].term = 1;  // terms going down
  message not_for_me = ok;
  not_for_me.to = 3;
  message from_me = ok;
  from_me.from = 2;
  for (const message* m : {&gap, &future, &absurd, &backwards, &not_for_me, &from_me}) {
    f.step(*m);
  }
  CHECK(f.core->drops().invalid == 6);
  CHECK(f.core->last_index() == 1);
  CHECK(f.core->term() == 1);

  f.step(ok);
  CHECK(f.core->last_index() == 3);
  CHECK(f.core->commit_index() == 3);
  // A leader of the same term asking to rewrite a committed entry is not believed.
  message rewrite = msg(message_type::append, 1, 2, 2);
  rewrite.index = 1;
  rewrite.log_term = 1;
  rewrite.entries = {entry{2, 2, entry_type::normal, "other"}};
  const auto invalid_before = f.core->drops().invalid;
  f.step(rewrite);
  CHECK(f.core->drops().invalid == invalid_before);  // same index and term: matches, nothing rewritten
  CHECK(f.storage.entries(2, 3, 100)[0].data == "a");
}

TEST_CASE("consensus: a snapshot older than the log is acknowledged, not installed", "[unit]") {
  solo f(2, voters({1, 2, 3}));
  message app = msg(message_type::append, 1, 2, 2);
  app.index = 1;
  app.log_term = 1;
  app.entries = {entry{2, 2, entry_type::normal, "a"}, entry{2, 3, entry_type::normal, "b"}};
  app.commit = 3;
  f.step(app);
  message snap = msg(message_type::install_snapshot, 1, 2, 2);
  snap.snapshot.index = 2;
  snap.snapshot.term = 2;
  snap.snapshot.members = voters({1, 2, 3});
  auto out = f.step(snap);
  REQUIRE(out.size() == 1);
  CHECK(out[0].type == message_type::append_resp);
  CHECK(out[0].index == 3);
  CHECK(f.core->last_index() == 3);
  CHECK(f.storage.snapshot().index == 0);
  // A snapshot with no voters, or from a term beyond the message's, is refused outright.
  message empty = snap;
  empty.snapshot.index = 9;
  empty.snapshot.members = {};
  message ahead = snap;
  ahead.snapshot.index = 9;
  ahead.snapshot.term = 5;
  const auto before = f.core->drops().invalid;
  f.step(empty);
  f.step(ahead);
  CHECK(f.core->drops().invalid == before + 2);
}

TEST_CASE("consensus: a leader ignores acknowledgements of entries it never had and answers from strangers",
          "[unit]") {
  solo l(1, voters({1, 2, 3}));
  l.win({2, 3});
  REQUIRE(l.core->role() == role::leader);
  message bogus = msg(message_type::append_resp, 2, 1, l.core->term());
  bogus.index = 1000;
  l.step(bogus);
  CHECK(l.core->commit_index() < 2);
  CHECK(l.core->drops().invalid == 1);
  message stranger = msg(message_type::heartbeat_resp, 9, 1, l.core->term());
  const auto unexpected_before = l.core->drops().unexpected;
  l.step(stranger);
  CHECK(l.core->drops().unexpected == unexpected_before + 1);
  // A term from the future makes it a follower of that term: the protocol's rule, not a crash.
  l.step(msg(message_type::append_resp, 3, 1, l.core->term() + 5));
  CHECK(l.core->role() == role::follower);
}
