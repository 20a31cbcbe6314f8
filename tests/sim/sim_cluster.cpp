#include "tests/sim/sim_cluster.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace bento::cluster::consensus::sim {

namespace {

std::uint64_t fnv(const std::string& s, std::uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::string encode_sm(const state_machine& sm) { return std::to_string(sm.applied) + ":" + std::to_string(sm.hash); }

state_machine decode_sm(const std::string& s) {
  state_machine sm;
  if (s.empty()) return sm;
  const auto colon = s.find(':');
  sm.applied = std::stoull(s.substr(0, colon));
  sm.hash = std::stoull(s.substr(colon + 1));
  return sm;
}

std::string describe(const message& m, bool dropped) {
  std::ostringstream os;
  os << to_string(m.type) << ' ' << m.from << "->" << m.to << " term " << m.term << " index " << m.index
     << " log_term " << m.log_term << " entries " << m.entries.size() << " commit " << m.commit
     << (m.reject ? " reject hint " + std::to_string(m.reject_hint) : std::string()) << " context " << m.context;
  if (m.type == message_type::install_snapshot) {
    os << " snapshot " << m.snapshot.index << '/' << m.snapshot.term << " voters";
    for (auto v : m.snapshot.members.voters) os << ' ' << v;
    os << " learners";
    for (auto v : m.snapshot.members.learners) os << ' ' << v;
  }
  if (dropped) os << " DROPPED";
  return os.str();
}

template <class... A> [[noreturn]] void fail(A&&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw violation(os.str());
}

}  // namespace

std::uint64_t chain_hash(std::uint64_t prev, const entry& e) {
  std::uint64_t h = prev * 0x9e3779b97f4a7c15ull + e.index;
  h = h * 31 + e.term;
  h = h * 31 + static_cast<std::uint64_t>(e.type);
  return fnv(e.data, h);
}

cluster::cluster(std::uint64_t seed, const std::vector<node_id>& voters, node_config base)
  : rng_(seed), base_(base) {
  membership boot;
  boot.voters.insert(voters.begin(), voters.end());
  for (auto id : voters) {
    member& mb = members_[id];
    mb.id = id;
    mb.storage = memory_storage(boot);
    next_id_ = std::max(next_id_, id + 1);
    start(mb);
  }
}

void cluster::start(member& mb) {
  node_config cfg = base_;
  cfg.id = mb.id;
  cfg.seed = rng_.next();
  mb.core = std::make_unique<node>(cfg, mb.storage);
  // The state machine is volatile: rebuilt from the snapshot, then from the committed log.
  mb.sm = decode_sm(mb.storage.snapshot_data());
  if (mb.storage.snapshot().index != mb.sm.applied) fail("snapshot data does not match its meta at ", mb.id);
  mb.staged_snapshots.clear();
  mb.proposals.clear();
  mb.reads.clear();
}

node* cluster::get(node_id id) {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : it->second.core.get();
}

bool cluster::alive(node_id id) const {
  auto it = members_.find(id);
  return it != members_.end() && it->second.core != nullptr;
}

std::vector<node_id> cluster::ids() const {
  std::vector<node_id> out;
  for (const auto& [id, mb] : members_) out.push_back(id);
  return out;
}

void cluster::crash(node_id id) {
  auto it = members_.find(id);
  if (it != members_.end()) it->second.core.reset();
}

void cluster::restart(node_id id) {
  auto it = members_.find(id);
  if (it != members_.end() && !it->second.core) {
    it->second.paused_until = 0;
    it->second.missed_ticks = 0;
    start(it->second);
  }
}

void cluster::pause(node_id id, std::uint64_t ticks) {
  auto it = members_.find(id);
  if (it == members_.end() || !it->second.core || paused(id)) return;
  it->second.paused_until = now_ + ticks;
  ++stats_.pauses;
}

bool cluster::paused(node_id id) const {
  auto it = members_.find(id);
  return it != members_.end() && it->second.paused_until > now_;
}

node_id cluster::add_empty_node() {
  const node_id id = next_id_++;
  member& mb = members_[id];
  mb.id = id;
  start(mb);
  return id;
}

void cluster::cut(node_id from, node_id to) { cuts_.insert({from, to}); }

void cluster::isolate(node_id id) {
  for (const auto& [other, mb] : members_) {
    if (other == id) continue;
    cut(id, other);
    cut(other, id);
  }
}

void cluster::heal() { cuts_.clear(); }

std::uint64_t cluster::delay() {
  if (faults.long_delay > 0 && rng_.below(1'000'000) < faults.long_delay * 1'000'000) {
    return static_cast<std::uint64_t>(faults.long_delay_ticks);
  }
  const auto span = static_cast<std::uint64_t>(faults.max_delay - faults.min_delay + 1);
  return static_cast<std::uint64_t>(faults.min_delay) + rng_.below(span);
}

void cluster::send(member& from, message m) {
  envelope env{now_ + delay(), seq_++, std::move(m), {}};
  if (env.m.type == message_type::install_snapshot) {
    // The transport reads the snapshot data next to the meta; a compaction since the core chose it replaced it.
    if (from.storage.snapshot().index != env.m.snapshot.index) {
      snapshot_failures_.push_back(env.m.to);  // reported after advance(): nothing may step in between
      return;
    }
    env.snapshot_data = from.storage.snapshot_data();
  }
  const bool dup = faults.duplicate > 0 && rng_.below(1'000'000) < faults.duplicate * 1'000'000;
  if (dup) {
    envelope copy = env;
    copy.deliver_at = now_ + delay();
    copy.seq = seq_++;
    in_flight_.push_back(std::move(copy));
  }
  in_flight_.push_back(std::move(env));
}

void cluster::deliver_due() {
  std::vector<envelope> due;
  auto split = std::partition(in_flight_.begin(), in_flight_.end(), [&](const envelope& e) {
    return e.deliver_at > now_ || paused(e.m.to);  // a stopped process reads its socket later
  });
  due.assign(std::make_move_iterator(split), std::make_move_iterator(in_flight_.end()));
  in_flight_.erase(split, in_flight_.end());
  std::sort(due.begin(), due.end(), [](const envelope& a, const envelope& b) {
    return a.deliver_at != b.deliver_at ? a.deliver_at < b.deliver_at : a.seq < b.seq;
  });
  for (auto& env : due) {
    const message& m = env.m;
    auto to = members_.find(m.to);
    const bool dropped = to == members_.end() || !to->second.core || cuts_.count({m.from, m.to}) ||
                         drop_types.count(m.type) ||
                         (faults.drop > 0 && rng_.below(1'000'000) < faults.drop * 1'000'000);
    if (m.type == message_type::install_snapshot) {
      if (auto* sender = get(m.from)) sender->report_snapshot(m.to, !dropped);
    }
    if (trace_node != no_node && (m.to == trace_node || m.from == trace_node) && now_ >= trace_from) {
      std::fprintf(stderr, "    t%llu %s\n", static_cast<unsigned long long>(now_), describe(m, dropped).c_str());
    }
    if (dropped) continue;
    member& mb = to->second;
    if (m.type == message_type::install_snapshot) {
      mb.staged_snapshots[{m.snapshot.index, m.snapshot.term}] = env.snapshot_data;
    }
    if (record_messages) delivered_log.push_back(m);
    mb.core->step(m);
  }
}

void cluster::process_ready(member& mb) {
  node& core = *mb.core;
  if (!core.has_ready()) return;
  ready rd = core.get_ready();
  // 1. Persist: snapshot, entries (truncating the conflicting suffix), hard state; atomically.
  if (rd.snapshot) {
    auto it = mb.staged_snapshots.find({rd.snapshot->index, rd.snapshot->term});
    if (it == mb.staged_snapshots.end()) fail("node ", mb.id, " installs snapshot ", rd.snapshot->index, " never received");
    const state_machine sm = decode_sm(it->second);
    if (sm.applied != rd.snapshot->index) fail("snapshot data at ", sm.applied, " under meta ", rd.snapshot->index);
    if (sm.applied > record_.size() || record_[sm.applied - 1].chain != sm.hash) {
      fail("node ", mb.id, " installs a snapshot at ", sm.applied, " that no replica applied that way");
    }
    mb.storage.install_snapshot(*rd.snapshot, it->second);
    ++stats_.snapshots_installed;
    mb.sm = sm;
    mb.proposals.erase(std::remove_if(mb.proposals.begin(), mb.proposals.end(),
                                      [&](const proposal& p) { return p.index <= sm.applied; }),
                       mb.proposals.end());
  }
  for (const entry& e : rd.entries) {
    auto [it, fresh] = entries_seen_.emplace(std::make_pair(e.index, e.term), e.data);
    if (!fresh && it->second != e.data) fail("two different entries at index ", e.index, " term ", e.term);
  }
  mb.storage.append(rd.entries);
  if (rd.hard_state) mb.storage.set_hard_state(*rd.hard_state);
  if (faults.crash_mid_ready > 0 && rng_.below(1'000'000) < faults.crash_mid_ready * 1'000'000) {
    mb.core.reset();  // crashed after the write, before anything left the node
    ++stats_.crashes_mid_ready;
    return;
  }
  // 2. Send.
  for (auto& m : rd.messages) send(mb, std::move(m));
  // 3. Apply.
  for (const entry& e : rd.committed_entries) apply(mb, e);
  for (const read_state& rs : rd.read_states) {
    auto it = mb.reads.find(rs.context);
    if (it == mb.reads.end()) continue;
    if (rs.ok) {
      if (rs.index < it->second) {
        fail("read at node ", mb.id, " confirmed index ", rs.index, " but index ", it->second,
             " was acknowledged before the read started");
      }
      ++reads_confirmed_;
    }
    mb.reads.erase(it);
  }
  // 4. Advance.
  core.advance(rd);
  for (node_id to : snapshot_failures_) core.report_snapshot(to, false);
  snapshot_failures_.clear();
  for (auto it = mb.staged_snapshots.begin(); it != mb.staged_snapshots.end();) {
    it = it->first.first <= mb.sm.applied ? mb.staged_snapshots.erase(it) : std::next(it);
  }
}

void cluster::apply(member& mb, const entry& e) {
  if (e.index != mb.sm.applied + 1) fail("node ", mb.id, " applies ", e.index, " after ", mb.sm.applied);
  const std::uint64_t chain = chain_hash(mb.sm.hash, e);
  if (e.index <= record_.size()) {
    const committed& c = record_[e.index - 1];
    if (c.term != e.term || c.data != e.data || c.type != e.type || c.chain != chain) {
      fail("state machine safety: node ", mb.id, " applies index ", e.index, " term ", e.term, " but term ", c.term,
           " was applied there before");
    }
  } else {
    record_.push_back({e.term, e.type, e.data, chain, mb.core->term()});
    if (e.type == entry_type::conf_change) ++stats_.conf_changes_applied;
  }
  mb.sm = {e.index, chain};
  for (auto it = mb.proposals.begin(); it != mb.proposals.end();) {
    if (it->index != e.index) {
      ++it;
      continue;
    }
    if (it->term == e.term) {
      if (it->data != e.data) fail("proposal at ", e.index, " term ", e.term, " applied with other data");
      acked_.push_back(e.index);  // the client hears "committed" now
      acked_max_ = std::max(acked_max_, e.index);
    }
    it = mb.proposals.erase(it);
  }
}

void cluster::tick() {
  ++now_;
  // Time first: a node's timers fire, then it handles what arrived, then its driver writes and sends. Whatever a
  // tick started (a heartbeat round) leaves in the same tick, so a round's recorded tick is as late as it can be.
  for (auto& [id, mb] : members_) {
    if (!mb.core) continue;
    if (mb.paused_until > now_) {
      ++mb.missed_ticks;
      continue;
    }
    // Resumed: the clock ran on while it was stopped; time is caught up before anything else is handled.
    for (; mb.missed_ticks > 0; --mb.missed_ticks) mb.core->tick();
    int ticks = 1;
    if (faults.tick_jitter > 0 && rng_.below(1'000'000) < faults.tick_jitter * 1'000'000) {
      // Late by one, or catching up: the count never strays more than one tick from true time, in one
      // direction only, as with a fixed phase between tick boundaries.
      ticks = mb.tick_late ? 2 : 0;
      mb.tick_late = !mb.tick_late;
    }
    for (int i = 0; i < ticks; ++i) mb.core->tick();
  }
  // Messages with no delay (faster than a tick) go back and forth within the tick, a bounded number of times.
  for (int round = 0; round < 8; ++round) {
    deliver_due();
    for (auto& [id, mb] : members_) {
      if (!mb.core || mb.paused_until > now_) continue;
      if (faults.skip_ready > 0 && rng_.below(1'000'000) < faults.skip_ready * 1'000'000) continue;
      process_ready(mb);
    }
    const bool more = std::any_of(in_flight_.begin(), in_flight_.end(),
                                  [&](const envelope& e) { return e.deliver_at <= now_ && !paused(e.m.to); });
    if (!more) break;
  }
  check_tick();
}

void cluster::settle(int max_rounds) {
  for (int round = 0; round < max_rounds; ++round) {
    for (auto& [id, mb] : members_) {
      if (mb.core) process_ready(mb);
    }
    if (in_flight_.empty()) {
      bool any = false;
      for (auto& [id, mb] : members_) any = any || (mb.core && mb.core->has_ready());
      if (!any) return;
      continue;
    }
    for (auto& env : in_flight_) env.deliver_at = now_;
    deliver_due();
  }
}

std::optional<propose_result> cluster::propose(node_id at, std::string data) {
  auto it = members_.find(at);
  if (it == members_.end() || !it->second.core) return std::nullopt;
  auto r = it->second.core->propose(data);
  if (r.ok()) it->second.proposals.push_back({r.index, r.term, std::move(data)});
  return r;
}

std::optional<errc> cluster::read(node_id at) {
  auto it = members_.find(at);
  if (it == members_.end() || !it->second.core) return std::nullopt;
  const std::uint64_t ctx = ++read_seq_;
  const errc e = it->second.core->read_index(ctx);
  if (e == errc::ok) it->second.reads[ctx] = acked_max_;
  return e;
}

void cluster::compact(node_id id) {
  auto it = members_.find(id);
  if (it == members_.end() || !it->second.core) return;
  member& mb = it->second;
  if (mb.sm.applied <= mb.storage.snapshot().index) return;
  // A snapshot received but not yet installed makes our applied state older than the log: nothing to compact.
  if (mb.core->first_index() - 1 > mb.sm.applied) return;
  auto [err, meta] = mb.core->compact(mb.sm.applied);
  if (err != errc::ok) {
    fail("compact at applied ", mb.sm.applied, " refused: ", to_string(err), " (core applied ", mb.core->applied_index(),
         " first ", mb.core->first_index(), " storage snapshot ", mb.storage.snapshot().index, ")");
  }
  mb.storage.compact(meta, encode_sm(mb.sm));
}

node_id cluster::leader() const {
  node_id best = no_node;
  term_t best_term = 0;
  for (const auto& [id, mb] : members_) {
    if (mb.core && mb.core->role() == role::leader && mb.core->term() >= best_term) {
      best = id;
      best_term = mb.core->term();
    }
  }
  return best;
}

void cluster::check_tick() {
  for (auto& [id, mb] : members_) {
    if (!mb.core) continue;
    const node& n = *mb.core;
    if (n.commit_index() > n.last_index()) fail("node ", id, " commit beyond its log");
    if (n.role() != role::leader) continue;
    // Election safety: one leader per term, ever.
    auto [it, fresh] = leaders_.emplace(n.term(), id);
    if (!fresh && it->second != id) fail("election safety: nodes ", it->second, " and ", id, " lead term ", n.term());
    // Leader completeness: entries committed in earlier terms are in the leader's log.
    for (index_t i = n.first_index(); i <= record_.size(); ++i) {
      const committed& c = record_[i - 1];
      if (c.first_apply_term > n.term()) continue;
      if (n.term_at(i) != c.term) {
        fail("leader completeness: leader ", id, " of term ", n.term(), " lacks committed index ", i);
      }
    }
  }
  const node* lease_holder = nullptr;
  for (auto& [id, mb] : members_) {
    // A stopped process serves nothing; it catches up its clock before it could.
    if (!mb.core || mb.paused_until > now_) continue;
    const node& n = *mb.core;
    if (!n.lease_valid()) continue;
    if (lease_holder) fail("two leases: nodes ", lease_holder->id(), " and ", id, " at tick ", now_);
    lease_holder = &n;
    // Stronger: while a lease holds, nobody can have been elected in a later term (whatever it did since).
    if (leaders_.rbegin()->first > n.term()) {
      fail("lease of node ", id, " in term ", n.term(), " while node ", leaders_.rbegin()->second,
           " was elected in term ", leaders_.rbegin()->first);
    }
    // A lease read answers from this commit index: it must cover every write acknowledged so far.
    if (n.commit_index() < acked_max_) {
      fail("lease holder ", id, " has commit ", n.commit_index(), " below acknowledged ", acked_max_);
    }
  }
  if (lease_holder) ++stats_.lease_ticks;
}

void cluster::check_log_matching() const {
  // If two logs hold an entry with the same index and term, they agree on everything before it (the other half,
  // same index and term means same entry, is checked as entries are persisted).
  std::vector<const node*> nodes;
  for (const auto& [id, mb] : members_) {
    if (mb.core) nodes.push_back(mb.core.get());
  }
  for (std::size_t a = 0; a < nodes.size(); ++a) {
    for (std::size_t b = a + 1; b < nodes.size(); ++b) {
      const node& x = *nodes[a];
      const node& y = *nodes[b];
      const index_t lo = std::max(x.first_index(), y.first_index());
      const index_t hi = std::min(x.last_index(), y.last_index());
      index_t top = 0;
      for (index_t i = hi; i >= lo && i > 0; --i) {
        if (x.term_at(i) == y.term_at(i)) {
          top = i;
          break;
        }
      }
      for (index_t i = lo; i < top; ++i) {
        if (x.term_at(i) != y.term_at(i)) {
          fail("log matching: nodes ", x.id(), " and ", y.id(), " agree at ", top, " but differ at ", i);
        }
      }
    }
  }
}

bool cluster::converged(std::string* why) const {
  auto say = [&](const std::string& s) {
    if (why) *why = s;
    return false;
  };
  const node_id lid = leader();
  if (lid == no_node) return say("no leader");
  const node& l = *members_.at(lid).core;
  if (!l.committed_in_term()) return say("leader has not committed in its term");
  if (l.commit_index() != l.last_index()) return say("leader has uncommitted entries");
  const state_machine& lsm = members_.at(lid).sm;
  if (lsm.applied != l.commit_index()) return say("leader has not applied everything");
  const auto& m = l.membership();
  for (node_id id : m.voters) {
    if (m.learners.count(id)) return say("voter is also learner");
  }
  std::set<node_id> all = m.voters;
  all.insert(m.learners.begin(), m.learners.end());
  for (node_id id : all) {
    if (id == lid) continue;
    auto it = members_.find(id);
    if (it == members_.end() || !it->second.core) return say("member " + std::to_string(id) + " down");
    const member& mb = it->second;
    if (mb.sm.applied != lsm.applied || mb.sm.hash != lsm.hash) {
      std::string detail;
      if (const progress* pr = l.progress_of(id)) {
        detail = " (leader " + std::to_string(lid) + " sees match " + std::to_string(pr->match) + " next " +
                 std::to_string(pr->next) + " state " + std::to_string(static_cast<int>(pr->state)) + " paused " +
                 std::to_string(pr->is_paused()) + "; member commit " + std::to_string(mb.core->commit_index()) +
                 " last " + std::to_string(mb.core->last_index()) + " term " + std::to_string(mb.core->term()) +
                 " leader " + std::to_string(mb.core->leader()) + " drops " +
                 std::to_string(mb.core->drops().invalid) + "/" + std::to_string(mb.core->drops().unexpected) +
                 " voters " + std::to_string(mb.core->membership().voters.size()) + ", leader first " +
                 std::to_string(l.first_index()) + ")";
      }
      return say("member " + std::to_string(id) + " applied " + std::to_string(mb.sm.applied) + " vs " +
                 std::to_string(lsm.applied) + detail);
    }
    if (mb.core->last_index() != l.last_index()) return say("member " + std::to_string(id) + " log differs");
  }
  return true;
}

void cluster::check_final() {
  check_log_matching();
  const node_id lid = leader();
  if (lid == no_node) fail("no leader at the end");
  const state_machine& lsm = members_.at(lid).sm;
  for (index_t i : acked_) {
    if (i > lsm.applied) fail("acknowledged index ", i, " not applied by the final leader (applied ", lsm.applied, ")");
  }
  if (lsm.applied > record_.size() || (lsm.applied > 0 && record_[lsm.applied - 1].chain != lsm.hash)) {
    fail("final leader's state differs from the committed record");
  }
}

}  // namespace bento::cluster::consensus::sim
