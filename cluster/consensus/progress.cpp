#include "cluster/consensus/progress.hpp"

#include <algorithm>

namespace bento::cluster::consensus {

void progress::become_probe() {
  // Coming back from a snapshot, the follower has at least the snapshot: probe after it.
  if (state == progress_state::snapshot) {
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = progress_state::probe;
  pending_snapshot = 0;
  probe_sent = false;
  in_flight.reset();
}

void progress::become_replicate() {
  state = progress_state::replicate;
  next = match + 1;
  pending_snapshot = 0;
  probe_sent = false;
  in_flight.reset();
}

void progress::become_snapshot(index_t snapshot_index) {
  state = progress_state::snapshot;
  pending_snapshot = snapshot_index;
  probe_sent = false;
  in_flight.reset();
}

bool progress::maybe_update(index_t n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool progress::maybe_decrease_to(index_t rejected, index_t match_hint) {
  if (state == progress_state::replicate) {
    if (rejected <= match) return false;  // stale: that index is already acknowledged
    next = match + 1;
    return true;
  }
  // Probe (and snapshot): only the answer to the append we sent at next - 1 counts.
  if (next == 0 || next - 1 != rejected) return false;
  // A rejection of `match` itself (the peer no longer holds what it acknowledged: never from a correct peer) leaves
  // next where it is: sending the same append again at once would only be refused again, without end.
  if (rejected <= match) return false;
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  probe_sent = false;
  return true;
}

bool progress::is_paused() const {
  switch (state) {
    case progress_state::probe: return probe_sent;
    case progress_state::replicate: return in_flight.full();
    case progress_state::snapshot: return true;
  }
  return true;
}

}  // namespace bento::cluster::consensus
