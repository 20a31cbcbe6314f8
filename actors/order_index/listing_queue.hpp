#pragma once
// Which listing runs next on the listing workers, plain C++: a bounded queue per caller, callers served in
// turn, and no caller running on more than its share of the workers, so one customer's 48 heavy listings
// cannot make anyone else wait for more than one listing.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

namespace bento::actors {

struct listing_queue_policy {
  size_t max_queued = 256;           // waiting listings, all callers together
  size_t max_queued_per_caller = 8;  // waiting listings of one caller
  size_t max_running_per_caller = 1; // workers one caller may hold at once (the pool keeps the rest for others)
};

class listing_queue {
public:
  enum class admission { accepted, caller_full, queue_full };

  explicit listing_queue(listing_queue_policy policy = {}) : policy_(policy) {}

  admission push(const std::string& caller, uint64_t job);

  struct ready {
    std::string caller;
    uint64_t job = 0;
  };
  /// The next job to start, taking callers in turn and skipping those already at their running share; empty
  /// when nothing may start. The job counts as running until finished(caller).
  std::optional<ready> next();
  void finished(const std::string& caller);

  size_t queued() const noexcept { return queued_; }
  size_t running() const noexcept { return running_; }

private:
  struct caller_jobs {
    std::deque<uint64_t> queued;
    size_t running = 0;
  };
  listing_queue_policy policy_;
  std::unordered_map<std::string, caller_jobs> callers_; // callers with queued or running jobs
  std::deque<std::string> turns_;                         // callers with queued jobs, in turn order
  size_t queued_ = 0;
  size_t running_ = 0;
};

} // namespace bento::actors
