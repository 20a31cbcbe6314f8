#include "cluster/shard/direct_writes.hpp"

#include <spdlog/spdlog.h>

namespace bento::cluster::shard {

void direct_writes::set_wake(std::function<void()> wake) {
  std::lock_guard lock(mutex_);
  wake_ = std::move(wake);
}

direct_writes::queued direct_writes::queue(store::write_batch& batch, std::optional<uint64_t> epoch) {
  std::function<void()> wake;
  {
    std::lock_guard lock(mutex_);
    if (!wake_)
      return queued::not_deferred;
    // Under the lock that ending an epoch takes: nothing is queued for an epoch once it has ended.
    if (epoch && *epoch != epoch_.load(std::memory_order_acquire))
      return queued::epoch_ended;
    queue_.push_back(std::move(batch));
    queued_.store(queued_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    wake = wake_;
  }
  wake();
  return queued::yes;
}

store::write_mark direct_writes::pending() const {
  auto last = queued_.load(std::memory_order_acquire);
  if (last <= settled_.load(std::memory_order_acquire))
    return {};
  return store::write_mark{epoch_.load(std::memory_order_acquire), last, true};
}

bool direct_writes::dropped_locked(uint64_t index) const {
  for (auto& [from, to] : dropped_)
    if (index >= from && index <= to)
      return true;
  return false;
}

bool direct_writes::written(const store::write_mark& m) const {
  if (settled_.load(std::memory_order_acquire) < m.index)
    return false;
  // Asked for every answer an entity holds: no lock while no group was ever dropped (the usual life).
  if (!any_dropped_.load(std::memory_order_acquire))
    return true;
  std::lock_guard lock(mutex_);
  return !dropped_locked(m.index);
}

void direct_writes::when_written(const store::write_mark& m, std::function<void(bool)> done) {
  bool ok;
  {
    std::lock_guard lock(mutex_);
    if (settled_.load(std::memory_order_relaxed) < m.index) {
      waiters_.emplace(m.index, std::move(done));
      return;
    }
    ok = !dropped_locked(m.index);
  }
  done(ok);
}

bool direct_writes::write_group(std::vector<store::write_batch>& taken) {
  if (taken.empty())
    return true;
  auto group = std::move(taken.front());
  for (size_t i = 1; i < taken.size(); ++i)
    group.append(std::move(taken[i]));
  taken.clear();
  if (group.empty())
    return true;
  group.set_shard(shard_.shard());
  auto done = shard_.db().commit(group);
  if (!done)
    spdlog::error("shard.direct_write_failed shard={} error={}", shard_.shard(), done.error().message);
  return bool(done);
}

direct_writes::answers direct_writes::settle_locked(bool written, uint64_t upto, bool end_epoch) {
  if (!written) {
    // What was queued after the failed group may build on it (an order's confirmation on its placement):
    // dropped as well, and the epoch ends, so that no entity holding any of it in memory writes again.
    queue_.clear();
    auto from = settled_.load(std::memory_order_relaxed) + 1;
    upto = queued_.load(std::memory_order_relaxed);
    if (dropped_.size() == 16)
      dropped_.erase(dropped_.begin());
    dropped_.emplace_back(from, upto);
    any_dropped_.store(true, std::memory_order_release);
    end_epoch = true;
  }
  // The epoch ends before the writes count as settled: whoever sees them settled sees the epoch ended too.
  if (end_epoch)
    epoch_.fetch_add(1, std::memory_order_acq_rel);
  settled_.store(upto, std::memory_order_release);
  answers due;
  for (auto it = waiters_.begin(); it != waiters_.end() && it->first <= upto;) {
    due.emplace_back(std::move(it->second), !dropped_locked(it->first));
    it = waiters_.erase(it);
  }
  return due;
}

void direct_writes::write() {
  std::lock_guard writing(write_mutex_);
  std::vector<store::write_batch> group;
  uint64_t upto;
  {
    std::lock_guard lock(mutex_);
    upto = queued_.load(std::memory_order_relaxed);
    if (upto == settled_.load(std::memory_order_relaxed))
      return;
    group.swap(queue_);
    queue_.reserve(group.size()); // about as many next round: no regrowth while entities queue
  }
  // Entities go on queueing while the group is written.
  bool written = write_group(group);
  answers due;
  {
    std::lock_guard lock(mutex_);
    due = settle_locked(written, upto, false);
  }
  for (auto& [done, ok] : due)
    done(ok);
}

void direct_writes::write_and_end_epoch() {
  std::lock_guard writing(write_mutex_);
  answers due;
  {
    std::lock_guard lock(mutex_);
    std::vector<store::write_batch> group;
    group.swap(queue_);
    bool written = write_group(group);
    due = settle_locked(written, queued_.load(std::memory_order_relaxed), true);
  }
  for (auto& [done, ok] : due)
    done(ok);
}

} // namespace bento::cluster::shard
