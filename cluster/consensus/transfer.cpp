// Leadership transfer (thesis §3.10): catch the transferee up, then tell it to campaign at once.
#include "cluster/consensus/node.hpp"

#include "cluster/consensus/invariant.hpp"

namespace bento::cluster::consensus {

errc node::transfer_leadership(node_id to) {
  BENTO_RAFT_INVARIANT(!ready_outstanding_, "transfer between ready() and advance()");
  if (role_ != role::leader) return errc::not_leader;
  if (to == id_) return errc::ok;
  if (!membership().is_voter(to)) return errc::invalid_argument;
  if (transferee_ == to) return errc::ok;
  transferee_ = to;
  election_elapsed_ = 0;  // the transfer is abandoned after one election timeout
  auto& pr = progress_.at(to);
  if (pr.match == log_.last_index()) {
    send_timeout_now(to);
  } else {
    send_append(to);
  }
  return errc::ok;
}

void node::send_timeout_now(node_id to) {
  // The transferee's vote requests bypass stickiness, so from now on our lease proves nothing.
  lease_revoked_ = true;
  message m;
  m.type = message_type::timeout_now;
  m.to = to;
  send(std::move(m));
}

void node::handle_timeout_now(const message& m) {
  if (m.from != leader_ || !promotable()) {
    ++drops_.unexpected;
    return;
  }
  campaign(false, true);
}

}  // namespace bento::cluster::consensus
