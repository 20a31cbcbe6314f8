#pragma once
// What a leader knows about one follower's log (etcd's progress): the replication state decides how much the
// leader may send before it hears back.
#include "cluster/consensus/types.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>

namespace bento::cluster::consensus {

// Last indexes of appends sent but not acknowledged, oldest first; bounds what is in flight to one follower.
class inflights {
public:
  explicit inflights(std::size_t capacity = 16) : capacity_(capacity) {}
  void add(index_t last) { sent_.push_back(last); }
  void free_up_to(index_t i) {
    while (!sent_.empty() && sent_.front() <= i) sent_.pop_front();
  }
  void free_first() {
    if (!sent_.empty()) sent_.pop_front();
  }
  bool full() const { return sent_.size() >= capacity_; }
  std::size_t size() const { return sent_.size(); }
  void reset() { sent_.clear(); }

private:
  std::size_t capacity_;
  std::deque<index_t> sent_;
};

enum class progress_state : std::uint8_t {
  probe,      // one append at a time until the follower's log is found
  replicate,  // streaming optimistically within the in-flight window
  snapshot,   // waiting for a snapshot to be installed
};

struct progress {
  explicit progress(std::size_t max_inflight) : in_flight(max_inflight) {}

  index_t match = 0;  // highest index known to be durable on the follower
  index_t next = 1;   // next index to send; always > match
  progress_state state = progress_state::probe;
  bool probe_sent = false;      // probe: an append is out, wait for an answer or a heartbeat response
  index_t pending_snapshot = 0; // snapshot: the index of the snapshot sent
  bool recent_active = false;   // heard from within the current check-quorum window
  std::uint64_t acked_round = 0;      // highest heartbeat round the follower answered (lease, read index)
  std::uint64_t last_append_round = 0; // round in which the last append with entries was sent
  inflights in_flight;

  void become_probe();
  void become_replicate();
  void become_snapshot(index_t snapshot_index);
  // An acknowledgement of `n`: false when stale.
  bool maybe_update(index_t n);
  // A rejection of the append after `rejected`; match_hint is where the leader thinks the logs may agree.
  // False when the rejection is stale or moves nothing (a rejection of `match`).
  bool maybe_decrease_to(index_t rejected, index_t match_hint);
  bool is_paused() const;
};

}  // namespace bento::cluster::consensus
