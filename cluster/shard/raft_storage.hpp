#pragma once
// A replication group's durable log in the node's RocksDB (column `raft`, behind the group's id): what the
// consensus core reads (consensus::log_storage) and how a driver stages what a ready() asks to persist into the
// same write batch as the entries it applies, so log, hard state, applied index and state change in one atomic
// write. Terms of the live log are mirrored in memory (8 bytes an entry; compaction keeps the log short); so are
// the newest entries themselves, up to a small bound, because every entry is read back right after it is written
// (to apply it once committed, to send it to a follower): through RocksDB that was an iterator, a seek and a
// decode per entry, a fifth of a replica's CPU. Older entries are read from RocksDB.
#include <deque>
#include <memory>

#include "actors/store/entity_store.hpp"
#include "cluster/consensus/log_storage.hpp"
#include "cluster/consensus/ready.hpp"
#include "cluster/shard/log_keys.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::cluster::shard {

class raft_storage final : public consensus::log_storage {
public:
  /// Loads a group's durable state (empty if it was never written).
  static domain::outcome<std::unique_ptr<raft_storage>> open(store::entity_store& db, group_id group);

  consensus::hard_state initial_hard_state() const override { return hard_state_; }
  consensus::snapshot_meta snapshot() const override { return snapshot_; }
  consensus::index_t first_index() const override { return snapshot_.index + 1; }
  consensus::index_t last_index() const override { return snapshot_.index + terms_.size(); }
  std::optional<consensus::term_t> term(consensus::index_t i) const override;
  std::vector<consensus::entry> entries(consensus::index_t lo, consensus::index_t hi,
                                        std::size_t max_bytes) const override;

  bool empty() const noexcept { return hard_state_.term == 0 && snapshot_.index == 0 && terms_.empty(); }
  /// How far the state machine has applied (stored with each applied batch).
  consensus::index_t applied() const noexcept { return applied_; }

  /// Writes, on a founding member, the group's first entry (its membership) and hard state {1, none, 1}.
  domain::outcome<domain::unit_t> bootstrap(const consensus::membership& founders);

  /// Adds what `rd` asks to persist to `batch`: the snapshot meta (dropping the whole log), the log from
  /// rd.entries' first index truncated and the entries appended, the hard state.
  void stage(const consensus::ready& rd, store::write_batch& batch) const;
  /// The in-memory mirror follows once the batch with stage(rd) is written.
  void written(const consensus::ready& rd);

  void stage_applied(consensus::index_t index, store::write_batch& batch) const;
  void applied_written(consensus::index_t index) {
    applied_ = index;
    trim_tail();
  }

  /// Drops the log up to meta.index (the state machine holds it) and records meta as the snapshot.
  void stage_compaction(const consensus::snapshot_meta& meta, store::write_batch& batch) const;
  void compaction_written(const consensus::snapshot_meta& meta);

private:
  raft_storage(store::entity_store& db, group_id group) : db_(db), group_(group) {}

  store::entity_store& db_;
  group_id group_;
  consensus::hard_state hard_state_;
  consensus::snapshot_meta snapshot_;
  std::deque<consensus::term_t> terms_; // terms of entries snapshot_.index + 1 .. last_index()
  consensus::index_t applied_ = 0;

  // The newest entries kept in memory: at most this many applied ones stay, and at most this many data bytes
  // in all (whichever bound is hit first).
  static constexpr std::size_t tail_applied_kept = 32;
  static constexpr std::size_t tail_bytes_kept = 1u << 20;
  // Entries tail_.front().index .. last_index(), contiguous (empty: none in memory).
  std::deque<consensus::entry> tail_;
  std::size_t tail_bytes_ = 0;
  void trim_tail();
};

} // namespace bento::cluster::shard
