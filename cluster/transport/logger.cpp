#include "cluster/transport/logger.hpp"

namespace bento::cluster::transport {

bool log_limiter::allow(const std::string& key, std::chrono::steady_clock::time_point now, uint64_t& suppressed) {
  auto& s = slots_[key];
  if (s.written == 0 || now - s.window_start >= window_) {
    s.window_start = now;
    s.written = 0;
  }
  if (s.written >= burst_) {
    ++s.suppressed;
    return false;
  }
  ++s.written;
  suppressed = s.suppressed;
  s.suppressed = 0;
  return true;
}

} // namespace bento::cluster::transport
