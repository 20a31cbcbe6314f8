// The transport on loopback: several actor systems in this process, each with its own middleman and port.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "bento/v1/cluster.pb.h"
#include "cluster/transport/handshake.hpp"
#include "cluster/transport/peer_frame.hpp"
#include "tests/support/cluster_node.hpp"

using namespace bento::test;

TEST_CASE("transport: two nodes authenticate and exchange frames both ways", "[unit][transport]") {
  cluster_node a(node_config("node-a"));
  a.start();
  auto cb = node_config("node-b");
  cluster_node b(cb);
  b.start();
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(b.transport().add_peer(a.address()));
  REQUIRE(eventually([&] { return a.connected_to("node-b") && b.connected_to("node-a"); }));
  auto handshake = std::chrono::steady_clock::now() - t0;
  WARN("connect + handshake on loopback: "
       << std::chrono::duration_cast<std::chrono::microseconds>(handshake).count() << " us");

  REQUIRE(b.transport().send("node-a", "hello from b") == tp::errc::none);
  REQUIRE(a.transport().send("node-b", "hello from a") == tp::errc::none);
  REQUIRE(a.wait_frames(1));
  REQUIRE(b.wait_frames(1));
  CHECK(a.frames()[0].from == "node-b");
  CHECK(a.frames()[0].bytes == "hello from b");
  CHECK(b.frames()[0].from == "node-a");
  CHECK(b.frames()[0].bytes == "hello from a");

  auto pa = a.peer("node-b");
  REQUIRE(pa);
  CHECK(pa->connected);
  CHECK(pa->counters.bad_proof == 0);
  CHECK(pa->counters.malformed == 0);
  CHECK(pa->last_heard.has_value());
  // a learned b's address from its handshake and dials it too.
  CHECK(pa->address == b.address());
  REQUIRE(eventually([&] { return a.peer("node-b")->state == tp::link_state::up; }));
}

namespace {

uint64_t total_bad_proof(cluster_node& n) {
  return n.transport().stats().total.bad_proof;
}

} // namespace

TEST_CASE("transport: a node with the wrong secret or none exchanges nothing and is counted", "[unit][transport]") {
  cluster_node a(node_config("node-a"));
  a.start();
  auto secret = GENERATE(std::string("correct horse battery staple 43"), std::string());
  INFO("intruder secret: '" << secret << "'");
  cluster_node w(node_config("node-w", secret));
  w.start();
  // The intruder dials a, and a dials the intruder: both ends count the failed proofs, in both roles.
  REQUIRE(w.transport().add_peer(a.address()));
  REQUIRE(a.transport().add_peer(w.address()));
  REQUIRE(eventually([&] { return total_bad_proof(a) >= 2 && total_bad_proof(w) >= 2; }));
  CHECK(a.transport().stats().unattributed.bad_proof >= 2); // a stranger: counted, but no peer entry made
  CHECK(a.transport().connected_peers().empty());
  CHECK(w.transport().connected_peers().empty());
  CHECK_FALSE(a.peer("node-w"));
  CHECK(w.transport().send("node-a", "let me in") == tp::errc::not_connected);
  CHECK(a.transport().send("node-w", "hello?") == tp::errc::not_connected);
  CHECK(a.frame_count() == 0);
  CHECK(w.frame_count() == 0);
}

TEST_CASE("transport: a peer speaking the protocol by hand; bad MACs and replays are dropped", "[unit][transport]") {
  auto a_config = node_config("node-a");
  a_config.ack_timeout_ms = 500;
  cluster_node a(a_config);
  a.start();
  // The hand-rolled peer: a bare CAF node with the cluster secret, following cluster.proto step by step.
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  cfg.set("logger.verbosity", caf::atom("quiet"));
  tp::prepare_actor_system(cfg, node_config("node-r"));
  caf::actor_system sys{cfg};
  auto gate = sys.middleman().remote_actor("127.0.0.1", a.port());
  REQUIRE(gate);
  caf::scoped_actor self{sys};
  auto send = [&](const bento::v1::PeerMessage& m) { self->send(*gate, tp::peer_frame{m.SerializeAsString()}); };

  auto key = tp::derive_cluster_key(cluster_secret);
  tp::transcript t;
  t.initiator_id = "node-r";
  t.responder_id = "node-a";
  t.initiator_nonce = tp::make_nonce();
  t.initiator_address = "127.0.0.1:9"; // a dials it back and fails: nothing listens there
  t.initiator_incarnation = 1;
  t.initiator_instance = 77;
  bento::v1::PeerMessage hello;
  auto* h = hello.mutable_hello();
  h->set_version(tp::protocol_version);
  h->set_node_id(t.initiator_id);
  h->set_nonce(t.initiator_nonce);
  h->set_address(t.initiator_address);
  h->set_incarnation(1);
  h->set_instance(77);
  send(hello);
  bento::v1::PeerMessage reply;
  self->receive([&](tp::peer_frame& f) { REQUIRE(reply.ParseFromString(f.bytes)); },
                caf::after(std::chrono::seconds(10)) >> [] { FAIL("no challenge"); });
  REQUIRE(reply.has_challenge());
  auto& c = reply.challenge();
  CHECK(c.node_id() == "node-a");
  CHECK(c.initiator_nonce() == t.initiator_nonce);
  t.responder_nonce = c.nonce();
  t.responder_address = c.address();
  t.responder_incarnation = c.incarnation();
  t.responder_instance = c.instance();
  t.session = c.session();
  CHECK(tp::check_proof(key, tp::role::responder, t, c.proof())); // a proved the secret
  bento::v1::PeerMessage proof;
  proof.mutable_proof()->set_session(t.session);
  proof.mutable_proof()->set_proof(tp::make_proof(key, tp::role::initiator, t));
  send(proof);

  auto keys = tp::derive_session_keys(*key, t);
  auto sealed = [&](uint64_t seq, const std::string& body, bool good_mac) {
    bento::v1::PeerMessage m;
    auto* x = m.mutable_sealed();
    x->set_session(t.session);
    x->set_seq(seq);
    x->set_channel(bento::v1::CHANNEL_DATA);
    x->set_body(body);
    auto mac = tp::seal_mac(keys.initiator_to_responder, t.session, seq, 0, bento::v1::CHANNEL_DATA, body);
    if (!good_mac)
      mac[0] ^= 1;
    x->set_mac(mac);
    return m;
  };
  send(sealed(1, "first", true));
  send(sealed(2, "forged", false));     // bad MAC
  send(sealed(1, "first", true));       // replay of frame 1
  send(sealed(3, "second", true));
  REQUIRE(a.wait_frames(2));
  REQUIRE(eventually([&] {
    auto p = a.peer("node-r");
    return p && p->counters.bad_mac == 1 && p->counters.replayed == 1;
  }));
  auto frames = a.frames();
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].from == "node-r");
  CHECK(frames[0].bytes == "first");
  CHECK(frames[1].bytes == "second");
  CHECK(a.peer("node-r")->counters.frames_received == 2);

  // Replaying the recorded handshake gets nowhere: the replayed Hello draws a fresh challenge (new nonce, new
  // session), the recorded proof fails against it, and the recorded Proof names a session that waits no more.
  auto handshakes = a.peer("node-r")->counters.handshakes;
  send(hello);
  bento::v1::PeerMessage again;
  self->receive([&](tp::peer_frame& f) { REQUIRE(again.ParseFromString(f.bytes)); },
                caf::after(std::chrono::seconds(10)) >> [] { FAIL("no second challenge"); });
  REQUIRE(again.has_challenge());
  CHECK(again.challenge().nonce() != t.responder_nonce);
  CHECK(again.challenge().session() != t.session);
  bento::v1::PeerMessage replayed_proof = proof;
  replayed_proof.mutable_proof()->set_session(again.challenge().session());
  send(replayed_proof);
  send(proof);
  REQUIRE(eventually([&] {
    auto p = a.peer("node-r");
    return p->counters.bad_proof == 1 && p->counters.unauthenticated == 1;
  }));
  CHECK(a.peer("node-r")->counters.handshakes == handshakes);

  // a answers on the same session; its frames carry a MAC under the other direction's key.
  REQUIRE(a.transport().send("node-r", "to the hand-rolled peer") == tp::errc::none);
  bool got = false;
  while (!got) {
    bento::v1::PeerMessage m;
    self->receive([&](tp::peer_frame& f) { REQUIRE(m.ParseFromString(f.bytes)); },
                  caf::after(std::chrono::seconds(10)) >> [] { FAIL("nothing from a"); });
    REQUIRE(m.has_sealed());
    auto& x = m.sealed();
    CHECK(tp::check_seal_mac(keys.responder_to_initiator, x.session(), x.seq(), x.ack(), x.channel(), x.body(),
                             x.mac()));
    got = x.channel() == bento::v1::CHANNEL_DATA && x.body() == "to the hand-rolled peer";
  }

  // The peer never acknowledges it, as a node does that lost the session (it was frozen, or its side closed
  // on a connection event a never saw) and drops what comes on it: a closes the session rather than keep
  // sending into it for ever (the chaos rig found a leader's heartbeats going that way for minutes).
  REQUIRE(eventually([&] {
    auto p = a.peer("node-r");
    return p && p->counters.sessions_unacked == 1;
  }));
  auto peers = a.transport().connected_peers();
  CHECK(std::find(peers.begin(), peers.end(), "node-r") == peers.end());
}

TEST_CASE("transport: garbage from strangers and from an authenticated node is dropped and counted",
          "[unit][transport]") {
  auto ca = node_config("node-a");
  ca.frame_max_bytes = 64 * 1024;
  cluster_node a(ca);
  a.start();

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  cfg.set("logger.verbosity", caf::atom("quiet"));
  tp::prepare_actor_system(cfg, node_config("stranger"));
  caf::actor_system sys{cfg};
  auto gate = sys.middleman().remote_actor("127.0.0.1", a.port());
  REQUIRE(gate);
  caf::scoped_actor self{sys};
  auto raw = [&](std::string bytes) { self->send(*gate, tp::peer_frame{std::move(bytes)}); };

  auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  uint64_t malformed = 0;
  for (int i = 0; i < 200; ++i, ++malformed) {
    // Random bytes, starting with a tag byte that can never open a valid PeerMessage kind.
    std::string bytes(1 + rng() % 500, '\0');
    for (auto& b : bytes)
      b = static_cast<char>(rng());
    bytes[0] = static_cast<char>(0x7a); // field 15, length-delimited
    raw(bytes);
  }
  bento::v1::PeerMessage hello;
  auto* h = hello.mutable_hello();
  h->set_version(tp::protocol_version);
  h->set_node_id("stranger");
  h->set_nonce(tp::make_nonce());
  h->set_address("127.0.0.1:9");
  h->set_instance(1);
  auto good = hello.SerializeAsString();
  raw(good.substr(0, good.size() - 3));                         // truncated
  raw(std::string("\x0a\xff\xff\xff\xff\x0f", 6));              // a length of 4 GiB that never comes
  raw(std::string("\x22\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 11)); // a varint length beyond 64 bits
  {
    bento::v1::PeerMessage big;                                 // well formed, but over the frame limit
    auto* x = big.mutable_sealed();
    x->set_session(7);
    x->set_seq(1);
    x->set_body(std::string(ca.frame_max_bytes, 'b'));
    x->set_mac(std::string(tp::seal_bytes, 'm'));
    raw(big.SerializeAsString());
  }
  raw("");                                                      // no kind
  h->set_node_id("../../etc/passwd");                           // absurd field
  raw(hello.SerializeAsString());
  h->set_node_id("stranger");
  h->set_nonce(std::string(1 << 15, 'n'));                      // absurd length
  raw(hello.SerializeAsString());
  malformed += 7;
  // Well-formed, but no handshake behind them: unauthenticated.
  bento::v1::PeerMessage m;
  m.mutable_proof()->set_session(12345);
  m.mutable_proof()->set_proof(std::string(32, 'p'));
  raw(m.SerializeAsString());
  m.Clear();
  auto* x = m.mutable_sealed();
  x->set_session(999);
  x->set_seq(1);
  x->set_channel(bento::v1::CHANNEL_DATA);
  x->set_body("please deliver me");
  x->set_mac(std::string(tp::seal_bytes, 'm'));
  raw(m.SerializeAsString());
  m.Clear();
  auto* c = m.mutable_challenge();
  c->set_version(tp::protocol_version);
  c->set_node_id("stranger");
  c->set_nonce(tp::make_nonce());
  c->set_address("127.0.0.1:9");
  c->set_instance(1);
  c->set_session(5);
  c->set_initiator_nonce(tp::make_nonce());
  raw(m.SerializeAsString());
  // Other CAF messages to the published actor, including the one that kills a CAF actor whatever it does.
  self->send(*gate, 42);
  self->send(*gate, std::string("hello"));
  self->send(*gate, caf::exit_msg{self->address(), caf::exit_reason::kill});
  self->send(*gate, caf::make_error(caf::sec::runtime_error));
  uint64_t foreign = 4;

  REQUIRE(eventually([&] {
    auto s = a.transport().stats();
    return s.unattributed.malformed == malformed && s.unattributed.unauthenticated == 3
           && s.foreign_messages == foreign;
  }));
  CHECK(a.frame_count() == 0);

  // a is fine: a real node still joins and talks to it (so its published actor survived the kill message too).
  cluster_node b(node_config("node-b"));
  b.start();
  REQUIRE(b.transport().add_peer(a.address()));
  REQUIRE(eventually([&] { return a.connected_to("node-b") && b.connected_to("node-a"); }));
  REQUIRE(b.transport().send("node-a", "still there?") == tp::errc::none);
  REQUIRE(a.wait_frames(1));

  // Garbage from the CAF node of an authenticated peer is counted against that peer.
  auto gate_from_b = b.system().middleman().remote_actor("127.0.0.1", a.port());
  REQUIRE(gate_from_b);
  caf::scoped_actor from_b{b.system()};
  for (int i = 0; i < 10; ++i)
    from_b->send(*gate_from_b, tp::peer_frame{std::string("\x7a\x05junk!", 7)});
  from_b->send(*gate_from_b, tp::peer_frame{m.SerializeAsString()}); // a challenge nobody asked for
  REQUIRE(eventually([&] {
    auto p = a.peer("node-b");
    return p && p->counters.malformed == 10 && p->counters.unauthenticated == 1;
  }));
  CHECK(a.transport().stats().unattributed.malformed == malformed);
  CHECK(a.frame_count() == 1);
}

TEST_CASE("transport: a second node with the same id is refused", "[unit][transport]") {
  cluster_node a(node_config("node-a"));
  a.start();
  cluster_node b1(node_config("node-b"));
  b1.start();
  REQUIRE(b1.transport().add_peer(a.address()));
  REQUIRE(eventually([&] { return a.connected_to("node-b") && b1.connected_to("node-a"); }));

  cluster_node b2(node_config("node-b"));
  b2.start();
  REQUIRE(b2.transport().add_peer(a.address()));
  REQUIRE(eventually([&] {
    return a.peer("node-b")->counters.refused >= 2 && b2.transport().stats().total.refused >= 2;
  }));
  // b1 keeps its place and its frames; b2's never arrive.
  CHECK(a.connected_to("node-b"));
  b2.transport().send("node-a", "from b2");
  REQUIRE(b1.transport().send("node-a", "from b1") == tp::errc::none);
  REQUIRE(a.wait_frames(1));
  REQUIRE(eventually([&] { return b2.transport().stats().total.refused >= 3; }));
  for (auto& f : a.frames())
    CHECK(f.bytes == "from b1");

  // A node using a's own id: a refuses it when dialling it, and it refuses a.
  cluster_node a2(node_config("node-a"));
  a2.start();
  auto refused_before = a.transport().stats().total.refused;
  REQUIRE(a.transport().add_peer(a2.address()));
  REQUIRE(a2.transport().add_peer(a.address()));
  REQUIRE(eventually([&] {
    return a.transport().stats().total.refused > refused_before && a2.transport().stats().total.refused >= 1;
  }));
  CHECK(a2.transport().connected_peers().empty());
}

TEST_CASE("transport: send queues stay bounded under a stalled or unreachable peer", "[unit][transport]") {
  auto ca = node_config("node-a");
  ca.window_frames = 8;
  ca.queue_max_frames = 32;
  cluster_node a(ca);
  a.start();

  // Unreachable: nothing to send to, every refusal counted.
  REQUIRE(a.transport().add_peer("127.0.0.1:9"));
  CHECK(a.transport().send("node-nowhere", "x") == tp::errc::not_connected);
  CHECK(a.transport().stats().dropped_unknown_peer == 1);
  REQUIRE(eventually([&] {
    for (auto& p : a.transport().peers())
      if (p.address == "127.0.0.1:9" && p.state == tp::link_state::backoff)
        return true;
    return false;
  }));

  // Stalled: b's actor blocks in its handler on the first frame, so it acknowledges nothing.
  cluster_node b(node_config("node-b"));
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  b.on_frame([&](const std::string&, const std::string&) {
    std::unique_lock lock(m);
    cv.wait_for(lock, 30s, [&] { return release; });
  });
  b.start();
  REQUIRE(a.transport().add_peer(b.address()));
  REQUIRE(eventually([&] { return a.connected_to("node-b"); }));
  // Send until the queue stays full: after each refusal, wait (bounded) for room. Room comes only while frames
  // can leave, and they leave only while the window has room: with b acknowledging nothing, the sender must stop
  // at exactly window + queue frames, however long it waits.
  size_t accepted = 0, refused = 0;
  for (int i = 0; i < 5000; ++i) {
    auto r = a.transport().send("node-b", std::to_string(accepted) + std::string(1000, '.'));
    if (r == tp::errc::none) {
      ++accepted;
      continue;
    }
    REQUIRE(r == tp::errc::queue_full);
    ++refused;
    if (!eventually([&] { return a.peer("node-b")->queued_frames < ca.queue_max_frames; }, 300ms))
      break;
  }
  INFO("accepted " << accepted << " refused " << refused);
  CHECK(accepted == ca.queue_max_frames + ca.window_frames);
  CHECK(a.peer("node-b")->counters.dropped_queue_full == refused);
  CHECK(a.peer("node-b")->queued_frames == ca.queue_max_frames);
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  // Everything accepted arrives, in order, and the queue empties.
  REQUIRE(b.wait_frames(accepted));
  REQUIRE(eventually([&] { return a.peer("node-b")->queued_frames == 0; }));
  auto frames = b.frames();
  REQUIRE(frames.size() == accepted);
  for (size_t i = 0; i < frames.size(); ++i)
    CHECK(frames[i].bytes.substr(0, frames[i].bytes.find('.')) == std::to_string(i));
}

TEST_CASE("transport: a stopped node's peers see it go at once", "[unit][transport]") {
  cluster_node a(node_config("node-a"));
  std::atomic<int> downs{0};
  a.transport().on_peer_down([&](const std::string& peer, uint64_t) {
    if (peer == "node-b")
      ++downs;
  });
  a.start();
  auto b = std::make_unique<cluster_node>(node_config("node-b"));
  b->start();
  REQUIRE(b->transport().add_peer(a.address()));
  REQUIRE(eventually([&] { return a.connected_to("node-b"); }));
  auto t0 = std::chrono::steady_clock::now();
  b->stop();
  REQUIRE(eventually([&] { return downs.load() == 1 && !a.connected_to("node-b"); }, 2s));
  WARN("peer_down after stop: "
       << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
       << " ms");
  CHECK(a.transport().send("node-b", "x") == tp::errc::not_connected);
}

TEST_CASE("transport: loopback throughput", "[unit][transport]") {
  auto ca = node_config("node-a");
  ca.queue_max_frames = 4096;
  cluster_node a(ca);
  a.start();
  cluster_node b(node_config("node-b"));
  b.start();
  REQUIRE(b.transport().add_peer(a.address()));
  REQUIRE(eventually([&] { return a.connected_to("node-b") && b.connected_to("node-a"); }));
  for (size_t size : {100u, 16384u}) {
    size_t n = size == 100 ? 50000 : 5000;
    auto before = b.frame_count();
    std::string payload(size, 'x');
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < n;) {
      auto r = a.transport().send("node-b", payload);
      if (r == tp::errc::none)
        ++i;
      else if (r == tp::errc::queue_full)
        std::this_thread::yield(); // back-pressure: the queue is the limit, the sender waits for room
      else
        FAIL(tp::to_string(r));
    }
    REQUIRE(b.wait_frames(before + n, 60s));
    auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    WARN(size << "-byte frames a->b: " << static_cast<uint64_t>(n / seconds) << " frames/s, "
              << static_cast<uint64_t>(n * size / seconds / 1e6) << " MB/s");
  }
}

TEST_CASE("transport: a node that comes back on another port is dialled there", "[unit][transport]") {
  cluster_node a(node_config("node-a"));
  a.start();
  auto b = std::make_unique<cluster_node>(node_config("node-b"));
  b->start();
  REQUIRE(b->transport().add_peer(a.address()));
  REQUIRE(eventually([&] { return a.connected_to("node-b") && a.peer("node-b")->state == tp::link_state::up; }));
  auto old_address = b->address();
  b->stop();
  REQUIRE(eventually([&] { return a.peer("node-b")->state == tp::link_state::backoff; }));
  auto cb = node_config("node-b");
  cb.incarnation = 2;
  cb.seeds = {a.address()};
  cluster_node b2(cb); // another kernel-chosen port
  b2.start();
  REQUIRE(b2.address() != old_address);
  // b2 dials a; a's own link to node-b follows the new address instead of retrying the old one forever.
  REQUIRE(eventually([&] {
    auto p = a.peer("node-b");
    return p && p->address == b2.address() && p->state == tp::link_state::up && p->incarnation == 2;
  }));
}
