// Linearizable reads (thesis §6.4): the read index, confirmed by a heartbeat round a majority answered, and the
// leader lease built on the same rounds.
#include "cluster/consensus/node.hpp"

#include "cluster/consensus/invariant.hpp"

#include <algorithm>

namespace bento::cluster::consensus {

errc node::read_index(std::uint64_t context) {
  BENTO_RAFT_INVARIANT(!ready_outstanding_, "read_index between ready() and advance()");
  if (role_ == role::leader) {
    if (!committed_in_term()) return errc::not_ready;  // our commit index may be behind the group's
    if (membership().voters.size() == 1 && promotable()) {
      read_states_.push_back({context, log_.committed(), true});
      return errc::ok;
    }
    // Confirmed by the next round, which starts at the latest in get_ready(): one round serves a whole batch.
    pending_reads_.push_back({context, id_, log_.committed(), round_ + 1});
    reads_need_round_ = true;
    return errc::ok;
  }
  if (leader_ == no_node) return errc::not_leader;
  message m;
  m.type = message_type::read_index;
  m.to = leader_;
  m.context = context;
  send(std::move(m));
  return errc::ok;
}

void node::handle_read_index(const message& m) {
  if (!committed_in_term()) {
    message r = reply(m, message_type::read_index_resp);
    r.reject = true;
    send(std::move(r));
    return;
  }
  if (membership().voters.size() == 1 && promotable()) {
    message r = reply(m, message_type::read_index_resp);
    r.index = log_.committed();
    send(std::move(r));
    return;
  }
  pending_reads_.push_back({m.context, m.from, log_.committed(), round_ + 1});
  reads_need_round_ = true;
}

void node::handle_read_index_response(const message& m) {
  if (m.from != leader_) {
    ++drops_.unexpected;
    return;
  }
  read_states_.push_back({m.context, m.index, !m.reject});
}

std::uint64_t node::quorum_acked_round() const {
  const auto& voters = membership().voters;
  if (voters.empty()) return 0;
  std::vector<std::uint64_t> rounds;
  rounds.reserve(voters.size());
  for (auto id : voters) {
    if (id == id_) {
      rounds.push_back(round_);
    } else {
      auto it = progress_.find(id);
      rounds.push_back(it == progress_.end() ? 0 : it->second.acked_round);
    }
  }
  std::sort(rounds.begin(), rounds.end(), std::greater<>());
  return rounds[quorum() - 1];
}

void node::release_reads() {
  if (pending_reads_.empty()) return;
  const std::uint64_t acked = quorum_acked_round();
  while (!pending_reads_.empty() && pending_reads_.front().round <= acked) {
    const pending_read pr = pending_reads_.front();
    pending_reads_.pop_front();
    if (pr.from == id_) {
      read_states_.push_back({pr.context, pr.index, true});
    } else {
      message r;
      r.type = message_type::read_index_resp;
      r.to = pr.from;
      r.index = pr.index;
      r.context = pr.context;
      send(std::move(r));
    }
  }
}

void node::fail_pending_reads() {
  for (const auto& pr : pending_reads_) {
    if (pr.from == id_) read_states_.push_back({pr.context, 0, false});
  }
  pending_reads_.clear();
}

bool node::lease_valid() const {
  return lease_ticks_left() > 0;
}

std::uint64_t node::lease_ticks_left() const {
  if (role_ != role::leader || lease_revoked_ || !committed_in_term()) return 0;
  const std::uint64_t r = quorum_acked_round();
  if (r < round_base_ || r - round_base_ >= round_ticks_.size()) return 0;
  const std::uint64_t sent = round_ticks_[r - round_base_];
  // A majority heard from us at or after tick `sent`; none of them votes before `sent + election_ticks` on its
  // own clock, so no other leader exists before then (equal tick rates, margin for phase and drift).
  const auto span = static_cast<std::uint64_t>(cfg_.election_ticks - cfg_.lease_margin_ticks);
  return now_ - sent < span ? span - (now_ - sent) : 0;
}

bool node::heard_within(node_id id, std::uint64_t ticks) const {
  if (id == id_) return true;
  if (role_ != role::leader) return false;
  auto it = progress_.find(id);
  if (it == progress_.end()) return false;
  const std::uint64_t r = it->second.acked_round;
  if (r < round_base_ || r - round_base_ >= round_ticks_.size()) return false;  // older than the rounds kept
  return now_ - round_ticks_[r - round_base_] <= ticks;
}

}  // namespace bento::cluster::consensus
