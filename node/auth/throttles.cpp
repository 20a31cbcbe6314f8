#include "node/auth/throttles.hpp"

#include <algorithm>
#include <cmath>

namespace bento::node {

int64_t rate_limiter::acquire(const std::string& address, int64_t now_ms) {
  if (rate_ == 0)
    return 0;
  std::lock_guard lock(mutex_);
  // A bucket idle for a second is full again (burst = rate) and carries no information: sweep those once a
  // minute, and when the table is full (at most every 100 ms: a sweep is a pass over the table), so that many
  // addresses cannot grow it without bound.
  if (now_ms - last_sweep_ms_ > 60'000 || (buckets_.size() >= max_buckets_ && now_ms - last_sweep_ms_ >= 100)) {
    for (auto it = buckets_.begin(); it != buckets_.end();)
      it = now_ms - it->second.last_ms > 1000 ? buckets_.erase(it) : std::next(it);
    last_sweep_ms_ = now_ms;
  }
  if (buckets_.size() >= max_buckets_ && buckets_.find(address) == buckets_.end())
    return 1000; // more addresses active within one second than the table holds: new ones wait
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

} // namespace bento::node
