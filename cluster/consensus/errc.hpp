#pragma once
// Errors a caller of the consensus core can act on. Peer input never produces an errc: it is dropped and counted.
#include <cstdint>

namespace bento::cluster::consensus {

enum class errc : std::uint8_t {
  ok = 0,
  not_leader,             // retry at the leader hint (may be no_node while an election runs)
  transfer_in_progress,   // a leadership transfer is pending: retry shortly, probably at another node
  too_many_in_flight,     // too many uncommitted entries: back off
  change_in_progress,     // a membership change is still uncommitted
  not_ready,              // a new leader has not committed an entry of its term yet
  invalid_change,         // the membership change makes no sense for the current membership
  invalid_argument,       // e.g. compact beyond what was applied, transfer to a non-voter
};

const char* to_string(errc e);

}  // namespace bento::cluster::consensus
