#include "cluster/transport/errc.hpp"

#include "cluster/transport/peer_info.hpp"

namespace bento::cluster::transport {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::none: return "none";
    case errc::not_connected: return "not_connected";
    case errc::queue_full: return "queue_full";
    case errc::too_large: return "too_large";
    case errc::stopped: return "stopped";
    case errc::invalid_config: return "invalid_config";
    case errc::bind_failed: return "bind_failed";
  }
  return "unknown";
}

const char* to_string(link_state s) noexcept {
  switch (s) {
    case link_state::idle: return "idle";
    case link_state::connecting: return "connecting";
    case link_state::handshaking: return "handshaking";
    case link_state::up: return "up";
    case link_state::backoff: return "backoff";
    case link_state::self: return "self";
    case link_state::alias: return "alias";
  }
  return "unknown";
}

} // namespace bento::cluster::transport
