#include "node/auth/throttles.hpp"

#include <algorithm>
#include <cmath>

namespace bento::node {

int64_t rate_limiter::acquire(const std::string& address, int64_t now_ms) {
  if (rate_ == 0)
    return 0;
  std::lock_guard lock(mutex_);
  if (now_ms - last_sweep_ms_ > 60'000) {
    // A bucket idle long enough to be full again carries no information.
    for (auto it = buckets_.begin(); it != buckets_.end();)
      it = now_ms - it->second.last_ms > 60'000 ? buckets_.erase(it) : std::next(it);
    last_sweep_ms_ = now_ms;
  }
  auto [it, fresh] = buckets_.try_emplace(address, bucket{static_cast<double>(rate_), now_ms});
  auto& b = it->second;
  if (!fresh) {
    b.tokens = std::min<double>(rate_, b.tokens + (now_ms - b.last_ms) * rate_ / 1000.0);
    b.last_ms = now_ms;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - b.tokens) * 1000.0 / rate_)));
}

int64_t login_failure_throttle::retry_after_ms(const std::string& address, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(address);
  if (it == entries_.end() || it->second.locked_until_ms <= now_ms)
    return 0;
  return it->second.locked_until_ms - now_ms;
}

void login_failure_throttle::record_failure(const std::string& address, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  if (now_ms - last_sweep_ms_ > 60'000) {
    for (auto it = entries_.begin(); it != entries_.end();)
      it = now_ms - it->second.last_ms > max_lock_ms_ && it->second.locked_until_ms <= now_ms ? entries_.erase(it)
                                                                                               : std::next(it);
    last_sweep_ms_ = now_ms;
  }
  auto& e = entries_[address];
  if (e.failures > 0 && now_ms - e.last_ms > max_lock_ms_)
    e.failures = 0;
  ++e.failures;
  e.last_ms = now_ms;
  if (e.failures >= free_failures_) {
    auto doublings = std::min(e.failures - free_failures_, 20);
    e.locked_until_ms = now_ms + std::min(base_lock_ms_ << doublings, max_lock_ms_);
  }
}

void login_failure_throttle::record_success(const std::string& address) {
  std::lock_guard lock(mutex_);
  entries_.erase(address);
}

} // namespace bento::node
