#pragma once
// A lone leader's writes, written in groups. A shard whose only voter is this node has no one to replicate to:
// an entity's batch goes straight to the shard's key range. Written on the entity's thread, every order paid a
// RocksDB write (WAL append, memtable inserts, the event encodings) on the one actor thread a busy restaurant
// runs on. Queued instead, the replica's driver writes whatever came in since its last round in one RocksDB
// write (one WAL record), and the answers that reflect a write wait for it as they wait for a replicated
// entry (reply_gate): the same rule in both cases, so the single-node path is no special case for entities.
//
// Every queued write is settled (written, or dropped when its write failed) before the write epoch ends, and
// none is queued for an epoch that ended: an activation in a later epoch never reads the store behind a write
// queued before it. A failed write drops everything queued with it and after it (later writes may depend on it)
// and ends the epoch, so the entities that made them are reloaded from what is stored.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "actors/store/shard_store.hpp"

namespace bento::cluster::shard {

class direct_writes {
public:
  /// `epoch`: the replica's write epoch, which this class ends (bumps) when a write fails.
  direct_writes(store::shard_store& shard, std::atomic<uint64_t>& epoch) : shard_(shard), epoch_(epoch) {}
  direct_writes(const direct_writes&) = delete;
  direct_writes& operator=(const direct_writes&) = delete;

  /// From now on queue() queues and calls `wake` (the driver's round); empty: writes are written by the caller.
  void set_wake(std::function<void()> wake);

  enum class queued { yes, not_deferred, epoch_ended };
  /// Queues the batch (its keys already in the shard's range) when a driver writes: refused if written in an
  /// epoch that has ended (`epoch`), nothing queued then.
  queued queue(store::write_batch& batch, std::optional<uint64_t> epoch);

  /// The newest queued write not yet settled, or index 0.
  store::write_mark pending() const;
  /// Whether the write of `m` is settled (written, or dropped).
  bool landed(const store::write_mark& m) const { return settled_.load(std::memory_order_acquire) >= m.index; }
  /// Whether the write of `m` is written (settled and not dropped).
  bool written(const store::write_mark& m) const;
  /// done(true) once the write of `m` is written, done(false) if it was dropped. Runs on the writer's thread.
  void when_written(const store::write_mark& m, std::function<void(bool)> done);

  /// Writes everything queued so far in one write (the driver's round).
  void write();
  /// Writes everything queued, then ends the epoch, with no write queued in between (the lead changes, the
  /// group gains or loses members).
  void write_and_end_epoch();

private:
  using answers = std::vector<std::pair<std::function<void(bool)>, bool>>;
  /// Settles the writes up to `upto` after their group was written (or not: then whatever is queued is dropped
  /// too, and the epoch ends). Caller holds mutex_; returns the answers due.
  answers settle_locked(bool written, uint64_t upto, bool end_epoch);
  /// Writes the batches taken from the queue (their keys in the shard's range already) in one write.
  bool write_group(std::vector<store::write_batch>& taken);
  bool dropped_locked(uint64_t index) const;

  store::shard_store& shard_;
  std::atomic<uint64_t>& epoch_;
  std::mutex write_mutex_;   // one writer at a time: groups are written in the order they were queued
  mutable std::mutex mutex_; // what follows
  std::function<void()> wake_;
  // Batches as queued, merged into one on the driver's thread: appending each to one batch here moved every
  // op (and grew the vector again each round) on the entity's thread, a busy restaurant's one thread.
  std::vector<store::write_batch> queue_;
  std::atomic<uint64_t> queued_{0};  // the last sequence number given (written under mutex_)
  std::atomic<uint64_t> settled_{0}; // every write up to it written or dropped (written under mutex_)
  std::multimap<uint64_t, std::function<void(bool)>> waiters_;
  std::vector<std::pair<uint64_t, uint64_t>> dropped_; // [from, to] ranges dropped, the latest few
  std::atomic<bool> any_dropped_{false}; // set before settled_ moves past a dropped range
};

} // namespace bento::cluster::shard
