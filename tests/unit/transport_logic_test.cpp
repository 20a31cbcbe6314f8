// The transport's pure parts: handshake crypto, frame checks, flow control, addresses, the shared peer table.
#include <catch2/catch.hpp>

#include <random>

#include <sodium.h>

#include "cluster/transport/handshake.hpp"
#include "cluster/transport/node_address.hpp"
#include "cluster/transport/peer_table.hpp"
#include "cluster/transport/send_window.hpp"
#include "cluster/transport/wire_codec.hpp"

namespace tp = bento::cluster::transport;
namespace v1 = bento::v1;

namespace {

const std::string secret = "correct horse battery staple 42";

struct init_sodium {
  init_sodium() { REQUIRE(sodium_init() >= 0); }
};

// One run of the handshake as two honest nodes would do it, step by step, with messages as on the wire.
struct handshake_run {
  tp::transcript t;
  std::string responder_proof;
  std::string initiator_proof;
};

handshake_run honest_handshake(const std::optional<tp::secret_key>& initiator_key,
                               const std::optional<tp::secret_key>& responder_key) {
  handshake_run r;
  r.t.initiator_id = "node-a";
  r.t.responder_id = "node-b";
  r.t.initiator_nonce = tp::make_nonce();  // Hello
  r.t.responder_nonce = tp::make_nonce();  // Challenge
  r.t.initiator_address = "127.0.0.1:4710";
  r.t.responder_address = "127.0.0.1:4711";
  r.t.initiator_incarnation = 3;
  r.t.responder_incarnation = 7;
  r.t.initiator_instance = tp::random_nonzero_u64();
  r.t.responder_instance = tp::random_nonzero_u64();
  r.t.session = tp::random_nonzero_u64();
  r.responder_proof = tp::make_proof(responder_key, tp::role::responder, r.t);
  r.initiator_proof = tp::make_proof(initiator_key, tp::role::initiator, r.t);
  return r;
}

} // namespace

TEST_CASE("handshake: both sides prove the same secret, each proof only in its own role", "[unit][transport]") {
  init_sodium s;
  auto key = tp::derive_cluster_key(secret);
  REQUIRE(key);
  auto r = honest_handshake(key, key);
  CHECK(r.responder_proof.size() == tp::mac_bytes);
  CHECK(tp::check_proof(key, tp::role::responder, r.t, r.responder_proof));
  CHECK(tp::check_proof(key, tp::role::initiator, r.t, r.initiator_proof));
  // Reflection: the responder's proof is worth nothing as an initiator's, and the other way round.
  CHECK_FALSE(tp::check_proof(key, tp::role::initiator, r.t, r.responder_proof));
  CHECK_FALSE(tp::check_proof(key, tp::role::responder, r.t, r.initiator_proof));
  // Every field of the transcript is bound: change any one and the proof fails.
  auto changed = [&](auto mutate) {
    auto t2 = r.t;
    mutate(t2);
    return !tp::check_proof(key, tp::role::initiator, t2, r.initiator_proof);
  };
  CHECK(changed([](tp::transcript& t) { t.initiator_id = "node-x"; }));
  CHECK(changed([](tp::transcript& t) { t.responder_id = "node-x"; }));
  CHECK(changed([](tp::transcript& t) { t.initiator_nonce[0] ^= 1; }));
  CHECK(changed([](tp::transcript& t) { t.responder_nonce[31] ^= 1; }));
  CHECK(changed([](tp::transcript& t) { t.initiator_address = "10.0.0.1:1"; }));
  CHECK(changed([](tp::transcript& t) { t.responder_incarnation += 1; }));
  CHECK(changed([](tp::transcript& t) { t.initiator_instance += 1; }));
  CHECK(changed([](tp::transcript& t) { t.session += 1; }));
  // Length-prefixed fields: moving a character from one id to the other changes the proof.
  CHECK(changed([](tp::transcript& t) {
    t.initiator_id = "node-ab";
    t.responder_id = "node-";
  }));
}

TEST_CASE("handshake: a wrong secret or none fails every proof", "[unit][transport]") {
  init_sodium s;
  auto key = tp::derive_cluster_key(secret);
  auto other = tp::derive_cluster_key("correct horse battery staple 43");
  auto none = tp::derive_cluster_key("");
  CHECK_FALSE(none.has_value());
  REQUIRE(other);
  CHECK(*key != *other);

  auto wrong_initiator = honest_handshake(other, key);
  CHECK(tp::check_proof(other, tp::role::responder, wrong_initiator.t, wrong_initiator.responder_proof) == false);
  CHECK_FALSE(tp::check_proof(key, tp::role::initiator, wrong_initiator.t, wrong_initiator.initiator_proof));

  auto no_secret = honest_handshake(none, key);
  CHECK(no_secret.initiator_proof.empty());
  CHECK_FALSE(tp::check_proof(key, tp::role::initiator, no_secret.t, no_secret.initiator_proof));
  // A node without a key accepts nothing, not even a correct proof.
  CHECK_FALSE(tp::check_proof(none, tp::role::responder, no_secret.t, no_secret.responder_proof));
  // Wrong lengths are refused before any comparison.
  CHECK_FALSE(tp::check_proof(key, tp::role::initiator, no_secret.t, std::string(31, 'x')));
}

TEST_CASE("handshake: replaying a recorded handshake fails against fresh nonces", "[unit][transport]") {
  init_sodium s;
  auto key = tp::derive_cluster_key(secret);
  auto recorded = honest_handshake(key, key);

  // An eavesdropper replays the initiator's Hello and Proof to the responder. The responder answers the Hello
  // with a fresh nonce and session, so the transcript the old proof was made for never comes back.
  auto replay_at_responder = recorded.t;
  replay_at_responder.responder_nonce = tp::make_nonce();
  replay_at_responder.session = tp::random_nonzero_u64();
  CHECK_FALSE(tp::check_proof(key, tp::role::initiator, replay_at_responder, recorded.initiator_proof));

  // It replays the responder's Challenge to the initiator: the initiator's Hello carried a fresh nonce.
  auto replay_at_initiator = recorded.t;
  replay_at_initiator.initiator_nonce = tp::make_nonce();
  CHECK_FALSE(tp::check_proof(key, tp::role::responder, replay_at_initiator, recorded.responder_proof));

  // Nonces and session ids do not repeat.
  CHECK(tp::make_nonce() != tp::make_nonce());
  CHECK(tp::make_nonce().size() == tp::nonce_bytes);
}

TEST_CASE("handshake: the secret itself is in no message and no key", "[unit][transport]") {
  init_sodium s;
  auto key = tp::derive_cluster_key(secret);
  auto r = honest_handshake(key, key);
  v1::PeerMessage hello;
  hello.mutable_hello()->set_nonce(r.t.initiator_nonce);
  v1::PeerMessage proof;
  proof.mutable_proof()->set_proof(r.initiator_proof);
  for (auto& m : {hello, proof})
    CHECK(m.SerializeAsString().find(secret) == std::string::npos);
  std::string k(key->begin(), key->end());
  CHECK(k.find(secret.substr(0, 8)) == std::string::npos);
}

TEST_CASE("sealed frames: keys per direction and session; the MAC covers every field", "[unit][transport]") {
  init_sodium s;
  auto key = tp::derive_cluster_key(secret);
  auto r = honest_handshake(key, key);
  auto keys = tp::derive_session_keys(*key, r.t);
  CHECK(keys.initiator_to_responder != keys.responder_to_initiator);
  auto other = honest_handshake(key, key);
  CHECK(tp::derive_session_keys(*key, other.t).initiator_to_responder != keys.initiator_to_responder);

  auto& k = keys.initiator_to_responder;
  auto mac = tp::seal_mac(k, 9, 5, 4, 2, "body");
  CHECK(tp::check_seal_mac(k, 9, 5, 4, 2, "body", mac));
  CHECK_FALSE(tp::check_seal_mac(keys.responder_to_initiator, 9, 5, 4, 2, "body", mac)); // reflected
  CHECK_FALSE(tp::check_seal_mac(k, 8, 5, 4, 2, "body", mac));
  CHECK_FALSE(tp::check_seal_mac(k, 9, 6, 4, 2, "body", mac));
  CHECK_FALSE(tp::check_seal_mac(k, 9, 5, 3, 2, "body", mac));
  CHECK_FALSE(tp::check_seal_mac(k, 9, 5, 4, 1, "body", mac));
  CHECK_FALSE(tp::check_seal_mac(k, 9, 5, 4, 2, "bodY", mac));
  CHECK_FALSE(tp::check_seal_mac(k, 9, 5, 4, 2, "body", mac.substr(1)));
  CHECK(mac.size() == tp::seal_bytes);
  // Every bit of the tag counts, and a frame's number picks its one-time key: the same frame under two numbers
  // (one seq checked as the other) has unrelated tags.
  for (size_t bit = 0; bit < 8 * mac.size(); ++bit) {
    auto flipped = mac;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    CHECK_FALSE(tp::check_seal_mac(k, 9, 5, 4, 2, "body", flipped));
  }
  CHECK(tp::seal_mac(k, 9, 6, 4, 2, "body") != mac);
  CHECK(tp::seal_mac(k, 9, 5, 4, 2, "body") == mac); // deterministic: the receiver computes the same
  std::string big(100000, 'x');
  auto big_mac = tp::seal_mac(k, 9, 7, 4, 2, big);
  big[54321] = 'y';
  CHECK_FALSE(tp::check_seal_mac(k, 9, 7, 4, 2, big, big_mac));
}

TEST_CASE("node ids and addresses: only what is documented passes", "[unit][transport]") {
  CHECK(tp::valid_node_id("node-1.eu_west"));
  CHECK(tp::valid_node_id(std::string(64, 'a')));
  CHECK_FALSE(tp::valid_node_id(std::string(65, 'a')));
  CHECK_FALSE(tp::valid_node_id(""));
  CHECK_FALSE(tp::valid_node_id("node 1"));
  CHECK_FALSE(tp::valid_node_id("node/1"));
  CHECK_FALSE(tp::valid_node_id("nöde"));

  auto a = tp::parse_address("10.0.0.7:4710");
  REQUIRE(a);
  CHECK(a->host == "10.0.0.7");
  CHECK(a->port == 4710);
  auto v6 = tp::parse_address("[::1]:4710");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(tp::to_string(*v6) == "[::1]:4710");
  CHECK(tp::parse_address("bento-2.internal:1"));
  for (auto bad : {"", "host", "host:", ":4710", "host:0", "host:65536", "host:47a0", "ho st:1", "[::1:4710",
                   "[zz]:1", "host:1:2x", "[::1]4710"})
    CHECK_FALSE(tp::parse_address(bad));
}

TEST_CASE("wire codec: garbage is dropped with a reason, never a crash", "[unit][transport]") {
  init_sodium s;
  v1::PeerMessage out;
  auto verdict = [&](const std::string& bytes, size_t max = 1 << 20) {
    return tp::decode_peer_message(bytes, max, out);
  };
  // A good Hello passes.
  v1::PeerMessage hello;
  auto* h = hello.mutable_hello();
  h->set_version(tp::protocol_version);
  h->set_node_id("node-a");
  h->set_nonce(tp::make_nonce());
  h->set_address("127.0.0.1:4710");
  h->set_incarnation(1);
  h->set_instance(42);
  auto good = hello.SerializeAsString();
  CHECK(verdict(good) == tp::wire_verdict::ok);

  CHECK(verdict(good, good.size() - 1) == tp::wire_verdict::oversized);
  CHECK(verdict("") == tp::wire_verdict::unknown_kind);  // an empty message has no kind
  CHECK(verdict(good.substr(0, good.size() / 2)) == tp::wire_verdict::unparseable); // truncated
  // Field 1 (hello), length-delimited, declaring 2^31 bytes that never come.
  CHECK(verdict(std::string("\x0a\xff\xff\xff\xff\x07", 6)) == tp::wire_verdict::unparseable);
  // A varint that never ends.
  CHECK(verdict(std::string(20, '\xff')) == tp::wire_verdict::unparseable);
  // Field 15: a kind this version does not know.
  CHECK(verdict(std::string("\x7a\x00", 2)) == tp::wire_verdict::unknown_kind);

  auto with = [&](auto mutate) {
    v1::PeerMessage m = hello;
    mutate(*m.mutable_hello());
    return verdict(m.SerializeAsString());
  };
  // A node of another build is named as such, before any field it may define otherwise is looked at.
  CHECK(with([](v1::Hello& x) { x.set_version(1); }) == tp::wire_verdict::other_version);
  CHECK(with([](v1::Hello& x) {
          x.set_version(tp::protocol_version + 1);
          x.set_nonce("a newer nonce");
        }) == tp::wire_verdict::other_version);
  CHECK(with([](v1::Hello& x) { x.set_node_id("bad id"); }) == tp::wire_verdict::bad_field);
  CHECK(with([](v1::Hello& x) { x.set_node_id(std::string(100000, 'a')); }) == tp::wire_verdict::bad_field);
  CHECK(with([](v1::Hello& x) { x.set_nonce("short"); }) == tp::wire_verdict::bad_field);
  CHECK(with([](v1::Hello& x) { x.set_address("nowhere"); }) == tp::wire_verdict::bad_field);
  CHECK(with([](v1::Hello& x) { x.set_instance(0); }) == tp::wire_verdict::bad_field);

  v1::PeerMessage sealed;
  auto* x = sealed.mutable_sealed();
  x->set_session(1);
  x->set_seq(1);
  x->set_channel(v1::CHANNEL_DATA);
  x->set_mac(std::string(tp::seal_bytes, 'm'));
  CHECK(verdict(sealed.SerializeAsString()) == tp::wire_verdict::ok);
  x->set_channel(static_cast<v1::Channel>(77));
  CHECK(verdict(sealed.SerializeAsString()) == tp::wire_verdict::bad_field);
  x->set_channel(v1::CHANNEL_DATA);
  x->set_seq(0);
  CHECK(verdict(sealed.SerializeAsString()) == tp::wire_verdict::bad_field);
  x->set_seq(1);
  x->set_mac(std::string(32, 'm')); // a version 2 seal's size
  CHECK(verdict(sealed.SerializeAsString()) == tp::wire_verdict::bad_field);
  x->set_mac(std::string(tp::seal_bytes, 'm'));

  // Seeded random bytes and mutations of a good frame: whatever comes, a verdict and no crash.
  auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  size_t ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      bytes.resize(rng() % 300);
      for (auto& c : bytes)
        c = static_cast<char>(rng());
    } else {
      bytes = good;
      for (int k = 0, n = 1 + rng() % 4; k < n; ++k)
        bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    if (verdict(bytes) == tp::wire_verdict::ok)
      ++ok;
  }
  CHECK(ok < 20000);
}

TEST_CASE("send window: frames and bytes in flight are capped, acks open it", "[unit][transport]") {
  tp::send_window w(4, 1000, 2);
  auto send = [&](size_t bytes, bool membership = false) {
    if (!w.fits(bytes, membership))
      return false;
    w.track(w.next_seq(), bytes);
    return true;
  };
  CHECK(send(100));
  CHECK(send(100));
  CHECK(send(100));
  CHECK(send(100));
  CHECK_FALSE(send(100));        // 4 frames in flight
  CHECK(send(10, true));         // membership may use the reserve
  CHECK(send(10, true));
  CHECK_FALSE(send(10, true));
  CHECK(w.frames_in_flight() == 6);
  w.acked(2);
  CHECK(w.frames_in_flight() == 4);
  CHECK_FALSE(send(100));
  w.acked(4);
  CHECK(w.frames_in_flight() == 2);
  CHECK(w.bytes_in_flight() == 20);
  CHECK_FALSE(send(990));        // bytes
  CHECK(send(900));
  w.acked(1000);                 // never sent: ignored
  CHECK(w.frames_in_flight() == 3);
  w.acked(7);
  CHECK(w.frames_in_flight() == 0);
  CHECK(send(5000));             // bigger than the window goes alone
  CHECK_FALSE(send(1));
}

TEST_CASE("peer table: queues are bounded per peer and refusals are counted", "[unit][transport]") {
  tp::transport_config cfg;
  cfg.queue_max_frames = 3;
  cfg.queue_max_bytes = 250;
  cfg.priority_queue_frames = 1;
  tp::peer_table table(cfg);
  bool wake = false;
  CHECK(table.enqueue("node-b", tp::channel::data, "x", wake) == tp::errc::not_connected);
  CHECK(table.stats().dropped_unknown_peer == 1);
  REQUIRE(table.ensure_peer("node-b"));
  CHECK(table.enqueue("node-b", tp::channel::data, "x", wake) == tp::errc::not_connected);
  table.set_connected("node-b", true);
  CHECK(table.enqueue("node-b", tp::channel::data, std::string(100, 'a'), wake) == tp::errc::none);
  CHECK(wake);
  CHECK(table.enqueue("node-b", tp::channel::data, std::string(100, 'b'), wake) == tp::errc::none);
  CHECK_FALSE(wake); // one wake-up until the actor drains
  CHECK(table.enqueue("node-b", tp::channel::data, std::string(100, 'c'), wake) == tp::errc::queue_full); // bytes
  CHECK(table.enqueue("node-b", tp::channel::data, "d", wake) == tp::errc::none);
  CHECK(table.enqueue("node-b", tp::channel::data, "e", wake) == tp::errc::queue_full); // frames
  CHECK(table.enqueue("node-b", tp::channel::membership, "hb", wake) == tp::errc::none);
  CHECK(table.enqueue("node-b", tp::channel::membership, "hb", wake) == tp::errc::queue_full);
  auto p = table.snapshot();
  REQUIRE(p.size() == 1);
  CHECK(p[0].queued_frames == 4);
  CHECK(p[0].counters.dropped_queue_full == 3);
  CHECK(p[0].counters.dropped_not_connected == 1);

  // Membership first, then data in order, as long as the window says yes.
  table.begin_drain();
  int taken = 0;
  auto frames = table.take("node-b", [&](size_t, bool) { return ++taken <= 2; });
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].ch == tp::channel::membership);
  CHECK(frames[1].bytes == std::string(100, 'a'));
  CHECK(table.enqueue("node-b", tp::channel::data, "f", wake) == tp::errc::none);
  CHECK(wake);
  // Losing the connection drops what waits, counted.
  table.set_connected("node-b", false);
  p = table.snapshot();
  CHECK(p[0].queued_frames == 0);
  CHECK(p[0].counters.dropped_not_connected == 1 + 3);
}
