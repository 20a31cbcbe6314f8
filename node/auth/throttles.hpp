#pragma once
// Per-client-address request limit kept at the edge: a token bucket for all requests (BENTO_RATE_LIMIT),
// bounded in memory (idle entries are swept). Failed logins: node/auth/login_guard.
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace bento::node {

class rate_limiter {
public:
  /// rate 0 disables the limiter.
  explicit rate_limiter(uint32_t rate_per_s, size_t max_buckets = 200000)
    : rate_(rate_per_s), max_buckets_(max_buckets) {}

  /// 0 when the request may go ahead, else milliseconds until a token is available.
  int64_t acquire(const std::string& address, int64_t now_ms);

private:
  struct bucket {
    double tokens;
    int64_t last_ms;
  };
  uint32_t rate_;
  size_t max_buckets_;
  std::mutex mutex_;
  std::unordered_map<std::string, bucket> buckets_;
  int64_t last_sweep_ms_ = 0;
};

} // namespace bento::node
