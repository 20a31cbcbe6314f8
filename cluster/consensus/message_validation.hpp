#pragma once
// Peer input is untrusted: the transport checked the bytes, this checks the meaning. A message that fails is
// dropped and counted; nothing a peer sends may trip an invariant.
#include "cluster/consensus/message.hpp"

namespace bento::cluster::consensus {

// Terms and indexes beyond this are absurd (2^62: centuries at a billion entries a second) and refused, so that
// term + 1 and index + n never overflow.
inline constexpr std::uint64_t max_sane_value = std::uint64_t{1} << 62;
inline constexpr std::size_t max_entries_per_message = 1 << 16;

// Shape checks that need no node state: addressed to `self`, from someone else, fields within bounds, append
// entries contiguous after `index` with terms non-decreasing and not beyond the message term, a sane snapshot.
bool well_formed(const message& m, node_id self);

}  // namespace bento::cluster::consensus
