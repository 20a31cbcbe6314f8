#pragma once
// Transport logging: spdlog events ("cluster.<event> key=value ..."), and a limiter for the events a stranger can
// cause at will (bad proofs, malformed frames), so that a flood of them cannot flood the log.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace bento::cluster::transport {

/// At most `burst` log lines per key and window; the next allowed line says how many were suppressed.
/// Not thread-safe: one per actor.
class log_limiter {
public:
  explicit log_limiter(uint32_t burst = 5, std::chrono::milliseconds window = std::chrono::seconds(10))
    : burst_(burst), window_(window) {}

  /// True when a line for `key` may be written now; `suppressed` is then the count skipped since the last one.
  bool allow(const std::string& key, std::chrono::steady_clock::time_point now, uint64_t& suppressed);

private:
  struct slot {
    std::chrono::steady_clock::time_point window_start;
    uint32_t written = 0;
    uint64_t suppressed = 0;
  };
  uint32_t burst_;
  std::chrono::milliseconds window_;
  std::map<std::string, slot> slots_; // keys are event names (a fixed set), never peer-chosen text
};

} // namespace bento::cluster::transport
