// Membership (thesis §4.1): single-server changes, in force as soon as they are in the log (committed or not),
// undone when a conflicting leader truncates them.
#include "cluster/consensus/node.hpp"

#include "cluster/consensus/invariant.hpp"

#include <limits>

namespace bento::cluster::consensus {

void node::load_configs(const log_storage& storage) {
  const snapshot_meta snap = storage.snapshot();
  configs_.clear();
  configs_.emplace_back(snap.index, snap.members);
  // The log after the snapshot is bounded by compaction; scan it for changes in force.
  index_t lo = storage.first_index();
  const index_t hi = storage.last_index() + 1;
  while (lo < hi) {
    const auto batch = storage.entries(lo, hi, 1 << 20);
    BENTO_RAFT_INVARIANT(!batch.empty(), "storage returned no entries");
    for (const auto& e : batch) {
      if (e.type != entry_type::conf_change) continue;
      if (auto m = decode_membership(e.data)) configs_.emplace_back(e.index, std::move(*m));
    }
    lo = batch.back().index + 1;
  }
}

void node::note_log_change(index_t from, const std::vector<entry>& appended) {
  if (from == 0) return;
  bool changed = false;
  while (configs_.size() > 1 && configs_.back().first >= from) {
    configs_.pop_back();
    changed = true;
  }
  for (const auto& e : appended) {
    if (e.index < from || e.type != entry_type::conf_change) continue;
    if (auto m = decode_membership(e.data)) {
      configs_.emplace_back(e.index, std::move(*m));
      changed = true;
    } else {
      ++drops_.invalid;  // replicated as is, but changes no membership anywhere (every node decodes alike)
    }
  }
  if (changed) on_membership_changed();
}

void node::reset_configs(index_t index, const consensus::membership& m) {
  configs_.clear();
  configs_.emplace_back(index, m);
  on_membership_changed();
}

const consensus::membership& node::membership_at(index_t index) const {
  for (auto it = configs_.rbegin(); it != configs_.rend(); ++it) {
    if (it->first <= index) return it->second;
  }
  return configs_.front().second;
}

void node::on_membership_changed() {
  if (role_ != role::leader) return;
  const auto& m = membership();
  for (auto it = progress_.begin(); it != progress_.end();) {
    it = m.contains(it->first) ? std::next(it) : progress_.erase(it);
  }
  const index_t last = log_.last_index();
  auto add = [&](node_id id) {
    if (id == id_ || progress_.count(id)) return;
    progress_.emplace(id, progress(cfg_.max_inflight_appends)).first->second.next = last + 1;
  };
  for (auto id : m.voters) add(id);
  for (auto id : m.learners) add(id);
  if (transferee_ != no_node && !m.is_voter(transferee_)) abort_transfer();
}

propose_result node::propose_membership_change(const membership_change& change) {
  propose_result r;
  if (refuse_proposal(r)) return r;
  // A new leader must commit an entry of its term before changing membership: otherwise a change from an
  // earlier term that it never saw can combine with its own into two disjoint majorities (Ongaro, raft-dev 2015).
  if (!committed_in_term()) {
    r.error = errc::not_ready;
    return r;
  }
  if (configs_.back().first > log_.committed()) {
    r.error = errc::change_in_progress;
    return r;
  }
  auto next = apply_change(membership(), change);
  if (!next) {
    r.error = errc::invalid_change;
    return r;
  }
  r.index = log_.last_index() + 1;
  r.term = term_;
  append_entries({entry{term_, r.index, entry_type::conf_change, encode_membership(*next)}});
  broadcast_append();
  if (maybe_commit()) commit_advanced();
  return r;
}

}  // namespace bento::cluster::consensus
