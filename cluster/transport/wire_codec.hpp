#pragma once
// PeerMessage bytes -> a checked bento::v1::PeerMessage. Every frame is untrusted input: its size is capped, it
// must parse, its kind must be one we know, and every field must be in range, or it is dropped and counted.
// Internal to the transport (generated Protobuf headers stay out of what other modules include).
#include <cstddef>
#include <string>
#include <string_view>

#include "bento/v1/cluster.pb.h"

namespace bento::cluster::transport {

enum class wire_verdict : uint8_t {
  ok,
  oversized,    // more than frame_max_bytes
  unparseable,  // not a PeerMessage
  unknown_kind, // no kind we know (empty, or from a newer protocol)
  bad_field,    // a field out of range (nonce length, node id, address, zero session, ...)
  other_version, // a handshake of another protocol version (a node of another build: upgrade them together)
};
const char* to_string(wire_verdict v) noexcept;

/// Parses and checks `bytes` into `out`; anything but ok leaves `out` unspecified.
wire_verdict decode_peer_message(std::string_view bytes, size_t max_bytes, bento::v1::PeerMessage& out);

std::string encode(const bento::v1::PeerMessage& msg);

} // namespace bento::cluster::transport
