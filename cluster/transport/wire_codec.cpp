#include "cluster/transport/wire_codec.hpp"

#include "cluster/transport/handshake.hpp"
#include "cluster/transport/node_address.hpp"

namespace bento::cluster::transport {

namespace {

bool valid_address(const std::string& a) {
  return parse_address(a).has_value();
}

// A proof is 32 bytes, or empty from a node that has no secret (counted as a bad proof, not as malformed).
bool valid_proof(const std::string& p) {
  return p.empty() || p.size() == mac_bytes;
}

bool check(const bento::v1::Hello& h) {
  return valid_node_id(h.node_id()) && h.nonce().size() == nonce_bytes
         && valid_address(h.address()) && h.instance() != 0;
}

bool check(const bento::v1::Challenge& c) {
  return valid_node_id(c.node_id()) && c.nonce().size() == nonce_bytes
         && valid_address(c.address()) && c.instance() != 0 && c.session() != 0 && valid_proof(c.proof())
         && c.initiator_nonce().size() == nonce_bytes;
}

bool check(const bento::v1::Proof& p) {
  return p.session() != 0 && valid_proof(p.proof());
}

bool check(const bento::v1::Sealed& s) {
  return s.session() != 0 && s.seq() != 0 && bento::v1::Channel_IsValid(s.channel()) && s.mac().size() == seal_bytes;
}

} // namespace

const char* to_string(wire_verdict v) noexcept {
  switch (v) {
    case wire_verdict::ok: return "ok";
    case wire_verdict::oversized: return "oversized";
    case wire_verdict::unparseable: return "unparseable";
    case wire_verdict::unknown_kind: return "unknown_kind";
    case wire_verdict::bad_field: return "bad_field";
    case wire_verdict::other_version: return "other_version";
  }
  return "unknown";
}

wire_verdict decode_peer_message(std::string_view bytes, size_t max_bytes, bento::v1::PeerMessage& out) {
  if (bytes.size() > max_bytes)
    return wire_verdict::oversized;
  if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return wire_verdict::unparseable;
  using kind = bento::v1::PeerMessage::KindCase;
  bool fine = false;
  // Checked before the fields, which another version may define otherwise: a node of an older or newer build
  // is named as such in the drop's log line, not taken for a garbled frame.
  if ((out.kind_case() == kind::kHello && out.hello().version() != protocol_version)
      || (out.kind_case() == kind::kChallenge && out.challenge().version() != protocol_version))
    return wire_verdict::other_version;
  switch (out.kind_case()) {
    case kind::kHello: fine = check(out.hello()); break;
    case kind::kChallenge: fine = check(out.challenge()); break;
    case kind::kProof: fine = check(out.proof()); break;
    case kind::kSealed: fine = check(out.sealed()); break;
    case kind::KIND_NOT_SET: return wire_verdict::unknown_kind;
  }
  return fine ? wire_verdict::ok : wire_verdict::bad_field;
}

std::string encode(const bento::v1::PeerMessage& msg) {
  return msg.SerializeAsString();
}

} // namespace bento::cluster::transport
