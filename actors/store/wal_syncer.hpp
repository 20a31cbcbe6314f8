#pragma once
// Group commit for BENTO_SYNC_WRITES=1. Commits write the WAL without fsync (enough for kill -9); a caller that
// must not answer before its write is on disk asks for a callback instead. One thread runs the fsyncs: every
// caller that asked while one fsync ran shares the next one, and no actor or I/O thread ever waits on the disk.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bento::store {

class wal_syncer {
public:
  /// `sync` makes everything written so far durable; false when it failed.
  explicit wal_syncer(std::function<bool()> sync);
  ~wal_syncer();
  wal_syncer(const wal_syncer&) = delete;
  wal_syncer& operator=(const wal_syncer&) = delete;

  /// Calls done(true) after an fsync that began after this call, so everything the caller committed before
  /// is on disk; done(false) when that fsync failed. Runs on the syncer thread: keep it short.
  void after_durable(std::function<void(bool)> done);

  /// Answers every waiting caller after one last fsync and joins the thread. Later callers are answered inline.
  void stop();

  uint64_t syncs() const noexcept { return syncs_.load(); }

private:
  void run();

  std::function<bool()> sync_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::function<void(bool)>> waiting_; // guarded by mutex_
  bool stopping_ = false;                          // guarded by mutex_
  std::atomic<uint64_t> syncs_{0};
  std::thread thread_;
};

} // namespace bento::store
