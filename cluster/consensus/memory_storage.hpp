#pragma once
// In-memory log_storage for tests and the simulation. Its mutators are what a real storage does with ready():
// append (truncating a conflicting suffix), set the hard state, install or create a snapshot, compact.
#include "cluster/consensus/log_storage.hpp"

#include <string>

namespace bento::cluster::consensus {

class memory_storage final : public log_storage {
public:
  memory_storage() = default;
  // A founding member of a new group (see bootstrap_entry in log_storage.hpp).
  explicit memory_storage(const membership& bootstrap);

  hard_state initial_hard_state() const override { return hard_state_; }
  snapshot_meta snapshot() const override { return snapshot_; }
  index_t first_index() const override { return snapshot_.index + 1; }
  index_t last_index() const override { return snapshot_.index + entries_.size(); }
  std::optional<term_t> term(index_t i) const override;
  std::vector<entry> entries(index_t lo, index_t hi, std::size_t max_bytes) const override;

  void set_hard_state(const hard_state& hs) { hard_state_ = hs; }
  // Entries must be contiguous; everything from entries.front().index on is replaced.
  void append(const std::vector<entry>& entries);
  // Replaces the whole log with a snapshot received from the leader.
  void install_snapshot(const snapshot_meta& meta, std::string data);
  // Records a snapshot of the local state machine at meta.index and drops the entries up to it.
  void compact(const snapshot_meta& meta, std::string data);
  const std::string& snapshot_data() const { return snapshot_data_; }

private:
  hard_state hard_state_;
  snapshot_meta snapshot_;
  std::string snapshot_data_;
  std::vector<entry> entries_;  // entries_[k].index == snapshot_.index + 1 + k
};

}  // namespace bento::cluster::consensus
