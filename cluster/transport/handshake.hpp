#pragma once
// The challenge-response that admits a node to the cluster and the keys of the session it opens. Pure functions
// over libsodium: no I/O, no CAF, so replays, reflections and wrong secrets are unit-tested on their own.
//
//   initiator -> responder  Hello      id_i, nonce_i (fresh)
//   responder -> initiator  Challenge  id_r, nonce_r (fresh), session, proof_r = HMAC(K, "responder" | T)
//   initiator -> responder  Proof      session, proof_i = HMAC(K, "initiator" | T)
//
// K is derived from the cluster secret; T (the transcript) holds both ids, both nonces, addresses, incarnations,
// instances and the session id. Neither side's proof can be made without K, neither is valid in another
// handshake (the other side's nonce is new each time), and the role label keeps a responder's proof from being
// reflected as an initiator's. The session then seals every frame with a key per direction derived from K and T.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bento::cluster::transport {

/// The link protocol's version, in Hello and Challenge; a peer of another version is refused (`other_version`).
/// 2: sealed frames are MACed with keyed BLAKE2b (1: HMAC-SHA-256). 3: seals are Poly1305 tags under a one-time
/// key from ChaCha20, and restaurants' writes may carry items' stock records (store layout sharded/2), which a
/// node of 2 would not read: leading, it would sell stale stock.
inline constexpr uint32_t protocol_version = 3;
inline constexpr size_t nonce_bytes = 32;
inline constexpr size_t mac_bytes = 32;  // the handshake's proofs (HMAC-SHA-256)
inline constexpr size_t seal_bytes = 16; // a sealed frame's tag (Poly1305)

using secret_key = std::array<unsigned char, 32>;

/// K: a BLAKE2b hash of BENTO_CLUSTER_SECRET keyed with a fixed context. Only K is kept; the secret never goes on
/// the wire. nullopt for an empty secret: such a node can prove nothing and accepts no one.
std::optional<secret_key> derive_cluster_key(std::string_view secret);

/// nonce_bytes random bytes.
std::string make_nonce();
/// A random non-zero 64-bit value (session ids, process instances).
uint64_t random_nonzero_u64();

struct transcript {
  std::string initiator_id;
  std::string responder_id;
  std::string initiator_nonce;
  std::string responder_nonce;
  std::string initiator_address;
  std::string responder_address;
  uint64_t initiator_incarnation = 0;
  uint64_t responder_incarnation = 0;
  uint64_t initiator_instance = 0;
  uint64_t responder_instance = 0;
  uint64_t session = 0;
};

enum class role : uint8_t { initiator, responder };

/// HMAC-SHA-256(K, label(who) | T). Empty without a key (the other side will count it as a bad proof).
std::string make_proof(const std::optional<secret_key>& key, role who, const transcript& t);

/// Constant-time comparison (sodium_memcmp). False without a key or for a proof of the wrong length.
bool check_proof(const std::optional<secret_key>& key, role who, const transcript& t, std::string_view proof);

/// One key per direction, so that a frame can never be reflected back to its sender as if the peer had sent it.
struct session_keys {
  secret_key initiator_to_responder;
  secret_key responder_to_initiator;
};
session_keys derive_session_keys(const secret_key& key, const transcript& t);

/// Tag of one sealed frame under its direction's key: Poly1305 over session | seq | ack | channel | body, with a
/// one-time key that is ChaCha20's first keystream block for that key and nonce `seq` (as RFC 8439's AEAD
/// derives it). A direction's key belongs to one session and a session never numbers two frames alike, so no
/// one-time key is used twice. Every replicated byte passes through it twice (sealed, checked): 0.5 us per KiB
/// here, where keyed BLAKE2b took 2 us.
std::string seal_mac(const secret_key& direction_key, uint64_t session, uint64_t seq, uint64_t ack,
                     uint32_t channel, std::string_view body);
bool check_seal_mac(const secret_key& direction_key, uint64_t session, uint64_t seq, uint64_t ack, uint32_t channel,
                    std::string_view body, std::string_view mac);

} // namespace bento::cluster::transport
