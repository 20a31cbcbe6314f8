#pragma once
// Single-server membership changes (Raft thesis §4.1) and their encoding in conf_change entries. The entry holds
// the whole resulting membership, so applying it never depends on the membership before it.
#include "cluster/consensus/types.hpp"

#include <optional>
#include <string>

namespace bento::cluster::consensus {

// demote_voter turns a voter into a learner (it keeps receiving the log): how a shard's seat moves off a node
// that keeps a copy of the data.
enum class change_kind : std::uint8_t { add_voter, add_learner, promote_learner, remove, demote_voter };

struct membership_change {
  change_kind kind = change_kind::add_learner;
  node_id node = no_node;
};

// The membership after `change`, or nullopt when the change does not apply to `current` (adding a member twice,
// promoting a non-learner, removing a non-member, removing or demoting the last voter, demoting a non-voter).
std::optional<membership> apply_change(const membership& current, const membership_change& change);

std::string encode_membership(const membership& m);
// nullopt on anything malformed (the entry came from a peer).
std::optional<membership> decode_membership(const std::string& data);

}  // namespace bento::cluster::consensus
