// Roles, ticks, term rules and the ready/advance handshake. Protocol steps are in their own files.
#include "cluster/consensus/node.hpp"

#include "cluster/consensus/invariant.hpp"
#include "cluster/consensus/message_validation.hpp"

#include <algorithm>
#include <limits>

namespace bento::cluster::consensus {

node::node(const node_config& config, const log_storage& storage, index_t applied)
  : cfg_(config), id_(config.id), rng_(config.seed ^ (config.id * 0x9e3779b97f4a7c15ull)), log_(storage) {
  BENTO_RAFT_INVARIANT(id_ != no_node, "node id 0 is reserved");
  BENTO_RAFT_INVARIANT(cfg_.election_ticks > cfg_.heartbeat_ticks && cfg_.heartbeat_ticks > 0,
                       "election_ticks must exceed heartbeat_ticks");
  BENTO_RAFT_INVARIANT(cfg_.lease_margin_ticks >= 2 && cfg_.lease_margin_ticks < cfg_.election_ticks,
                       "lease margin must be in [2, election_ticks)");
  const hard_state hs = storage.initial_hard_state();
  term_ = hs.term;
  vote_ = hs.vote;
  prev_hard_state_ = {term_, vote_, log_.committed()};
  if (applied > 0) {
    BENTO_RAFT_INVARIANT(applied <= log_.committed(), "state machine applied beyond the durable commit");
    log_.applied_to(applied);
  }
  load_configs(storage);
  reset_randomized_timeout();
}

void node::reset_randomized_timeout() {
  randomized_election_ticks_ =
    cfg_.election_ticks + static_cast<int>(rng_.below(static_cast<std::uint64_t>(cfg_.election_ticks)));
}

void node::reset(term_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = no_node;
  }
  leader_ = no_node;
  leader_peers_match_ = 0;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_timeout();
  votes_.clear();
  progress_.clear();
  abort_transfer();
  fail_pending_reads();
  lease_revoked_ = false;
  round_ = 0;
  round_base_ = 1;
  round_ticks_.clear();
  reads_need_round_ = false;
}

void node::become_follower(term_t term, node_id leader) {
  reset(term);
  role_ = role::follower;
  leader_ = leader;
}

void node::become_pre_candidate() {
  // A pre-candidate keeps its term and vote: losing a pre-vote changes nothing durable.
  BENTO_RAFT_INVARIANT(role_ != role::leader, "leader cannot pre-campaign");
  votes_.clear();
  leader_ = no_node;
  reset_randomized_timeout();
  role_ = role::pre_candidate;
}

void node::become_candidate() {
  BENTO_RAFT_INVARIANT(role_ != role::leader, "leader cannot campaign");
  reset(term_ + 1);
  vote_ = id_;
  role_ = role::candidate;
}

void node::become_leader() {
  BENTO_RAFT_INVARIANT(role_ == role::candidate, "only a candidate becomes leader");
  reset(term_);
  role_ = role::leader;
  leader_ = id_;
  leader_contact_elapsed_ = 0;
  const index_t last = log_.last_index();
  for (auto id : membership().voters) {
    if (id != id_) progress_.emplace(id, progress(cfg_.max_inflight_appends)).first->second.next = last + 1;
  }
  for (auto id : membership().learners) {
    if (id != id_) progress_.emplace(id, progress(cfg_.max_inflight_appends)).first->second.next = last + 1;
  }
  start_round();
  // Raft §8: a noop of our term, so that committing it tells us (and commits) everything before it.
  append_entries({entry{term_, last + 1, entry_type::noop, {}}});
  broadcast_append();
  if (maybe_commit()) commit_advanced();
}

message node::reply(const message& to, message_type type) const {
  message r;
  r.type = type;
  r.to = to.from;
  r.term = term_;
  r.context = to.context;
  return r;
}

void node::send(message m) {
  m.from = id_;
  if (m.term == 0) m.term = term_;
  msgs_.push_back(std::move(m));
}

bool node::in_lease() const {
  // Leader stickiness: whoever heard from a leader within the minimum election timeout must not help depose it;
  // this is what makes the leader's lease sound.
  return leader_contact_elapsed_ < cfg_.election_ticks;
}

bool node::committed_in_term() const {
  return role_ == role::leader && log_.term(log_.committed()) == term_;
}

void node::tick() {
  BENTO_RAFT_INVARIANT(!ready_outstanding_, "tick between ready() and advance()");
  ++now_;
  if (role_ == role::leader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
}

void node::tick_election() {
  if (election_elapsed_ < std::numeric_limits<int>::max()) ++election_elapsed_;
  if (leader_contact_elapsed_ < std::numeric_limits<int>::max()) ++leader_contact_elapsed_;
  // Every reset of leader contact also resets the election timer, so a node that campaigns has not heard from a
  // leader for at least election_ticks: its own vote never breaks a lease.
  BENTO_RAFT_INVARIANT(leader_contact_elapsed_ >= election_elapsed_, "election timer ahead of leader contact");
  if (promotable() && election_elapsed_ >= randomized_election_ticks_) {
    election_elapsed_ = 0;
    campaign(cfg_.pre_vote, false);
  }
}

void node::tick_heartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  leader_contact_elapsed_ = 0;
  if (election_elapsed_ >= cfg_.election_ticks) {
    election_elapsed_ = 0;
    if (cfg_.check_quorum) {
      std::size_t active = 0;
      for (auto id : membership().voters) {
        if (id == id_) {
          ++active;
        } else if (auto it = progress_.find(id); it != progress_.end() && it->second.recent_active) {
          ++active;
        }
      }
      for (auto& [id, pr] : progress_) pr.recent_active = false;
      if (active < quorum()) {
        // Not heard from a majority for an election timeout: someone else may be leading by now.
        become_follower(term_, no_node);
        return;
      }
    }
    // A transfer that did not finish within an election timeout is abandoned.
    abort_transfer();
  }
  if (heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    broadcast_heartbeat();
  }
}

void node::step(const message& m) {
  BENTO_RAFT_INVARIANT(!ready_outstanding_, "step between ready() and advance()");
  if (!well_formed(m, id_)) {
    ++drops_.invalid;
    return;
  }
  const bool vote_request = m.type == message_type::vote || m.type == message_type::prevote;
  if (m.term > term_) {
    if (vote_request && !m.transfer && in_lease()) {
      // Answer without moving to the candidate's term: a node with a higher term cannot depose a leader it
      // could not win a majority against.
      message r = reply(m, m.type == message_type::vote ? message_type::vote_resp : message_type::prevote_resp);
      r.reject = true;
      send(std::move(r));
      return;
    }
    if (m.type == message_type::prevote) {
      // A pre-vote never changes our term.
    } else if (m.type == message_type::prevote_resp && !m.reject) {
      // Granted pre-votes carry the term we asked for; it becomes ours only when we campaign.
    } else {
      const bool from_leader = m.type == message_type::append || m.type == message_type::heartbeat ||
                               m.type == message_type::install_snapshot;
      become_follower(m.term, from_leader ? m.from : no_node);
    }
  } else if (m.term < term_) {
    ++drops_.stale_term;
    if (m.type == message_type::append || m.type == message_type::heartbeat) {
      // A leader of an older term (e.g. back from a pause): tell it our term so it steps down.
      send(reply(m, message_type::append_resp));
    } else if (m.type == message_type::prevote) {
      message r = reply(m, message_type::prevote_resp);
      r.reject = true;
      send(std::move(r));
    }
    return;
  }

  if (vote_request) {
    handle_vote_request(m);
    return;
  }
  switch (role_) {
    case role::follower: step_follower(m); break;
    case role::pre_candidate:
    case role::candidate: step_candidate(m); break;
    case role::leader: step_leader(m); break;
  }
}

bool node::heard_from_leader(node_id from) {
  if (leader_ != no_node && leader_ != from) {
    // Two leaders claiming one term: impossible among correct peers, so the message is not trusted.
    ++drops_.unexpected;
    return false;
  }
  if (role_ != role::follower) become_follower(term_, from);
  leader_ = from;
  election_elapsed_ = 0;
  leader_contact_elapsed_ = 0;
  return true;
}

void node::step_follower(const message& m) {
  switch (m.type) {
    case message_type::append:
      if (heard_from_leader(m.from)) handle_append(m);
      break;
    case message_type::heartbeat:
      if (heard_from_leader(m.from)) handle_heartbeat(m);
      break;
    case message_type::install_snapshot:
      if (heard_from_leader(m.from)) handle_snapshot(m);
      break;
    case message_type::timeout_now: handle_timeout_now(m); break;
    case message_type::read_index_resp: handle_read_index_response(m); break;
    default: ++drops_.unexpected; break;
  }
}

void node::step_candidate(const message& m) {
  switch (m.type) {
    case message_type::append:
    case message_type::heartbeat:
    case message_type::install_snapshot:
      // A leader of our term exists: stand down and treat the message as a follower would.
      step_follower(m);
      break;
    case message_type::prevote_resp:
      if (role_ == role::pre_candidate && (m.reject || m.term == term_ + 1)) {
        handle_vote_response(m);
      } else {
        ++drops_.unexpected;
      }
      break;
    case message_type::vote_resp:
      if (role_ == role::candidate) {
        handle_vote_response(m);
      } else {
        ++drops_.unexpected;
      }
      break;
    default: ++drops_.unexpected; break;
  }
}

void node::step_leader(const message& m) {
  switch (m.type) {
    case message_type::append_resp:
    case message_type::heartbeat_resp: {
      auto it = progress_.find(m.from);
      if (it == progress_.end()) {
        ++drops_.unexpected;
        return;
      }
      if (m.type == message_type::append_resp) {
        handle_append_response(m, it->second);
      } else {
        handle_heartbeat_response(m, it->second);
      }
      break;
    }
    case message_type::read_index: handle_read_index(m); break;
    default: ++drops_.unexpected; break;
  }
}

bool node::has_ready() const {
  if (hard_state{term_, vote_, log_.committed()} != prev_hard_state_) return true;
  if (log_.unstable_snapshot() || !log_.unstable_entries().empty() || log_.has_next_committed()) return true;
  if (!msgs_.empty() || !read_states_.empty() || reads_need_round_) return true;
  return soft_state{leader_, role_} != prev_soft_state_;
}

ready node::get_ready() {
  BENTO_RAFT_INVARIANT(!ready_outstanding_, "ready() twice without advance()");
  if (reads_need_round_) broadcast_heartbeat();  // one round confirms every read registered since the last one
  ready rd;
  const hard_state hs{term_, vote_, log_.committed()};
  if (hs != prev_hard_state_) {
    rd.hard_state = hs;
    prev_hard_state_ = hs;
  }
  rd.snapshot = log_.unstable_snapshot();
  rd.entries = log_.unstable_entries();
  rd.committed_entries = log_.next_committed(cfg_.max_committed_bytes_per_ready);
  rd.messages = std::move(msgs_);
  msgs_.clear();
  const soft_state ss{leader_, role_};
  if (ss != prev_soft_state_) {
    rd.soft_state = ss;
    prev_soft_state_ = ss;
  }
  rd.read_states = std::move(read_states_);
  read_states_.clear();
  ready_outstanding_ = true;
  return rd;
}

void node::advance(const ready& rd) {
  BENTO_RAFT_INVARIANT(ready_outstanding_, "advance() without ready()");
  ready_outstanding_ = false;
  if (rd.snapshot) {
    log_.stable_snapshot_to(rd.snapshot->index);
    log_.applied_to(rd.snapshot->index);
  }
  if (!rd.entries.empty()) log_.stable_to(rd.entries.back().index, rd.entries.back().term);
  if (!rd.committed_entries.empty()) log_.applied_to(rd.committed_entries.back().index);
}

}  // namespace bento::cluster::consensus
