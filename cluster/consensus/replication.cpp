// Log replication (Raft §5.3): proposals, append/heartbeat on both sides, per-follower flow control, commit.
#include "cluster/consensus/node.hpp"

#include "cluster/consensus/invariant.hpp"

#include <algorithm>

namespace bento::cluster::consensus {

bool node::refuse_proposal(propose_result& r) const {
  BENTO_RAFT_INVARIANT(!ready_outstanding_, "propose between ready() and advance()");
  if (role_ != role::leader) {
    r.error = errc::not_leader;
    r.leader_hint = leader_;
    return true;
  }
  if (transferee_ != no_node) {
    r.error = errc::transfer_in_progress;
    r.leader_hint = transferee_;
    return true;
  }
  return false;
}

propose_result node::propose(std::string data) {
  propose_result r;
  if (refuse_proposal(r)) return r;
  if (log_.last_index() - log_.committed() >= cfg_.max_uncommitted_entries) {
    r.error = errc::too_many_in_flight;
    return r;
  }
  r.index = log_.last_index() + 1;
  r.term = term_;
  append_entries({entry{term_, r.index, entry_type::normal, std::move(data)}});
  broadcast_append();
  if (maybe_commit()) commit_advanced();
  return r;
}

void node::append_entries(std::vector<entry> ents) {
  const index_t first = ents.front().index;
  // Membership bookkeeping reads the configuration entries after the log took ownership: only those are kept
  // (a copy of every proposal's data was most of this function's cost).
  std::vector<entry> changes;
  for (const auto& e : ents)
    if (e.type == entry_type::conf_change) changes.push_back(e);
  log_.append(std::move(ents));
  note_log_change(first, changes);
}

void node::start_round() {
  if (round_ticks_.empty()) round_base_ = round_ + 1;
  ++round_;
  round_ticks_.push_back(now_);
  // Rounds older than an election timeout can no longer extend the lease; reads compare round numbers only.
  while (round_ticks_.size() > 1 && round_ticks_.front() + static_cast<std::uint64_t>(cfg_.election_ticks) < now_) {
    round_ticks_.pop_front();
    ++round_base_;
  }
}

index_t node::peers_match() const {
  if (role_ != role::leader) return leader_peers_match_;
  if (progress_.empty()) return 0;
  index_t lowest = log_.last_index();
  for (auto& [id, pr] : progress_) lowest = std::min(lowest, pr.match);
  return lowest;
}

bool node::send_append(node_id to, bool send_if_empty) {
  auto it = progress_.find(to);
  if (it == progress_.end()) return false;
  progress& pr = it->second;
  if (pr.is_paused()) return false;
  const index_t prev = pr.next - 1;
  const auto prev_term = log_.term(prev);
  if (!prev_term) return send_snapshot(to, pr);  // compacted away: the follower needs the snapshot
  message m;
  m.type = message_type::append;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  const index_t last = log_.last_index();
  if (pr.next <= last) {
    const index_t hi = std::min<index_t>(last + 1, pr.next + cfg_.max_entries_per_append);
    m.entries = log_.slice(pr.next, hi, cfg_.max_bytes_per_append);
  }
  if (m.entries.empty() && !send_if_empty) return false;
  m.commit = log_.committed();
  m.context = round_;
  m.peers_match = peers_match();
  if (!m.entries.empty()) {
    const index_t sent_last = m.entries.back().index;
    if (pr.state == progress_state::replicate) {
      pr.next = sent_last + 1;  // optimistic: the window bounds how far ahead we run
      pr.in_flight.add(sent_last);
    } else {
      pr.probe_sent = true;
    }
    pr.last_append_round = round_;
  } else if (pr.state == progress_state::probe) {
    pr.probe_sent = true;
  }
  send(std::move(m));
  return true;
}

void node::broadcast_append() {
  for (auto& [id, pr] : progress_) send_append(id);
}

void node::broadcast_heartbeat() {
  start_round();
  reads_need_round_ = false;  // this round confirms the reads waiting for it
  for (auto& [id, pr] : progress_) send_heartbeat(id);
}

void node::send_heartbeat(node_id to) {
  const progress& pr = progress_.at(to);
  message m;
  m.type = message_type::heartbeat;
  m.to = to;
  // Never tell a follower to commit beyond what it is known to hold in agreement with us.
  m.commit = std::min(pr.match, log_.committed());
  m.context = round_;
  send(std::move(m));
}

bool node::maybe_commit() {
  const auto& voters = membership().voters;
  if (voters.empty()) return false;
  std::vector<index_t> matches;
  matches.reserve(voters.size());
  for (auto id : voters) {
    if (id == id_) {
      matches.push_back(log_.last_index());
    } else {
      auto it = progress_.find(id);
      matches.push_back(it == progress_.end() ? 0 : it->second.match);
    }
  }
  std::sort(matches.begin(), matches.end(), std::greater<>());
  const index_t q = matches[quorum() - 1];
  // Raft §5.4.2: only an entry of our term is committed by counting replicas (figure 8).
  if (q <= log_.committed() || log_.term(q) != term_) return false;
  log_.commit_to(q);
  return true;
}

void node::commit_advanced() {
  broadcast_append();
  // Thesis §4.2.2: a leader that removed itself leads until the change commits, then steps down.
  if (role_ == role::leader && !promotable() && configs_.back().first <= log_.committed()) {
    become_follower(term_, no_node);
  }
}

void node::note_ack(const message& m, progress& pr) {
  pr.recent_active = true;
  if (m.context <= round_) pr.acked_round = std::max(pr.acked_round, m.context);
}

void node::handle_append(const message& m) {
  leader_peers_match_ = m.peers_match;
  message r = reply(m, message_type::append_resp);
  if (m.index < log_.committed()) {
    // Old news: tell the leader how far we are committed so it skips ahead.
    r.index = log_.committed();
    send(std::move(r));
    return;
  }
  const auto res = log_.maybe_append(m.index, m.log_term, m.commit, m.entries);
  if (res.conflicts_committed) {
    ++drops_.invalid;
    return;
  }
  if (res.matched) {
    if (res.truncated_from != 0) note_log_change(res.truncated_from, m.entries);
    r.index = res.last_new;
    send(std::move(r));
    return;
  }
  // Reject with a hint: the largest index where our term is <= the leader's term at m.index, so the leader can
  // skip a whole term of mismatches per round trip.
  const index_t hint = log_.find_conflict_by_term(std::min(m.index, log_.last_index()), m.log_term);
  r.reject = true;
  r.index = m.index;
  r.reject_hint = hint;
  r.log_term = log_.term(hint).value_or(0);
  send(std::move(r));
}

void node::handle_heartbeat(const message& m) {
  // The leader sends at most its match for us, which our log agrees with up to there.
  log_.commit_to(std::min(m.commit, log_.last_index()));
  send(reply(m, message_type::heartbeat_resp));
}

void node::handle_append_response(const message& m, progress& pr) {
  note_ack(m, pr);
  if (m.reject) {
    index_t hint = std::min(m.reject_hint, m.index);
    if (m.log_term > 0) hint = log_.find_conflict_by_term(hint, m.log_term);
    if (pr.maybe_decrease_to(m.index, hint)) {
      if (pr.state == progress_state::replicate) pr.become_probe();
      send_append(m.from);
    }
    release_reads();
    return;
  }
  if (m.index > log_.last_index()) {
    ++drops_.invalid;  // acknowledges entries we never had
    return;
  }
  const bool was_paused = pr.is_paused();
  if (pr.maybe_update(m.index)) {
    switch (pr.state) {
      case progress_state::probe: pr.become_replicate(); break;
      case progress_state::snapshot:
        if (pr.match >= pr.pending_snapshot) {
          pr.become_probe();
          pr.become_replicate();
        }
        break;
      case progress_state::replicate: pr.in_flight.free_up_to(m.index); break;
    }
    if (maybe_commit()) {
      commit_advanced();
      if (role_ != role::leader) return;
    } else if (was_paused) {
      send_append(m.from);
    }
    while (send_append(m.from, false)) {
    }
    if (m.from == transferee_ && pr.match == log_.last_index()) send_timeout_now(m.from);
  }
  release_reads();
}

void node::handle_heartbeat_response(const message& m, progress& pr) {
  note_ack(m, pr);
  pr.probe_sent = false;
  if (pr.state == progress_state::replicate) {
    // The follower answered a heartbeat sent after our last append and still lacks entries: assume the append
    // was lost (the transport keeps order per pair) and probe again rather than wait for the next proposal.
    if (pr.match + 1 < pr.next && m.context > pr.last_append_round) {
      pr.become_probe();
    } else if (pr.in_flight.full()) {
      pr.in_flight.free_first();
    }
  }
  if (pr.match < log_.last_index()) send_append(m.from);
  release_reads();
}

}  // namespace bento::cluster::consensus
