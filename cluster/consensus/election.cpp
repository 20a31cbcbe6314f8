// Pre-vote and vote (Raft §5.2, thesis §9.6): campaigning, granting, counting.
#include "cluster/consensus/node.hpp"

namespace bento::cluster::consensus {

namespace {

struct tally {
  std::size_t granted = 0;
  std::size_t rejected = 0;
};

tally count_votes(const std::map<node_id, bool>& votes, const membership& m) {
  tally t;
  for (const auto& [id, granted] : votes) {
    if (!m.is_voter(id)) continue;  // only voters of the membership in force count
    (granted ? t.granted : t.rejected) += 1;
  }
  return t;
}

}  // namespace

void node::campaign(bool pre, bool transfer) {
  if (!promotable()) return;
  term_t vote_term = 0;
  if (pre) {
    become_pre_candidate();
    vote_term = term_ + 1;  // the term we would campaign in; ours stays until a majority would vote for us
  } else {
    become_candidate();
    vote_term = term_;
  }
  votes_[id_] = true;
  const tally t = count_votes(votes_, membership());
  if (t.granted >= quorum()) {
    // A group whose only voter is us.
    if (pre) {
      campaign(false, transfer);
    } else {
      become_leader();
    }
    return;
  }
  const index_t last = log_.last_index();
  const term_t last_term = log_.last_term();
  for (auto id : membership().voters) {
    if (id == id_) continue;
    message m;
    m.type = pre ? message_type::prevote : message_type::vote;
    m.to = id;
    m.term = vote_term;
    m.index = last;
    m.log_term = last_term;
    m.transfer = transfer;
    send(std::move(m));
  }
}

void node::handle_vote_request(const message& m) {
  const bool pre = m.type == message_type::prevote;
  // We may vote for whom we voted already (a retransmission), for anyone in a term where we neither voted nor
  // know a leader, and pre-vote for any later term (a pre-vote binds nothing).
  const bool can_vote = vote_ == m.from || (vote_ == no_node && leader_ == no_node) || (pre && m.term > term_);
  // Stickiness holds for every grant but a repeated one and a transfer the leader itself asked for.
  const bool sticky = in_lease() && vote_ != m.from && !m.transfer;
  message r;
  r.type = pre ? message_type::prevote_resp : message_type::vote_resp;
  r.to = m.from;
  if (can_vote && !sticky && log_.is_up_to_date(m.index, m.log_term)) {
    r.term = m.term;  // for a pre-vote: the future term asked for, which the pre-candidate checks
    if (!pre) {
      vote_ = m.from;
      election_elapsed_ = 0;
    }
  } else {
    r.term = term_;
    r.reject = true;
  }
  send(std::move(r));
}

void node::handle_vote_response(const message& m) {
  if (!membership().is_voter(m.from)) {
    ++drops_.unexpected;
    return;
  }
  votes_.emplace(m.from, !m.reject);  // the first answer of each voter counts
  const tally t = count_votes(votes_, membership());
  const std::size_t voters = membership().voters.size();
  if (t.granted >= quorum()) {
    if (role_ == role::pre_candidate) {
      campaign(false, false);
    } else {
      become_leader();
    }
  } else if (t.rejected >= voters - quorum() + 1) {
    become_follower(term_, no_node);
  }
}

}  // namespace bento::cluster::consensus
