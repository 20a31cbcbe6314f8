#include "cluster/consensus/memory_storage.hpp"

#include "cluster/consensus/invariant.hpp"
#include "cluster/consensus/membership_change.hpp"

#include <utility>

namespace bento::cluster::consensus {

memory_storage::memory_storage(const membership& bootstrap) {
  // The bootstrap membership is a committed log entry, identical on every founding node, so that a node added
  // later learns it by replication like any other change (a snapshot at index 0 could not be sent to it).
  entries_.push_back(entry{1, 1, entry_type::conf_change, encode_membership(bootstrap)});
  hard_state_ = {1, no_node, 1};
}

std::optional<term_t> memory_storage::term(index_t i) const {
  if (i == snapshot_.index) return snapshot_.term;
  if (i < snapshot_.index || i > last_index()) return std::nullopt;
  return entries_[i - snapshot_.index - 1].term;
}

std::vector<entry> memory_storage::entries(index_t lo, index_t hi, std::size_t max_bytes) const {
  BENTO_RAFT_INVARIANT(lo >= first_index() && lo <= hi && hi <= last_index() + 1, "storage range out of bounds");
  std::vector<entry> out;
  std::size_t bytes = 0;
  for (index_t i = lo; i < hi; ++i) {
    const entry& e = entries_[i - snapshot_.index - 1];
    bytes += e.data.size();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

void memory_storage::append(const std::vector<entry>& entries) {
  if (entries.empty()) return;
  const index_t first = entries.front().index;
  // The core never asks to overwrite what a snapshot covers, nor to leave a hole.
  BENTO_RAFT_INVARIANT(first > snapshot_.index && first <= last_index() + 1, "append leaves a hole");
  entries_.resize(first - snapshot_.index - 1);
  for (const entry& e : entries) {
    BENTO_RAFT_INVARIANT(e.index == snapshot_.index + entries_.size() + 1, "entries not contiguous");
    entries_.push_back(e);
  }
}

void memory_storage::install_snapshot(const snapshot_meta& meta, std::string data) {
  // Keep the suffix when it agrees with the snapshot (the core only installs a snapshot beyond its log, but a
  // storage that also serves compaction must handle both).
  std::vector<entry> keep;
  if (auto t = term(meta.index); t && *t == meta.term && meta.index <= last_index()) {
    keep.assign(entries_.begin() + static_cast<std::ptrdiff_t>(meta.index - snapshot_.index), entries_.end());
  }
  snapshot_ = meta;
  snapshot_data_ = std::move(data);
  entries_ = std::move(keep);
}

void memory_storage::compact(const snapshot_meta& meta, std::string data) {
  BENTO_RAFT_INVARIANT(meta.index >= snapshot_.index && meta.index <= last_index(), "compact out of range");
  BENTO_RAFT_INVARIANT(term(meta.index) == meta.term, "compact with a wrong term");
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(meta.index - snapshot_.index));
  snapshot_ = meta;
  snapshot_data_ = std::move(data);
}

}  // namespace bento::cluster::consensus
