#include "actors/store/wal_syncer.hpp"

namespace bento::store {

wal_syncer::wal_syncer(std::function<bool()> sync) : sync_(std::move(sync)) {
  thread_ = std::thread([this] { run(); });
}

wal_syncer::~wal_syncer() {
  stop();
}

void wal_syncer::after_durable(std::function<void(bool)> done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      waiting_.push_back(std::move(done));
      wake_.notify_one();
      return;
    }
  }
  bool ok = sync_();
  ++syncs_;
  done(ok);
}

void wal_syncer::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_)
      return;
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable())
    thread_.join();
}

void wal_syncer::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
    if (waiting_.empty())
      return; // stopping, nobody waits
    // Everyone waiting now committed before this fsync starts, so it covers them all.
    auto batch = std::move(waiting_);
    waiting_.clear();
    lock.unlock();
    bool ok = sync_();
    ++syncs_;
    for (auto& done : batch)
      done(ok);
    lock.lock();
  }
}

} // namespace bento::store
