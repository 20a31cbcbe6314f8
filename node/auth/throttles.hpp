#pragma once
// Per-client-address limits kept at the edge: a token bucket for all requests (BENTO_RATE_LIMIT) and a
// back-off for failed logins. Both are bounded in memory: idle entries are swept.
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace bento::node {

class rate_limiter {
public:
  /// rate 0 disables the limiter.
  explicit rate_limiter(uint32_t rate_per_s) : rate_(rate_per_s) {}

  /// 0 when the request may go ahead, else milliseconds until a token is available.
  int64_t acquire(const std::string& address, int64_t now_ms);

private:
  struct bucket {
    double tokens;
    int64_t last_ms;
  };
  uint32_t rate_;
  std::mutex mutex_;
  std::unordered_map<std::string, bucket> buckets_;
  int64_t last_sweep_ms_ = 0;
};

class login_failure_throttle {
public:
  login_failure_throttle(int free_failures = 20, int64_t base_lock_ms = 1000, int64_t max_lock_ms = 15 * 60 * 1000)
    : free_failures_(free_failures), base_lock_ms_(base_lock_ms), max_lock_ms_(max_lock_ms) {}

  /// 0 when a login from this address may proceed, else milliseconds to wait.
  int64_t retry_after_ms(const std::string& address, int64_t now_ms);
  void record_failure(const std::string& address, int64_t now_ms);
  void record_success(const std::string& address);

private:
  struct entry {
    int failures = 0;
    int64_t last_ms = 0;
    int64_t locked_until_ms = 0;
  };
  int free_failures_;
  int64_t base_lock_ms_;
  int64_t max_lock_ms_;
  std::mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
  int64_t last_sweep_ms_ = 0;
};

} // namespace bento::node
