#include "cluster/transport/handshake.hpp"

#include <sodium.h>

namespace bento::cluster::transport {

namespace {

// Changing any of these strings changes every key and proof: a new protocol version, never an edit.
constexpr std::string_view key_context = "bento/cluster-key/v1"; // BLAKE2b key: 16..64 bytes
constexpr std::string_view transcript_label = "bento/cluster-handshake/v1";
constexpr std::string_view initiator_label = "proof:initiator";
constexpr std::string_view responder_label = "proof:responder";
constexpr std::string_view i2r_label = "key:initiator-to-responder";
constexpr std::string_view r2i_label = "key:responder-to-initiator";

/// What both MACs hash: integers little-endian, byte strings length-prefixed, so that ("ab", "c") and
/// ("a", "bc") never hash alike. `Hash` supplies update(bytes, size).
template <class Hash>
class framed {
public:
  void bytes(std::string_view b) { self().update(reinterpret_cast<const unsigned char*>(b.data()), b.size()); }
  void u64(uint64_t v) {
    unsigned char le[8];
    for (int i = 0; i < 8; ++i)
      le[i] = static_cast<unsigned char>(v >> (8 * i));
    self().update(le, sizeof le);
  }
  void field(std::string_view b) {
    u64(b.size());
    bytes(b);
  }

private:
  Hash& self() { return static_cast<Hash&>(*this); }
};

/// HMAC-SHA-256: the handshake's proofs and the session keys.
class hmac : public framed<hmac> {
public:
  explicit hmac(const secret_key& key) { crypto_auth_hmacsha256_init(&state_, key.data(), key.size()); }
  ~hmac() { sodium_memzero(&state_, sizeof state_); }
  hmac(const hmac&) = delete;
  hmac& operator=(const hmac&) = delete;

  void update(const unsigned char* p, size_t n) { crypto_auth_hmacsha256_update(&state_, p, n); }
  std::string finish() {
    std::string out(mac_bytes, '\0');
    crypto_auth_hmacsha256_final(&state_, reinterpret_cast<unsigned char*>(out.data()));
    return out;
  }

private:
  crypto_auth_hmacsha256_state state_;
};

/// Poly1305 under a one-time key: the tag of each sealed frame (seal_mac in handshake.hpp).
class frame_tag : public framed<frame_tag> {
public:
  frame_tag(const secret_key& direction_key, uint64_t seq) {
    unsigned char nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {};
    for (int i = 0; i < 8; ++i)
      nonce[i] = static_cast<unsigned char>(seq >> (8 * i));
    unsigned char one_time[crypto_onetimeauth_KEYBYTES];
    crypto_stream_chacha20_ietf(one_time, sizeof one_time, nonce, direction_key.data());
    crypto_onetimeauth_init(&state_, one_time);
    sodium_memzero(one_time, sizeof one_time);
  }
  ~frame_tag() { sodium_memzero(&state_, sizeof state_); }
  frame_tag(const frame_tag&) = delete;
  frame_tag& operator=(const frame_tag&) = delete;

  void update(const unsigned char* p, size_t n) { crypto_onetimeauth_update(&state_, p, n); }
  std::string finish() {
    std::string out(seal_bytes, '\0');
    crypto_onetimeauth_final(&state_, reinterpret_cast<unsigned char*>(out.data()));
    return out;
  }

private:
  crypto_onetimeauth_state state_;
};

void add_transcript(hmac& h, const transcript& t) {
  h.field(transcript_label);
  h.field(t.initiator_id);
  h.field(t.responder_id);
  h.field(t.initiator_nonce);
  h.field(t.responder_nonce);
  h.field(t.initiator_address);
  h.field(t.responder_address);
  h.u64(t.initiator_incarnation);
  h.u64(t.responder_incarnation);
  h.u64(t.initiator_instance);
  h.u64(t.responder_instance);
  h.u64(t.session);
}

secret_key derive(const secret_key& key, std::string_view label, const transcript& t) {
  hmac h(key);
  h.field(label);
  add_transcript(h, t);
  auto out = h.finish();
  secret_key k;
  std::copy(out.begin(), out.end(), k.begin());
  sodium_memzero(out.data(), out.size());
  return k;
}

} // namespace

std::optional<secret_key> derive_cluster_key(std::string_view secret) {
  if (secret.empty())
    return std::nullopt;
  secret_key k;
  crypto_generichash(k.data(), k.size(), reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                     reinterpret_cast<const unsigned char*>(key_context.data()), key_context.size());
  return k;
}

std::string make_nonce() {
  std::string n(nonce_bytes, '\0');
  randombytes_buf(n.data(), n.size());
  return n;
}

uint64_t random_nonzero_u64() {
  uint64_t v = 0;
  while (v == 0)
    randombytes_buf(&v, sizeof v);
  return v;
}

std::string make_proof(const std::optional<secret_key>& key, role who, const transcript& t) {
  if (!key)
    return {};
  hmac h(*key);
  h.field(who == role::initiator ? initiator_label : responder_label);
  add_transcript(h, t);
  return h.finish();
}

bool check_proof(const std::optional<secret_key>& key, role who, const transcript& t, std::string_view proof) {
  if (!key || proof.size() != mac_bytes)
    return false;
  auto expected = make_proof(key, who, t);
  return sodium_memcmp(expected.data(), proof.data(), mac_bytes) == 0;
}

session_keys derive_session_keys(const secret_key& key, const transcript& t) {
  return session_keys{derive(key, i2r_label, t), derive(key, r2i_label, t)};
}

std::string seal_mac(const secret_key& direction_key, uint64_t session, uint64_t seq, uint64_t ack,
                     uint32_t channel, std::string_view body) {
  frame_tag h(direction_key, seq);
  h.u64(session);
  h.u64(seq);
  h.u64(ack);
  h.u64(channel);
  h.field(body);
  return h.finish();
}

bool check_seal_mac(const secret_key& direction_key, uint64_t session, uint64_t seq, uint64_t ack, uint32_t channel,
                    std::string_view body, std::string_view mac) {
  if (mac.size() != seal_bytes)
    return false;
  auto expected = seal_mac(direction_key, session, seq, ack, channel, body);
  return crypto_verify_16(reinterpret_cast<const unsigned char*>(expected.data()),
                          reinterpret_cast<const unsigned char*>(mac.data())) == 0;
}

} // namespace bento::cluster::transport
