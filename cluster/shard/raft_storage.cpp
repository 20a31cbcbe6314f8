#include "cluster/shard/raft_storage.hpp"

#include "cluster/consensus/membership_change.hpp"
#include "cluster/shard/entry_codec.hpp"

namespace bento::cluster::shard {

using namespace bento::cluster::consensus;
using store::column;

domain::outcome<std::unique_ptr<raft_storage>> raft_storage::open(store::entity_store& db, group_id group) {
  std::unique_ptr<raft_storage> s(new raft_storage(db, group));
  auto corrupt = [&](const char* what) {
    return domain::fail(domain::errc::storage_failure,
                        std::string("raft group ") + std::to_string(group) + ": unreadable " + what);
  };
  auto hs = db.get(column::raft, hard_state_key(group));
  if (!hs)
    return hs.error();
  if (*hs && !decode_hard_state(**hs, s->hard_state_))
    return corrupt("hard state");
  auto snap = db.get(column::raft, snapshot_key(group));
  if (!snap)
    return snap.error();
  if (*snap && !decode_snapshot_meta(**snap, s->snapshot_))
    return corrupt("snapshot meta");
  auto applied = db.get(column::raft, applied_key(group));
  if (!applied)
    return applied.error();
  if (*applied && !decode_index(**applied, s->applied_))
    return corrupt("applied index");
  // The log: consecutive entries after the snapshot.
  bool broken = false;
  auto expected = s->snapshot_.index + 1;
  auto scanned = db.scan(column::raft, group_prefix(group) + "e", {}, [&](std::string_view key, std::string_view value) {
    auto index = index_of_entry_key(std::string(key));
    entry e;
    if (index != expected || !decode_entry(value, index, e)) {
      broken = true;
      return false;
    }
    s->terms_.push_back(e.term);
    ++expected;
    return true;
  });
  if (!scanned)
    return scanned.error();
  if (broken)
    return corrupt("log (a gap or an undecodable entry)");
  return s;
}

std::optional<term_t> raft_storage::term(index_t i) const {
  if (i == snapshot_.index)
    return snapshot_.term;
  if (i < snapshot_.index || i > last_index())
    return std::nullopt;
  return terms_[i - snapshot_.index - 1];
}

std::vector<entry> raft_storage::entries(index_t lo, index_t hi, std::size_t max_bytes) const {
  std::vector<entry> out;
  if (lo < first_index() || hi > last_index() + 1 || lo >= hi)
    return out;
  std::size_t bytes = 0;
  if (!tail_.empty() && lo >= tail_.front().index) {
    for (auto i = lo - tail_.front().index; i < tail_.size() && tail_[i].index < hi; ++i) {
      bytes += tail_[i].data.size();
      if (!out.empty() && bytes > max_bytes)
        break;
      out.push_back(tail_[i]);
    }
    return out;
  }
  db_.scan(column::raft, group_prefix(group_) + "e", entry_key(group_, lo - 1),
           [&](std::string_view key, std::string_view value) {
             auto index = index_of_entry_key(std::string(key));
             if (index < lo)
               return true;
             if (index >= hi)
               return false;
             entry e;
             if (!decode_entry(value, index, e))
               return false;
             bytes += e.data.size();
             if (!out.empty() && bytes > max_bytes)
               return false;
             out.push_back(std::move(e));
             return true;
           });
  return out;
}

domain::outcome<domain::unit_t> raft_storage::bootstrap(const membership& founders) {
  if (!empty())
    return domain::unit;
  entry first{1, 1, entry_type::conf_change, encode_membership(founders)};
  hard_state hs{1, no_node, 1};
  store::write_batch batch;
  batch.put(column::raft, entry_key(group_, 1), encode_entry(first));
  batch.put(column::raft, hard_state_key(group_), encode_hard_state(hs));
  if (auto done = db_.commit(batch); !done)
    return done.error();
  hard_state_ = hs;
  terms_.push_back(1);
  tail_.push_back(first);
  tail_bytes_ += first.data.size();
  return domain::unit;
}

void raft_storage::stage(const ready& rd, store::write_batch& batch) const {
  if (rd.snapshot) {
    batch.erase_range(column::raft, group_prefix(group_) + "e", group_prefix(group_) + "f");
    batch.put(column::raft, snapshot_key(group_), encode_snapshot_meta(*rd.snapshot));
  }
  if (!rd.entries.empty()) {
    auto from = rd.entries.front().index;
    auto last = rd.snapshot ? rd.snapshot->index : last_index();
    if (from <= last)
      batch.erase_range(column::raft, entry_key(group_, from), entry_key(group_, last + 1));
    for (auto& e : rd.entries)
      batch.put(column::raft, entry_key(group_, e.index), encode_entry(e));
  }
  if (rd.hard_state)
    batch.put(column::raft, hard_state_key(group_), encode_hard_state(*rd.hard_state));
}

void raft_storage::written(const ready& rd) {
  if (rd.snapshot) {
    snapshot_ = *rd.snapshot;
    terms_.clear();
    tail_.clear();
    tail_bytes_ = 0;
  }
  if (!rd.entries.empty()) {
    auto from = rd.entries.front().index;
    while (!terms_.empty() && last_index() >= from)
      terms_.pop_back();
    while (!tail_.empty() && tail_.back().index >= from) {
      tail_bytes_ -= tail_.back().data.size();
      tail_.pop_back();
    }
    // The tail stays contiguous up to the last index: after a gap (entries replaced below what it holds) it
    // starts again from these.
    if (!tail_.empty() && tail_.back().index + 1 != from) {
      tail_.clear();
      tail_bytes_ = 0;
    }
    for (auto& e : rd.entries) {
      terms_.push_back(e.term);
      tail_.push_back(e);
      tail_bytes_ += e.data.size();
    }
    trim_tail();
  }
  if (rd.hard_state)
    hard_state_ = *rd.hard_state;
}

void raft_storage::trim_tail() {
  auto keep_from = applied_ > tail_applied_kept ? applied_ - tail_applied_kept + 1 : 0;
  while (!tail_.empty() &&
         (tail_.front().index < keep_from || tail_.front().index <= snapshot_.index ||
          (tail_bytes_ > tail_bytes_kept && tail_.size() > 1))) {
    tail_bytes_ -= tail_.front().data.size();
    tail_.pop_front();
  }
}

void raft_storage::stage_applied(index_t index, store::write_batch& batch) const {
  batch.put(column::raft, applied_key(group_), encode_index(index));
}

void raft_storage::stage_compaction(const snapshot_meta& meta, store::write_batch& batch) const {
  batch.erase_range(column::raft, entry_key(group_, 0), entry_key(group_, meta.index + 1));
  batch.put(column::raft, snapshot_key(group_), encode_snapshot_meta(meta));
}

void raft_storage::compaction_written(const snapshot_meta& meta) {
  while (!terms_.empty() && snapshot_.index < meta.index) {
    terms_.pop_front();
    ++snapshot_.index;
  }
  snapshot_ = meta;
  trim_tail();
}

} // namespace bento::cluster::shard
