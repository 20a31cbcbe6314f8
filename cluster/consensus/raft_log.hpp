#pragma once
// The node's view of its log: durable entries read through log_storage, plus the unstable tail (entries and
// possibly a snapshot that ready() has handed out or will hand out, not yet reported durable by advance()).
#include "cluster/consensus/log_storage.hpp"

#include <optional>
#include <vector>

namespace bento::cluster::consensus {

class raft_log {
public:
  explicit raft_log(const log_storage& storage);

  index_t first_index() const;
  index_t last_index() const;
  term_t last_term() const;
  // nullopt for indexes compacted away or beyond the end.
  std::optional<term_t> term(index_t i) const;
  bool match_term(index_t i, term_t t) const;
  // Raft §5.4.1: is a log ending at (last_idx, last_trm) at least as up to date as ours?
  bool is_up_to_date(index_t last_idx, term_t last_trm) const;

  index_t committed() const { return committed_; }
  index_t applied() const { return applied_; }

  struct append_result {
    bool matched = false;           // the entry at prev has prev_term
    bool conflicts_committed = false;  // the leader asked to rewrite a committed entry: dropped
    index_t last_new = 0;           // prev + entries.size() when matched
    index_t truncated_from = 0;     // first index replaced or appended, 0 when nothing changed
  };
  // Follower side of append: keeps what agrees, replaces from the first conflict, advances commit to
  // min(leader_commit, last_new). Entries must be contiguous after prev (validated by the caller).
  append_result maybe_append(index_t prev, term_t prev_term, index_t leader_commit, const std::vector<entry>& ents);
  // Leader side: entries continue the log.
  void append(std::vector<entry> ents);

  // Largest j <= i with term(j) <= t (first_index() - 1 at the least): where a rejected follower and we may agree.
  index_t find_conflict_by_term(index_t i, term_t t) const;

  void commit_to(index_t i);
  void applied_to(index_t i);
  // Replaces the log with a snapshot; it stays unstable until advance() reports it installed.
  void restore(const snapshot_meta& meta);

  // Entries [lo, hi), bounded by max_bytes (at least one entry when lo < hi).
  std::vector<entry> slice(index_t lo, index_t hi, std::size_t max_bytes) const;
  // Committed entries not yet handed out to apply.
  std::vector<entry> next_committed(std::size_t max_bytes) const;
  bool has_next_committed() const;

  const std::vector<entry>& unstable_entries() const { return unstable_; }
  const std::optional<snapshot_meta>& unstable_snapshot() const { return unstable_snapshot_; }
  // The snapshot a lagging follower should get: the durable one (an unstable one has no data to send yet).
  snapshot_meta durable_snapshot() const { return storage_.snapshot(); }
  void stable_to(index_t i, term_t t);
  void stable_snapshot_to(index_t i);

private:
  void truncate_and_append(std::vector<entry> ents);
  index_t find_conflict(const std::vector<entry>& ents) const;

  const log_storage& storage_;
  std::optional<snapshot_meta> unstable_snapshot_;
  index_t offset_ = 1;          // index of unstable_.front() (or where it would be)
  std::vector<entry> unstable_;
  index_t committed_ = 0;
  index_t applied_ = 0;
};

}  // namespace bento::cluster::consensus
