#include "cluster/consensus/raft_log.hpp"

#include "cluster/consensus/invariant.hpp"

#include <algorithm>
#include <utility>

namespace bento::cluster::consensus {

raft_log::raft_log(const log_storage& storage) : storage_(storage) {
  offset_ = storage_.last_index() + 1;
  const auto snap = storage_.snapshot();
  committed_ = std::max(storage_.initial_hard_state().commit, snap.index);
  BENTO_RAFT_INVARIANT(committed_ <= storage_.last_index(), "durable commit beyond the durable log");
  applied_ = snap.index;
}

index_t raft_log::first_index() const {
  if (unstable_snapshot_) return unstable_snapshot_->index + 1;
  return storage_.first_index();
}

index_t raft_log::last_index() const {
  if (!unstable_.empty()) return offset_ + unstable_.size() - 1;
  if (unstable_snapshot_) return unstable_snapshot_->index;
  return storage_.last_index();
}

term_t raft_log::last_term() const {
  auto t = term(last_index());
  BENTO_RAFT_INVARIANT(t.has_value(), "no term for the last index");
  return *t;
}

std::optional<term_t> raft_log::term(index_t i) const {
  const index_t dummy = first_index() - 1;
  if (i < dummy || i > last_index()) return std::nullopt;
  if (!unstable_.empty() && i >= offset_) return unstable_[i - offset_].term;
  if (unstable_snapshot_) {
    // Everything the storage holds is superseded by the unstable snapshot.
    if (i == unstable_snapshot_->index) return unstable_snapshot_->term;
    return std::nullopt;
  }
  return storage_.term(i);
}

bool raft_log::match_term(index_t i, term_t t) const {
  auto mine = term(i);
  return mine && *mine == t;
}

bool raft_log::is_up_to_date(index_t last_idx, term_t last_trm) const {
  const term_t mine = last_term();
  return last_trm > mine || (last_trm == mine && last_idx >= last_index());
}

index_t raft_log::find_conflict(const std::vector<entry>& ents) const {
  for (const entry& e : ents) {
    if (!match_term(e.index, e.term)) return e.index;
  }
  return 0;
}

raft_log::append_result raft_log::maybe_append(index_t prev, term_t prev_term, index_t leader_commit,
                                               const std::vector<entry>& ents) {
  append_result r;
  if (!match_term(prev, prev_term)) return r;
  r.matched = true;
  r.last_new = prev + ents.size();
  const index_t conflict = find_conflict(ents);
  if (conflict != 0) {
    if (conflict <= committed_) {
      // A correct leader never rewrites a committed entry: this message is corrupt or from a broken peer.
      r.matched = false;
      r.conflicts_committed = true;
      return r;
    }
    truncate_and_append(std::vector<entry>(ents.begin() + static_cast<std::ptrdiff_t>(conflict - prev - 1),
                                           ents.end()));
    r.truncated_from = conflict;
  }
  commit_to(std::min(leader_commit, r.last_new));
  return r;
}

void raft_log::append(std::vector<entry> ents) {
  if (ents.empty()) return;
  BENTO_RAFT_INVARIANT(ents.front().index == last_index() + 1, "leader append leaves a hole");
  truncate_and_append(std::move(ents));
}

void raft_log::truncate_and_append(std::vector<entry> ents) {
  const index_t after = ents.front().index;
  BENTO_RAFT_INVARIANT(after > committed_, "truncating committed entries");
  BENTO_RAFT_INVARIANT(after <= last_index() + 1, "append leaves a hole");
  if (after == offset_ + unstable_.size()) {
    for (auto& e : ents) unstable_.push_back(std::move(e));
  } else if (after <= offset_) {
    // Replaces durable entries too: ready() hands out entries starting at `after`, and the storage drops its
    // suffix from there when it persists them.
    offset_ = after;
    unstable_ = std::move(ents);
  } else {
    unstable_.resize(after - offset_);
    for (auto& e : ents) unstable_.push_back(std::move(e));
  }
}

index_t raft_log::find_conflict_by_term(index_t i, term_t t) const {
  i = std::min(i, last_index());
  const index_t floor = first_index() - 1;
  while (i > floor) {
    auto ti = term(i);
    if (!ti || *ti <= t) break;
    --i;
  }
  return std::max(i, floor);
}

void raft_log::commit_to(index_t i) {
  if (i <= committed_) return;
  BENTO_RAFT_INVARIANT(i <= last_index(), "commit beyond the log");
  committed_ = i;
}

void raft_log::applied_to(index_t i) {
  if (i <= applied_) return;
  BENTO_RAFT_INVARIANT(i <= committed_, "applied beyond commit");
  applied_ = i;
}

void raft_log::restore(const snapshot_meta& meta) {
  BENTO_RAFT_INVARIANT(meta.index > committed_, "restoring a snapshot we already committed past");
  unstable_snapshot_ = meta;
  unstable_.clear();
  offset_ = meta.index + 1;
  committed_ = meta.index;
}

std::vector<entry> raft_log::slice(index_t lo, index_t hi, std::size_t max_bytes) const {
  std::vector<entry> out;
  if (lo >= hi) return out;
  BENTO_RAFT_INVARIANT(lo >= first_index() && hi <= last_index() + 1, "slice out of bounds");
  std::size_t bytes = 0;
  if (lo < offset_ && !unstable_snapshot_) {
    out = storage_.entries(lo, std::min(hi, offset_), max_bytes);
    for (const auto& e : out) bytes += e.data.size();
    if (out.size() < std::min(hi, offset_) - lo) return out;  // byte limit reached in the durable part
  }
  for (index_t i = std::max(lo, offset_); i < hi; ++i) {
    const entry& e = unstable_[i - offset_];
    if (!out.empty() && bytes + e.data.size() > max_bytes) break;
    bytes += e.data.size();
    out.push_back(e);
  }
  return out;
}

bool raft_log::has_next_committed() const {
  if (unstable_snapshot_) return false;  // the snapshot must be installed before anything after it is applied
  return committed_ > std::max(applied_, first_index() - 1);
}

std::vector<entry> raft_log::next_committed(std::size_t max_bytes) const {
  if (!has_next_committed()) return {};
  const index_t lo = std::max(applied_ + 1, first_index());
  return slice(lo, committed_ + 1, max_bytes);
}

void raft_log::stable_to(index_t i, term_t t) {
  if (i < offset_ || i >= offset_ + unstable_.size()) return;
  if (unstable_[i - offset_].term != t) return;  // replaced since it was handed out: it will be handed out again
  unstable_.erase(unstable_.begin(), unstable_.begin() + static_cast<std::ptrdiff_t>(i - offset_ + 1));
  offset_ = i + 1;
}

void raft_log::stable_snapshot_to(index_t i) {
  if (unstable_snapshot_ && unstable_snapshot_->index == i) unstable_snapshot_.reset();
}

}  // namespace bento::cluster::consensus
