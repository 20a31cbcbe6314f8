#include "actors/order_index/listing_queue.hpp"

namespace bento::actors {

listing_queue::admission listing_queue::push(const std::string& caller, uint64_t job) {
  if (queued_ >= policy_.max_queued)
    return admission::queue_full;
  auto& jobs = callers_[caller];
  if (jobs.queued.size() >= policy_.max_queued_per_caller) {
    if (jobs.queued.empty() && jobs.running == 0)
      callers_.erase(caller); // a zero per-caller bound: do not keep an empty entry
    return admission::caller_full;
  }
  if (jobs.queued.empty())
    turns_.push_back(caller);
  jobs.queued.push_back(job);
  ++queued_;
  return admission::accepted;
}

std::optional<listing_queue::ready> listing_queue::next() {
  // Each caller in the ring is looked at once at most: O(callers waiting) per call.
  for (size_t n = turns_.size(); n > 0; --n) {
    auto caller = std::move(turns_.front());
    turns_.pop_front();
    auto& jobs = callers_.at(caller);
    if (jobs.running >= policy_.max_running_per_caller) {
      turns_.push_back(std::move(caller)); // keeps its turn order; eligible again once one of its jobs ends
      continue;
    }
    auto job = jobs.queued.front();
    jobs.queued.pop_front();
    --queued_;
    ++jobs.running;
    ++running_;
    if (!jobs.queued.empty())
      turns_.push_back(caller);
    return ready{std::move(caller), job};
  }
  return std::nullopt;
}

void listing_queue::finished(const std::string& caller) {
  auto it = callers_.find(caller);
  if (it == callers_.end() || it->second.running == 0)
    return;
  --it->second.running;
  --running_;
  if (it->second.running == 0 && it->second.queued.empty())
    callers_.erase(it);
}

} // namespace bento::actors
