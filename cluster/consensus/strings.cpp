// Names for logs and test output.
#include "cluster/consensus/errc.hpp"
#include "cluster/consensus/message.hpp"
#include "cluster/consensus/types.hpp"

namespace bento::cluster::consensus {

const char* to_string(role r) {
  switch (r) {
    case role::follower: return "follower";
    case role::pre_candidate: return "pre_candidate";
    case role::candidate: return "candidate";
    case role::leader: return "leader";
  }
  return "?";
}

const char* to_string(message_type t) {
  switch (t) {
    case message_type::prevote: return "prevote";
    case message_type::prevote_resp: return "prevote_resp";
    case message_type::vote: return "vote";
    case message_type::vote_resp: return "vote_resp";
    case message_type::append: return "append";
    case message_type::append_resp: return "append_resp";
    case message_type::heartbeat: return "heartbeat";
    case message_type::heartbeat_resp: return "heartbeat_resp";
    case message_type::install_snapshot: return "install_snapshot";
    case message_type::snapshot_resp: return "snapshot_resp";
    case message_type::timeout_now: return "timeout_now";
    case message_type::read_index: return "read_index";
    case message_type::read_index_resp: return "read_index_resp";
  }
  return "?";
}

const char* to_string(errc e) {
  switch (e) {
    case errc::ok: return "ok";
    case errc::not_leader: return "not_leader";
    case errc::transfer_in_progress: return "transfer_in_progress";
    case errc::too_many_in_flight: return "too_many_in_flight";
    case errc::change_in_progress: return "change_in_progress";
    case errc::not_ready: return "not_ready";
    case errc::invalid_change: return "invalid_change";
    case errc::invalid_argument: return "invalid_argument";
  }
  return "?";
}

}  // namespace bento::cluster::consensus
