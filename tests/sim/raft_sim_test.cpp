// Deterministic simulation of consensus groups under seeded faults (FoundationDB style). Each seed is one
// schedule: a 3- or 5-node group, random loss, duplication, delay and reordering, partitions (symmetric,
// asymmetric, leader isolated), crashes that lose unpersisted state, restarts, proposals, reads, membership
// changes, leadership transfers and compaction; then healing and a convergence check.
//
//   BENTO_RAFT_SIM_SEEDS=N   run N schedules (default 5000)
//   BENTO_RAFT_SIM_FIRST=K   start at seed K (default 1)
//   BENTO_RAFT_SIM_SEED=S    replay seed S only, with a trace of its events
//   BENTO_RAFT_SIM_KEEP_GOING=1  run every seed and report all failing ones (how often a bug shows)
//   BENTO_RAFT_SIM_PROFILE=P     pin every seed to fault profile P-1 (1..4)
//   BENTO_RAFT_SIM_TRACE_NODE=N, BENTO_RAFT_SIM_TRACE_FROM=T  print deliveries to and from node N from tick T
//
// The lease check assumes every node ticks at the same rate: the simulation ticks all nodes together.
#include "tests/sim/sim_cluster.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <unistd.h>

using namespace bento::cluster::consensus;
using namespace bento::cluster::consensus::sim;

namespace {

volatile std::sig_atomic_t current_seed_valid = 0;
char replay_line[256];

// A local invariant in the core aborts: say which seed did it before dying.
extern "C" void on_abort(int) {
  if (current_seed_valid) {
    const auto n = std::strlen(replay_line);
    [[maybe_unused]] auto w = ::write(2, replay_line, n);
  }
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

bool chance(rng& r, double p) { return r.below(1'000'000) < p * 1'000'000; }

template <class C> auto pick(rng& r, const C& c) {
  auto it = c.begin();
  std::advance(it, static_cast<long>(r.below(c.size())));
  return *it;
}

struct totals {
  std::uint64_t schedules = 0;
  std::uint64_t ticks = 0;
  std::uint64_t acked = 0;
  std::uint64_t committed = 0;
  std::uint64_t reads = 0;
  std::uint64_t terms = 0;
  std::uint64_t snapshots = 0;
  std::uint64_t conf_changes = 0;
  std::uint64_t lease_ticks = 0;
  std::uint64_t crashes_mid_ready = 0;
  std::uint64_t pauses = 0;
};

struct schedule {
  std::uint64_t seed;
  bool trace;
  rng r;
  int group = 3;
  node_config cfg;
  std::unique_ptr<cluster> c;

  schedule(std::uint64_t s, bool t) : seed(s), trace(t), r(s) {}

  void log(const char* what, node_id a = 0, node_id b = 0) {
    if (trace) std::fprintf(stderr, "  tick %llu: %s %llu %llu\n", static_cast<unsigned long long>(c->now()), what,
                            static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
  }

  std::vector<node_id> alive() const {
    std::vector<node_id> out;
    for (auto id : c->ids()) {
      if (c->alive(id)) out.push_back(id);
    }
    return out;
  }

  void partition() {
    const auto ids = c->ids();
    switch (r.below(4)) {
      case 0: {
        const node_id x = pick(r, ids);
        log("isolate", x);
        c->isolate(x);
        break;
      }
      case 1:
        if (c->leader() != no_node) {
          log("isolate leader", c->leader());
          c->isolate(c->leader());
        }
        break;
      case 2: {
        // Asymmetric: one direction of some links only.
        const node_id x = pick(r, ids);
        for (auto y : ids) {
          if (y != x && r.below(2)) {
            log("cut one way", x, y);
            c->cut(x, y);
          }
        }
        break;
      }
      default: {
        std::vector<node_id> side;
        for (auto id : ids) {
          if (r.below(2)) side.push_back(id);
        }
        log("split");
        for (auto a : side) {
          for (auto b : ids) {
            if (std::find(side.begin(), side.end(), b) == side.end()) {
              c->cut(a, b);
              c->cut(b, a);
            }
          }
        }
      }
    }
  }

  void change_membership() {
    const node_id lid = c->leader();
    if (lid == no_node) return;
    node& l = *c->get(lid);
    const membership m = l.membership();
    membership_change ch;
    node_id fresh = no_node;
    if (!m.learners.empty()) {
      ch.node = pick(r, m.learners);
      ch.kind = r.below(4) ? change_kind::promote_learner : change_kind::remove;
    } else if (static_cast<int>(m.voters.size()) > group) {
      ch.node = pick(r, m.voters);
      ch.kind = r.below(2) ? change_kind::remove : change_kind::demote_voter; // a demoted voter stays a learner
    } else {
      fresh = c->add_empty_node();
      ch.node = fresh;
      ch.kind = change_kind::add_learner;
    }
    auto res = l.propose_membership_change(ch);
    log(res.ok() ? "membership change" : "membership change refused", static_cast<node_id>(ch.kind), ch.node);
    if (!res.ok() && fresh != no_node) c->crash(fresh);
  }

  // Event rates per tick; each seed draws a profile and then its rates.
  struct rates {
    double crash = 0, crash_leader = 0, bounce = 0, restart = 0.05, pause = 0, pause_leader = 0, partition = 0,
           leader_cut = 0, isolate_leader = 0, hit_new_leader = 0, heal = 0.02, propose = 0.5, read = 0.1, conf = 0, transfer = 0,
           compact = 0;
    bool skip_ready = false;
  };

  void cut_around_leader() {
    const node_id lid = c->leader();
    if (lid == no_node) return;
    for (auto y : c->ids()) {
      if (y == lid || r.below(2)) continue;
      // One direction only: the leader cannot reach y, or y cannot reach the leader.
      if (r.below(2)) {
        log("cut leader ->", lid, y);
        c->cut(lid, y);
      } else {
        log("cut -> leader", y, lid);
        c->cut(y, lid);
      }
    }
  }

  void run(totals& tot) {
    group = r.below(2) ? 5 : 3;
    // The divergence profile gets two shares of five: the bugs it finds (figure 8 and kin) need the most tries.
    static constexpr int profile_of_draw[5] = {0, 1, 2, 3, 2};
    const int drawn = profile_of_draw[r.below(5)];
    const auto forced = env_u64("BENTO_RAFT_SIM_PROFILE", 0);  // 1..4 pins profile 0..3 (exploring a bug class)
    const int profile = forced ? static_cast<int>(forced - 1) % 4 : drawn;
    if (profile == 2) group = r.below(4) ? 3 : 5;  // three nodes diverge into figure 8 more often than five
    cfg.election_ticks = 10;
    cfg.heartbeat_ticks = 2;
    cfg.lease_margin_ticks = 2;
    cfg.max_inflight_appends = 1 + r.below(4);
    cfg.max_entries_per_append = profile == 1 || profile == 2 ? 1 + r.below(2) : 1 + r.below(8);
    cfg.max_uncommitted_entries = 64;
    // Without pre-vote an election takes one round trip less: the tightest test of the lease margin.
    cfg.pre_vote = r.below(4) != 0;
    std::vector<node_id> voters;
    for (int i = 1; i <= group; ++i) voters.push_back(static_cast<node_id>(i));
    c = std::make_unique<cluster>(r.next(), voters, cfg);
    c->trace_node = env_u64("BENTO_RAFT_SIM_TRACE_NODE", 0);
    c->trace_from = env_u64("BENTO_RAFT_SIM_TRACE_FROM", 0);
    auto pct = [&](std::uint64_t max_per_mille) { return static_cast<double>(r.below(max_per_mille + 1)) / 1000; };
    fault_options f;
    f.drop = pct(200);
    f.duplicate = pct(100);
    f.min_delay = r.below(3) == 0 ? 0 : 1;  // 0: a LAN round trip well under a tick
    f.max_delay = f.min_delay + static_cast<int>(r.below(4));
    f.long_delay = r.below(2) ? 0.01 : 0;
    f.skip_ready = pct(300);
    f.crash_mid_ready = 0.002;
    f.tick_jitter = r.below(2) ? pct(300) : 0;
    c->faults = f;
    rates p;
    switch (profile) {
      case 0:  // a bit of everything
        p.crash = 0.004 + pct(10);
        p.partition = pct(15);
        p.conf = pct(30);
        p.transfer = pct(10);
        p.compact = pct(40);
        p.pause = pct(5);
        p.bounce = pct(10);
        break;
      case 1:  // leader churn: leaders crash, pause and get cut off often; logs diverge
        p.crash = pct(10);
        p.crash_leader = 0.01 + pct(20);
        p.restart = 0.2;
        p.pause_leader = pct(20);
        p.partition = pct(30);
        p.leader_cut = pct(20);
        p.heal = 0.05;
        p.conf = pct(40);
        p.transfer = pct(20);
        p.compact = pct(40);
        break;
      case 2:  // divergence: leaders cut off while clients still write to them, then healed, crashed, replaced
        p.partition = 0.01;
        p.isolate_leader = 0.02 + pct(40);
        // A leader struck down right after its election has often replicated older entries but not yet its own
        // (Raft figure 8): the next leader must not lose what the struck one believed committed.
        p.hit_new_leader = 0.1 + pct(400);
        p.crash_leader = pct(20);
        p.restart = 0.3;
        p.heal = 0.05 + pct(50);
        p.skip_ready = true;
        p.conf = pct(20);
        p.transfer = pct(10);
        p.compact = pct(20);
        break;
      default:  // asymmetric links and stopped processes around the leader
        p.leader_cut = 0.01 + pct(30);
        p.pause = pct(10);
        p.pause_leader = 0.005 + pct(20);
        p.crash = pct(5);
        p.bounce = pct(20);
        p.heal = 0.04;
        p.conf = pct(20);
        p.transfer = pct(20);
        p.compact = pct(20);
        break;
    }
    // Some seeds are nearly idle: an up-to-date node can then win an election, which is what stickiness and the
    // lease must withstand.
    p.propose = r.below(3) ? 0.02 + pct(600) : 0.02;
    if (p.skip_ready) c->faults.skip_ready = 0.3;
    const int chaos_ticks = 150 + static_cast<int>(r.below(250));
    if (trace) {
      std::fprintf(stderr,
                   "seed %llu: group %d profile %d pre_vote %d jitter %.2f drop %.2f dup %.2f delay %d..%d "
                   "skip %.2f ticks %d\n",
                   static_cast<unsigned long long>(seed), group, profile, cfg.pre_vote, f.tick_jitter, f.drop,
                   f.duplicate, f.min_delay, f.max_delay, f.skip_ready, chaos_ticks);
    }
    const std::uint64_t newest_leader_share = profile == 2 ? 3 : 6;  // of 10
    std::uint64_t data_seq = 0;
    term_t leader_term = 0;
    std::uint64_t leader_since = 0;
    for (int t = 0; t < chaos_ticks; ++t) {
      c->tick();
      if (const node_id lid = c->leader(); lid != no_node && c->get(lid)->term() != leader_term) {
        leader_term = c->get(lid)->term();
        leader_since = c->now();
      }
      if (c->leader() != no_node && c->now() - leader_since <= 8 && chance(r, p.hit_new_leader)) {
        const node_id lid = c->leader();
        if (r.below(2)) {
          log("crash new leader", lid);
          c->crash(lid);
        } else {
          log("isolate new leader", lid);
          c->isolate(lid);
        }
      }
      auto live = alive();
      if (chance(r, p.crash) && !live.empty()) {
        const node_id x = pick(r, live);
        log("crash", x);
        c->crash(x);
      }
      if (chance(r, p.crash_leader) && c->leader() != no_node) {
        log("crash leader", c->leader());
        c->crash(c->leader());
      }
      if (chance(r, p.bounce) && !live.empty()) {
        // kill -9 and an immediate restart: everything not persisted is lost, the process is back at once.
        const node_id x = pick(r, live);
        log("bounce", x);
        c->crash(x);
        c->restart(x);
      }
      for (auto id : c->ids()) {
        if (!c->alive(id) && chance(r, p.restart)) {
          log("restart", id);
          c->restart(id);
        }
      }
      live = alive();
      if (chance(r, p.pause) && !live.empty()) {
        const node_id x = pick(r, live);
        log("pause", x);
        c->pause(x, 3 + r.below(30));
      }
      if (chance(r, p.pause_leader) && c->leader() != no_node) {
        log("pause leader", c->leader());
        c->pause(c->leader(), 3 + r.below(30));
      }
      if (chance(r, p.partition)) partition();
      if (chance(r, p.leader_cut)) cut_around_leader();
      if (chance(r, p.isolate_leader) && c->leader() != no_node) {
        log("isolate leader", c->leader());
        c->isolate(c->leader());
      }
      if (chance(r, p.heal)) {
        log("heal");
        c->heal();
      }
      if (live.empty()) continue;
      if (chance(r, p.propose)) {
        // Mostly the newest leader, often any node that still believes it leads (stale leaders diverge).
        const node_id lid = c->leader();
        std::vector<node_id> leaders;
        for (auto id : live) {
          if (c->get(id)->role() == role::leader) leaders.push_back(id);
        }
        const auto dice = r.below(10);
        const node_id at = lid != no_node && dice < newest_leader_share ? lid
                           : !leaders.empty() && dice < 9 ? pick(r, leaders)
                                                          : pick(r, live);
        if (!c->paused(at)) c->propose(at, "s" + std::to_string(seed) + "-" + std::to_string(++data_seq));
      }
      if (chance(r, p.read)) {
        const node_id at = pick(r, live);
        if (!c->paused(at)) c->read(at);
      }
      if (chance(r, p.conf) && c->leader() != no_node && !c->paused(c->leader())) change_membership();
      if (chance(r, p.transfer) && c->leader() != no_node && !c->paused(c->leader())) {
        node& l = *c->get(c->leader());
        const auto& vs = l.membership().voters;
        if (!vs.empty()) {
          const node_id to = pick(r, vs);
          log("transfer", l.id(), to);
          l.transfer_leadership(to);
        }
      }
      if (chance(r, p.compact)) {
        const node_id at = pick(r, live);
        if (!c->paused(at)) c->compact(at);
      }
      if (t % 8 == 0) c->check_log_matching();
    }
    // Heal everything, stop the faults, restart the crashed, and wait for convergence.
    log("heal all");
    c->heal();
    c->faults = fault_options{};
    c->faults.tick_jitter = f.tick_jitter;  // clocks do not heal
    for (auto id : c->ids()) c->restart(id);
    std::string why;
    const bool ok = c->run_until([&] { return c->converged(&why); }, 1000);
    if (!ok) throw violation("no convergence after healing: " + why);
    c->check_final();
    tot.ticks += c->now();
    tot.acked += c->acked_count();
    tot.committed += c->committed_count();
    tot.reads += c->reads_confirmed();
    tot.terms += c->leader_terms();
    tot.snapshots += c->stats().snapshots_installed;
    tot.conf_changes += c->stats().conf_changes_applied;
    tot.lease_ticks += c->stats().lease_ticks;
    tot.crashes_mid_ready += c->stats().crashes_mid_ready;
    tot.pauses += c->stats().pauses;
    ++tot.schedules;
  }
};

std::string replay_command(std::uint64_t seed) {
  return "BENTO_RAFT_SIM_SEED=" + std::to_string(seed) + " build/bin/sim_raft";
}

}  // namespace

TEST_CASE("raft sim: seeded fault schedules keep election safety, log matching, state machine safety, lease "
          "exclusivity and converge after healing",
          "[sim]") {
  std::signal(SIGABRT, on_abort);
  const std::uint64_t only = env_u64("BENTO_RAFT_SIM_SEED", 0);
  const std::uint64_t first = only ? only : env_u64("BENTO_RAFT_SIM_FIRST", 1);
  const std::uint64_t count = only ? 1 : env_u64("BENTO_RAFT_SIM_SEEDS", 5000);
  const bool keep_going = env_u64("BENTO_RAFT_SIM_KEEP_GOING", 0) != 0;
  std::vector<std::uint64_t> failed;
  std::string first_failure;
  totals tot;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    std::snprintf(replay_line, sizeof replay_line, "\nraft sim: aborted in seed %llu; replay: %s\n",
                  static_cast<unsigned long long>(seed), replay_command(seed).c_str());
    current_seed_valid = 1;
    schedule s(seed, only != 0);
    try {
      s.run(tot);
    } catch (const violation& v) {
      std::ostringstream os;
      os << "seed " << seed << " at tick " << (s.c ? s.c->now() : 0) << ": " << v.what()
         << "\n  replay: " << replay_command(seed);
      if (!keep_going) {
        current_seed_valid = 0;
        FAIL(os.str());
      }
      if (failed.empty()) first_failure = os.str();
      failed.push_back(seed);
    }
  }
  current_seed_valid = 0;
  if (!failed.empty()) {
    std::ostringstream os;
    os << failed.size() << " of " << count << " seeds failed:";
    for (std::size_t i = 0; i < failed.size() && i < 20; ++i) os << ' ' << failed[i];
    FAIL(os.str() << "\nfirst: " << first_failure);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("raft sim: %llu schedules (seeds %llu..%llu), %llu ticks, %llu committed, %llu acknowledged, %llu "
              "reads confirmed, %.2f s, %.0f schedules/s\n",
              static_cast<unsigned long long>(tot.schedules), static_cast<unsigned long long>(first),
              static_cast<unsigned long long>(first + count - 1), static_cast<unsigned long long>(tot.ticks),
              static_cast<unsigned long long>(tot.committed), static_cast<unsigned long long>(tot.acked),
              static_cast<unsigned long long>(tot.reads), secs, static_cast<double>(tot.schedules) / secs);
  std::printf("raft sim: %llu leader terms, %llu snapshots installed, %llu membership changes committed, %llu ticks "
              "with a lease holder, %llu crashes between persist and send, %llu pauses\n",
              static_cast<unsigned long long>(tot.terms), static_cast<unsigned long long>(tot.snapshots),
              static_cast<unsigned long long>(tot.conf_changes), static_cast<unsigned long long>(tot.lease_ticks),
              static_cast<unsigned long long>(tot.crashes_mid_ready), static_cast<unsigned long long>(tot.pauses));
}
