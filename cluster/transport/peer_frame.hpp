#pragma once
// The one CAF message type that crosses between nodes: Protobuf bytes (a bento.v1.PeerMessage). Keeping the wire
// format in .proto files versions it by Protobuf's rules instead of by C++ layouts. Internal to the transport.
#include <string>

#include <caf/meta/type_name.hpp>

namespace bento::cluster::transport {

struct peer_frame {
  std::string bytes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_frame& x) {
  return f(caf::meta::type_name("bento.peer_frame"), x.bytes);
}

/// The name under which every node registers peer_frame (add_message_type): part of the wire format.
inline constexpr const char* peer_frame_type_name = "bento.peer_frame";

} // namespace bento::cluster::transport
