#pragma once
// Transport error codes: each one something a caller can act on.
#include <cstdint>

namespace bento::cluster::transport {

enum class errc : uint8_t {
  none = 0,
  not_connected = 1,  // no authenticated session with that peer now (or it is unknown): retry later or elsewhere
  queue_full = 2,     // the peer's bounded queue is full (slow or stalled peer): shed load
  too_large = 3,      // the frame would exceed frame_max_bytes: split it
  stopped = 4,        // the transport is not running
  invalid_config = 5, // start(): a setting is wrong (message says which)
  bind_failed = 6,    // start(): the cluster port could not be opened
};

const char* to_string(errc code) noexcept;

} // namespace bento::cluster::transport
