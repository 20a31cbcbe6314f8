#include "cluster/transport/transport_actor.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "bento/v1/cluster.pb.h"
#include "cluster/transport/dialer.hpp"
#include "cluster/transport/handshake.hpp"
#include "cluster/transport/logger.hpp"
#include "cluster/transport/node_address.hpp"
#include "cluster/transport/peer_frame.hpp"
#include "cluster/transport/peer_table.hpp"
#include "cluster/transport/send_window.hpp"
#include "cluster/transport/wire_codec.hpp"

namespace bento::cluster::transport {

namespace {

namespace v1 = bento::v1;
using clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

// Our outbound link to one address: dial (TCP probe), CAF connect, handshake, session; on failure back off and
// start over. The peer behind it may also dial us: either session carries frames.
struct link {
  uint64_t id = 0;
  peer_address address;
  std::string address_text;
  std::string peer_id;          // learned at the first handshake
  link_state state = link_state::idle;
  uint32_t failures = 0;        // since the last session
  uint64_t attempt = 0;         // stamps timers and replies, so that stale ones are ignored
  caf::strong_actor_ptr remote; // the peer's gate, once connected
  std::string hello_nonce;      // while handshaking
  uint64_t session = 0;         // while up
};

// We are the responder and wait for the initiator's proof.
struct pending_handshake {
  transcript t;
  caf::strong_actor_ptr remote;
  clock::time_point deadline;
};

struct session {
  session(const transport_config& cfg)
    : window(cfg.window_frames, cfg.window_bytes, cfg.priority_queue_frames) {}

  uint64_t id = 0;
  role ours = role::initiator;
  std::string peer_id;
  caf::strong_actor_ptr remote;
  secret_key send_key{};
  secret_key receive_key{};
  send_window window;
  uint64_t received = 0;       // highest sequence number accepted from the peer
  uint32_t unacked_frames = 0; // delivered since our last ack
  uint64_t unacked_bytes = 0;
  uint64_t link = 0;           // the outbound link that opened it; 0 when the peer dialled us
  clock::time_point ack_progress{}; // when frames were last acked, or the window last went from empty to not
};

struct peer {
  std::string id;
  std::string address;
  uint64_t instance = 0;
  uint64_t incarnation = 0;
  std::vector<uint64_t> sessions;
  clock::time_point last_heard{};
  bool up = false;
};

v1::Channel to_wire(channel ch) {
  return ch == channel::membership ? v1::CHANNEL_MEMBERSHIP : v1::CHANNEL_DATA;
}

class transport_actor : public caf::event_based_actor {
public:
  transport_actor(caf::actor_config& cfg, transport_actor_args args)
    : caf::event_based_actor(cfg),
      cfg_(std::move(args.cfg)),
      instance_(args.instance),
      connector_(std::move(args.connector)),
      table_(std::move(args.table)),
      dial_(std::move(args.dial)),
      handlers_(std::move(args.handlers)),
      key_(derive_cluster_key(cfg_.secret)),
      rng_(std::random_device{}()) {
    // The secret itself is not needed any more: only the derived key is kept.
    std::fill(cfg_.secret.begin(), cfg_.secret.end(), '\0');
    cfg_.secret.clear();
  }

  const char* name() const override { return "bento.transport"; }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& dm) { on_down(dm.source); });
    // Only our own node can reach this actor (see peer_gate.hpp), but stay up for anything but stop().
    set_error_handler([](caf::error&) {});
    set_default_handler(caf::drop);
    return {
      [this](init_atom, caf::strong_actor_ptr& gate, std::string& advertise) {
        gate_ = std::move(gate);
        advertise_ = std::move(advertise);
        started_ = true;
        for (auto& [id, l] : links_)
          if (l.state == link_state::idle)
            dial(l);
        delayed_send(this, ms(cfg_.tick_ms), tick_atom::value);
      },
      [this](add_peer_atom, std::string& address, std::string& expected_id) { add_link(address, expected_id); },
      [this](drain_atom) { drain(); },
      [this](dialed_atom, uint64_t link_id, uint64_t attempt, bool ok, std::string& error) {
        on_dialed(link_id, attempt, ok, error);
      },
      [this](retry_atom, uint64_t link_id, uint64_t attempt) {
        auto l = find_link(link_id, attempt);
        if (l && l->state == link_state::backoff)
          dial(*l);
      },
      [this](handshake_timeout_atom, uint64_t link_id, uint64_t attempt) {
        auto l = find_link(link_id, attempt);
        if (l && l->state == link_state::handshaking)
          fail(*l, "handshake timeout");
      },
      [this](tick_atom) {
        tick();
        delayed_send(this, ms(cfg_.tick_ms), tick_atom::value);
      },
      [this](peer_frame& f) { on_frame(f); },
    };
  }

  void on_exit() override {
    // Drops everything that refers to other actors or to the owner's objects: the handlers, every remote
    // handle, the gate, CAF's middleman actor. A reference kept past this point keeps a detached CAF actor from
    // being destroyed, and the actor system's shutdown waits for it forever.
    handlers_ = {};
    sessions_.clear();
    pending_.clear();
    links_.clear();
    hello_links_.clear();
    by_node_.clear();
    gate_ = nullptr;
    connector_ = nullptr;
    dial_.reset();
  }

private:
  // -- links -------------------------------------------------------------------------------------------------

  link* find_link(uint64_t id, uint64_t attempt) {
    auto i = links_.find(id);
    return i != links_.end() && i->second.attempt == attempt ? &i->second : nullptr;
  }

  link* link_to_peer(const std::string& peer_id) {
    for (auto& [id, l] : links_)
      if (l.peer_id == peer_id && l.state != link_state::alias && l.state != link_state::self)
        return &l;
    return nullptr;
  }

  void add_link(const std::string& address, const std::string& expected_id) {
    auto parsed = parse_address(address);
    if (!parsed)
      return;
    auto text = to_string(*parsed);
    if (link_by_address_.count(text) != 0)
      return;
    if (!expected_id.empty() && (expected_id == cfg_.node_id || link_to_peer(expected_id) != nullptr))
      return;
    if (links_.size() >= cfg_.max_peers) {
      log_limited("cluster.peers_over_limit", [&] {
        spdlog::warn("cluster.peers_over_limit address={} max={}", text, cfg_.max_peers);
      });
      return;
    }
    auto id = next_link_id_++;
    auto& l = links_[id];
    l.id = id;
    l.address = *parsed;
    l.address_text = text;
    l.peer_id = expected_id;
    link_by_address_[text] = id;
    if (started_ && text == advertise_) {
      set_state(l, link_state::self);
      return;
    }
    set_state(l, link_state::idle);
    if (started_)
      dial(l);
  }

  void retarget(link& l, const std::string& address) {
    auto parsed = parse_address(address);
    if (!parsed)
      return;
    auto text = to_string(*parsed);
    if (text == l.address_text || link_by_address_.count(text) != 0)
      return;
    spdlog::info("cluster.link_moved peer={} from={} to={}", l.peer_id, l.address_text, text);
    link_by_address_.erase(l.address_text);
    link_by_address_[text] = l.id;
    l.address = *parsed;
    l.address_text = text;
    l.failures = 0;
    dial(l); // the pending retry of the old address is stale now (dial() moves the attempt on)
  }

  void set_state(link& l, link_state s) {
    l.state = s;
    table_->set_link(l.address_text, l.peer_id, s);
  }

  void dial(link& l) {
    auto attempt = ++l.attempt;
    set_state(l, link_state::connecting);
    // Weak: a probe still queued when the transport stops must not keep this actor (and through it CAF's
    // middleman actor, whose thread the actor system's shutdown waits for) alive.
    auto self = caf::actor_cast<caf::weak_actor_ptr>(this);
    auto id = l.id;
    dial_->probe(l.address.host, l.address.port, ms(cfg_.connect_timeout_ms),
                 [self, id, attempt](bool ok, const std::string& error) {
                   if (auto strong = self.lock())
                     caf::anon_send(caf::actor_cast<caf::actor>(strong), dialed_atom::value, id, attempt, ok, error);
                 });
  }

  void on_dialed(uint64_t link_id, uint64_t attempt, bool ok, const std::string& error) {
    auto l = find_link(link_id, attempt);
    if (!l || l->state != link_state::connecting)
      return;
    if (!ok) {
      fail(*l, error.c_str());
      return;
    }
    // The address just accepted a TCP connection, so CAF's blocking connect returns at once (dialer.hpp).
    request(connector_, ms(cfg_.connect_timeout_ms), caf::connect_atom::value, l->address.host, l->address.port)
      .then(
        [this, link_id, attempt](caf::node_id&, caf::strong_actor_ptr& remote, std::set<std::string>&) {
          on_connected(link_id, attempt, std::move(remote));
        },
        [this, link_id, attempt](caf::error& err) {
          if (auto l = find_link(link_id, attempt); l && l->state == link_state::connecting)
            fail(*l, home_system().render(err).c_str());
        });
  }

  void on_connected(uint64_t link_id, uint64_t attempt, caf::strong_actor_ptr remote) {
    auto l = find_link(link_id, attempt);
    if (!l || l->state != link_state::connecting)
      return;
    if (!remote) {
      fail(*l, "no actor published at that port");
      return;
    }
    if (remote->node() == home_system().node()) {
      // CAF hands back our own gate when the address is ours: a seed list naming every node does that.
      spdlog::info("cluster.link_self address={}", l->address_text);
      set_state(*l, link_state::self);
      return;
    }
    l->remote = remote;
    watch(remote);
    l->hello_nonce = make_nonce();
    hello_links_[l->hello_nonce] = l->id;
    v1::PeerMessage m;
    auto* h = m.mutable_hello();
    h->set_version(protocol_version);
    h->set_node_id(cfg_.node_id);
    h->set_nonce(l->hello_nonce);
    h->set_address(advertise_);
    h->set_incarnation(cfg_.incarnation);
    h->set_instance(instance_);
    send_raw(remote, m);
    set_state(*l, link_state::handshaking);
    delayed_send(this, ms(cfg_.handshake_timeout_ms), handshake_timeout_atom::value, l->id, attempt);
  }

  void fail(link& l, const char* reason) {
    if (!l.hello_nonce.empty()) {
      hello_links_.erase(l.hello_nonce);
      l.hello_nonce.clear();
    }
    bool was_up = l.state == link_state::up;
    auto attempt = ++l.attempt;
    set_state(l, link_state::backoff);
    l.remote = nullptr;
    if (l.session != 0) {
      auto sid = l.session;
      l.session = 0;
      close_session(sid, reason);
    }
    ++l.failures;
    table_->count(l.peer_id, &peer_counters::link_failures);
    auto exp = std::min<uint32_t>(l.failures - 1, 20);
    auto base = std::min<uint64_t>(cfg_.backoff_max_ms, uint64_t{cfg_.backoff_min_ms} << exp);
    auto delay = std::uniform_int_distribution<uint64_t>(base / 2, std::max<uint64_t>(base, 1))(rng_);
    if (was_up || l.failures == 1)
      spdlog::info("cluster.link_down address={} peer={} reason={} retry_ms={}", l.address_text, l.peer_id, reason,
                   delay);
    else
      spdlog::debug("cluster.link_retry address={} peer={} reason={} failures={} retry_ms={}", l.address_text,
                    l.peer_id, reason, l.failures, delay);
    delayed_send(this, ms(delay), retry_atom::value, l.id, attempt);
  }

  // -- frames in ---------------------------------------------------------------------------------------------

  void on_frame(peer_frame& f) {
    auto from = current_sender();
    v1::PeerMessage m;
    auto verdict = decode_peer_message(f.bytes, cfg_.frame_max_bytes, m);
    if (verdict != wire_verdict::ok) {
      auto who = attribute(from);
      table_->count(who, &peer_counters::malformed);
      log_limited("cluster.malformed_frame", [&] {
        spdlog::warn("cluster.malformed_frame peer={} reason={} bytes={}", who.empty() ? "(unknown)" : who,
                     to_string(verdict), f.bytes.size());
      });
      return;
    }
    switch (m.kind_case()) {
      case v1::PeerMessage::kHello: on_hello(m.hello(), from); break;
      case v1::PeerMessage::kChallenge: on_challenge(m.challenge(), from); break;
      case v1::PeerMessage::kProof: on_proof(m.proof(), from); break;
      case v1::PeerMessage::kSealed: on_sealed(*m.mutable_sealed(), from); break;
      case v1::PeerMessage::KIND_NOT_SET: break; // decode_peer_message refused it already
    }
  }

  void unauthenticated(const caf::strong_actor_ptr& from, const char* what) {
    auto who = attribute(from);
    table_->count(who, &peer_counters::unauthenticated);
    log_limited("cluster.unauthenticated_frame", [&] {
      spdlog::warn("cluster.unauthenticated_frame peer={} kind={}", who.empty() ? "(unknown)" : who, what);
    });
  }

  void on_hello(const v1::Hello& h, const caf::strong_actor_ptr& from) {
    if (!from) {
      unauthenticated(from, "anonymous hello");
      return;
    }
    // Bounded: a stranger can fill this table but only push out the oldest entries (and those expire anyway).
    while (pending_.size() >= cfg_.max_pending_handshakes) {
      auto oldest = std::min_element(pending_.begin(), pending_.end(), [](auto& a, auto& b) {
        return a.second.deadline < b.second.deadline;
      });
      pending_.erase(oldest);
    }
    transcript t;
    t.initiator_id = h.node_id();
    t.responder_id = cfg_.node_id;
    t.initiator_nonce = h.nonce();
    t.responder_nonce = make_nonce();
    t.initiator_address = h.address();
    t.responder_address = advertise_;
    t.initiator_incarnation = h.incarnation();
    t.responder_incarnation = cfg_.incarnation;
    t.initiator_instance = h.instance();
    t.responder_instance = instance_;
    do
      t.session = random_nonzero_u64();
    while (sessions_.count(t.session) != 0 || pending_.count(t.session) != 0);
    v1::PeerMessage m;
    auto* c = m.mutable_challenge();
    c->set_version(protocol_version);
    c->set_node_id(cfg_.node_id);
    c->set_nonce(t.responder_nonce);
    c->set_address(advertise_);
    c->set_incarnation(cfg_.incarnation);
    c->set_instance(instance_);
    c->set_session(t.session);
    c->set_proof(make_proof(key_, role::responder, t));
    c->set_initiator_nonce(h.nonce());
    pending_[t.session] = pending_handshake{std::move(t), from, clock::now() + ms(cfg_.handshake_timeout_ms)};
    send_raw(from, m);
  }

  void on_challenge(const v1::Challenge& c, const caf::strong_actor_ptr& from) {
    auto i = hello_links_.find(c.initiator_nonce());
    if (i == hello_links_.end()) {
      unauthenticated(from, "challenge without hello");
      return;
    }
    auto& l = links_.at(i->second);
    if (!same_actor(from, l.remote)) {
      unauthenticated(from, "challenge from another node");
      return;
    }
    hello_links_.erase(i);
    transcript t;
    t.initiator_id = cfg_.node_id;
    t.responder_id = c.node_id();
    t.initiator_nonce = l.hello_nonce;
    t.responder_nonce = c.nonce();
    t.initiator_address = advertise_;
    t.responder_address = c.address();
    t.initiator_incarnation = cfg_.incarnation;
    t.responder_incarnation = c.incarnation();
    t.initiator_instance = instance_;
    t.responder_instance = c.instance();
    t.session = c.session();
    l.hello_nonce.clear();
    auto remote = l.remote;
    if (!check_proof(key_, role::responder, t, c.proof())) {
      // Our proof goes back all the same, so that the other end sees (and counts) the mismatch too. It is worth
      // nothing elsewhere: it is bound to this transcript, whose nonce of ours is never used again.
      send_proof(remote, t);
      bad_proof(l.peer_id.empty() ? known(c.node_id()) : l.peer_id, "initiator", l.address_text, c.node_id());
      fail(l, "bad proof");
      return;
    }
    if (auto why = refusal_reason(c.node_id(), c.instance(), t.session); !why.empty()) {
      refused(c.node_id(), l.address_text, why);
      fail(l, why.c_str());
      return;
    }
    if (auto other = link_to_peer(c.node_id()); other && other != &l && other->state == link_state::up) {
      // Two addresses lead to one node (a seed by name and the address it advertises): keep the first.
      l.peer_id = c.node_id();
      l.remote = nullptr;
      set_state(l, link_state::alias);
      spdlog::info("cluster.link_alias address={} peer={} kept={}", l.address_text, c.node_id(),
                   other->address_text);
      return;
    }
    send_proof(remote, t);
    l.peer_id = c.node_id();
    l.failures = 0;
    if (establish(t, role::initiator, remote, l.id)) {
      l.session = t.session;
      set_state(l, link_state::up);
    } else {
      fail(l, "peer limit");
    }
  }

  void send_proof(const caf::strong_actor_ptr& to, const transcript& t) {
    v1::PeerMessage m;
    auto* p = m.mutable_proof();
    p->set_session(t.session);
    p->set_proof(make_proof(key_, role::initiator, t));
    send_raw(to, m);
  }

  void on_proof(const v1::Proof& p, const caf::strong_actor_ptr& from) {
    auto i = pending_.find(p.session());
    if (i == pending_.end()) {
      unauthenticated(from, "proof without challenge");
      return;
    }
    if (!same_actor(from, i->second.remote)) {
      unauthenticated(from, "proof from another node");
      return;
    }
    auto t = std::move(i->second.t);
    auto remote = std::move(i->second.remote);
    pending_.erase(i);
    if (!check_proof(key_, role::initiator, t, p.proof())) {
      bad_proof(known(t.initiator_id), "responder", t.initiator_address, t.initiator_id);
      return;
    }
    if (auto why = refusal_reason(t.initiator_id, t.initiator_instance, t.session); !why.empty()) {
      refused(t.initiator_id, t.initiator_address, why);
      send_refusal(t, remote, why);
      return;
    }
    establish(t, role::responder, remote, 0);
  }

  void on_sealed(v1::Sealed& x, const caf::strong_actor_ptr& from) {
    auto i = sessions_.find(x.session());
    if (i == sessions_.end()) {
      unauthenticated(from, "sealed frame of no session");
      return;
    }
    auto& s = i->second;
    if (x.seq() <= s.received) {
      table_->count(s.peer_id, &peer_counters::replayed);
      log_limited("cluster.replayed_frame", [&] {
        spdlog::warn("cluster.replayed_frame peer={} seq={} last={}", s.peer_id, x.seq(), s.received);
      });
      return;
    }
    if (!check_seal_mac(s.receive_key, s.id, x.seq(), x.ack(), x.channel(), x.body(), x.mac())) {
      table_->count(s.peer_id, &peer_counters::bad_mac);
      log_limited("cluster.bad_mac", [&] { spdlog::warn("cluster.bad_mac peer={} seq={}", s.peer_id, x.seq()); });
      return;
    }
    s.received = x.seq();
    auto now = clock::now();
    auto peer_id = s.peer_id; // s may go away in a handler below
    auto& p = peers_[peer_id];
    p.last_heard = now;
    auto waiting_before = s.window.frames_in_flight();
    s.window.acked(x.ack());
    bool window_opened = s.window.frames_in_flight() < waiting_before;
    if (window_opened)
      s.ack_progress = now;
    auto sid = s.id;
    switch (x.channel()) {
      case v1::CHANNEL_CONTROL:
        table_->heard(peer_id, now, false, 0);
        if (!x.body().empty())
          on_control(sid, x.body());
        break;
      case v1::CHANNEL_MEMBERSHIP:
      case v1::CHANNEL_DATA: {
        auto size = x.body().size();
        table_->heard(peer_id, now, true, size);
        ++s.unacked_frames;
        s.unacked_bytes += size;
        auto& handler = x.channel() == v1::CHANNEL_DATA ? handlers_.data : handlers_.membership;
        if (handler)
          handler(peer_id, std::move(*x.mutable_body()));
        // Acknowledge in batches: a quarter of the window, or on the next tick.
        if (auto j = sessions_.find(sid); j != sessions_.end()) {
          auto& s2 = j->second;
          if (s2.unacked_frames >= std::max<uint32_t>(1, cfg_.window_frames / 4)
              || s2.unacked_bytes >= cfg_.window_bytes / 4)
            send_sealed(s2, v1::CHANNEL_CONTROL, {}, false);
        }
        break;
      }
      default:
        break; // decode_peer_message refused unknown channels
    }
    if (window_opened)
      drain_peer(peer_id);
  }

  void on_control(uint64_t sid, const std::string& body) {
    auto& s = sessions_.at(sid);
    v1::LinkControl c;
    if (!c.ParseFromString(body) || c.kind_case() != v1::LinkControl::kRefusal) {
      table_->count(s.peer_id, &peer_counters::malformed);
      return;
    }
    auto reason = c.refusal().reason().substr(0, 200);
    table_->count(s.peer_id, &peer_counters::refused);
    log_limited("cluster.refused_by_peer", [&] {
      spdlog::error("cluster.refused_by_peer peer={} reason={}", s.peer_id, reason);
    });
    if (s.link != 0) {
      if (auto l = links_.find(s.link); l != links_.end() && l->second.session == sid) {
        fail(l->second, "refused by peer");
        return;
      }
    }
    close_session(sid, "refused by peer");
  }

  // -- sessions ----------------------------------------------------------------------------------------------

  /// Why a handshake with `id` (process `instance`) cannot become a session, or empty.
  std::string refusal_reason(const std::string& id, uint64_t instance, uint64_t session_id) {
    if (id == cfg_.node_id)
      return "duplicate node id (this node's own)";
    if (sessions_.count(session_id) != 0)
      return "session id in use";
    auto p = peers_.find(id);
    if (p == peers_.end() || p->second.instance == 0 || p->second.instance == instance || p->second.sessions.empty())
      return {};
    // Another process holds this id. A restart is accepted once the old process's link closed or it went quiet;
    // while it is live, the newcomer is a second node with the same id.
    if (clock::now() - p->second.last_heard >= ms(cfg_.duplicate_grace_ms))
      return {};
    return "duplicate node id (another live node uses it)";
  }

  bool establish(const transcript& t, role ours, const caf::strong_actor_ptr& remote, uint64_t link_id) {
    bool initiator = ours == role::initiator;
    const auto& pid = initiator ? t.responder_id : t.initiator_id;
    if (!table_->ensure_peer(pid)) {
      log_limited("cluster.peers_over_limit", [&] {
        spdlog::warn("cluster.peers_over_limit peer={} max={}", pid, cfg_.max_peers);
      });
      return false;
    }
    auto instance = initiator ? t.responder_instance : t.initiator_instance;
    auto incarnation = initiator ? t.responder_incarnation : t.initiator_incarnation;
    const auto& address = initiator ? t.responder_address : t.initiator_address;
    auto& p = peers_[pid];
    p.id = pid;
    if (p.instance != 0 && p.instance != instance) {
      auto old = p.sessions;
      for (auto sid : old)
        close_session(sid, "replaced by a new instance of the node");
    }
    for (auto sid : std::vector<uint64_t>(p.sessions))
      if (auto j = sessions_.find(sid); j != sessions_.end() && j->second.ours == ours)
        close_session(sid, "replaced by a new session");
    auto keys = derive_session_keys(*key_, t);
    auto [it, inserted] = sessions_.emplace(t.session, session{cfg_});
    auto& s = it->second;
    s.id = t.session;
    s.ours = ours;
    s.peer_id = pid;
    s.remote = remote;
    s.send_key = initiator ? keys.initiator_to_responder : keys.responder_to_initiator;
    s.receive_key = initiator ? keys.responder_to_initiator : keys.initiator_to_responder;
    s.link = link_id;
    p.sessions.push_back(s.id);
    p.instance = instance;
    p.incarnation = incarnation;
    p.address = address;
    p.last_heard = clock::now();
    watch(remote);
    by_node_[remote->node()] = pid;
    table_->set_identity(pid, address, incarnation);
    table_->set_connected(pid, true);
    table_->count(pid, &peer_counters::handshakes);
    spdlog::info("cluster.session_up peer={} address={} role={} incarnation={}", pid, address,
                 initiator ? "initiator" : "responder", incarnation);
    if (!p.up) {
      p.up = true;
      for (auto& up : handlers_.peer_up)
        up(pid, incarnation);
    }
    // The peer may have dialled us; we dial it too (its Hello named its address), so that each side has a link
    // of its own that it keeps up. A link that keeps failing on an old address (the node came back on another
    // port or host) follows the address the node now gives.
    if (auto l = link_to_peer(pid); !l)
      add_link(address, pid);
    else if (l->state == link_state::backoff)
      retarget(*l, address);
    return true;
  }

  void close_session(uint64_t sid, const char* reason) {
    auto i = sessions_.find(sid);
    if (i == sessions_.end())
      return;
    auto pid = i->second.peer_id;
    auto link_id = i->second.link;
    sessions_.erase(i);
    table_->count(pid, &peer_counters::sessions_closed);
    auto& p = peers_[pid];
    p.sessions.erase(std::remove(p.sessions.begin(), p.sessions.end(), sid), p.sessions.end());
    if (link_id != 0)
      if (auto l = links_.find(link_id); l != links_.end() && l->second.session == sid) {
        l->second.session = 0;
        if (l->second.state == link_state::up)
          fail(l->second, reason);
      }
    if (p.sessions.empty() && p.up) {
      p.up = false;
      table_->set_connected(pid, false);
      spdlog::info("cluster.peer_disconnected peer={} reason={}", pid, reason);
      for (auto& down : handlers_.peer_down)
        down(pid, p.incarnation);
    }
  }

  /// Both ends prefer the session opened by the node with the smaller id, so that acks ride on data.
  session* send_session(const peer& p) {
    auto preferred = cfg_.node_id < p.id ? role::initiator : role::responder;
    session* any = nullptr;
    for (auto sid : p.sessions) {
      auto i = sessions_.find(sid);
      if (i == sessions_.end())
        continue;
      if (i->second.ours == preferred)
        return &i->second;
      any = &i->second;
    }
    return any;
  }

  void on_down(const caf::actor_addr& who) {
    watched_.erase(who);
    std::vector<uint64_t> dead;
    for (auto& [sid, s] : sessions_)
      if (s.remote && s.remote->address() == who)
        dead.push_back(sid);
    for (auto sid : dead)
      close_session(sid, "connection closed");
    for (auto& [id, l] : links_)
      if (l.remote && l.remote->address() == who
          && (l.state == link_state::handshaking || l.state == link_state::up))
        fail(l, "connection closed");
    for (auto i = pending_.begin(); i != pending_.end();)
      i = i->second.remote && i->second.remote->address() == who ? pending_.erase(i) : std::next(i);
  }

  // -- frames out --------------------------------------------------------------------------------------------

  void send_raw(const caf::strong_actor_ptr& to, const v1::PeerMessage& m) {
    // Sent with the gate as sender: CAF registers a sender where remote nodes can address it, and only the gate
    // may be addressable (peer_gate.hpp).
    to->enqueue(caf::make_mailbox_element(gate_, caf::make_message_id(), {}, peer_frame{encode(m)}), context());
  }

  void send_sealed(session& s, v1::Channel ch, std::string body, bool track) {
    auto seq = s.window.next_seq();
    if (track) {
      if (s.window.frames_in_flight() == 0)
        s.ack_progress = clock::now();
      s.window.track(seq, body.size());
    }
    seal_and_send(s, seq, ch, std::move(body));
  }

  void seal_and_send(session& s, uint64_t seq, v1::Channel ch, std::string body) {
    v1::PeerMessage m;
    auto* x = m.mutable_sealed();
    x->set_session(s.id);
    x->set_seq(seq);
    x->set_ack(s.received);
    x->set_channel(ch);
    x->set_mac(seal_mac(s.send_key, s.id, seq, s.received, static_cast<uint32_t>(ch), body));
    x->set_body(std::move(body));
    s.unacked_frames = 0;
    s.unacked_bytes = 0;
    send_raw(s.remote, m);
  }

  void send_refusal(const transcript& t, const caf::strong_actor_ptr& to, const std::string& reason) {
    auto keys = derive_session_keys(*key_, t);
    v1::LinkControl c;
    c.mutable_refusal()->set_reason(reason);
    auto body = c.SerializeAsString();
    v1::PeerMessage m;
    auto* x = m.mutable_sealed();
    x->set_session(t.session);
    x->set_seq(1);
    x->set_ack(0);
    x->set_channel(v1::CHANNEL_CONTROL);
    x->set_mac(seal_mac(keys.responder_to_initiator, t.session, 1, 0, v1::CHANNEL_CONTROL, body));
    x->set_body(std::move(body));
    send_raw(to, m);
  }

  void drain() {
    table_->begin_drain();
    for (auto& id : table_->peers_with_frames())
      drain_peer(id);
  }

  void drain_peer(const std::string& id) {
    auto p = peers_.find(id);
    if (p == peers_.end() || !p->second.up)
      return;
    auto s = send_session(p->second);
    if (!s)
      return;
    std::vector<uint64_t> seqs;
    auto frames = table_->take(id, [&](size_t bytes, bool membership) {
      if (!s->window.fits(bytes, membership))
        return false;
      auto seq = s->window.next_seq();
      if (s->window.frames_in_flight() == 0)
        s->ack_progress = clock::now();
      s->window.track(seq, bytes);
      seqs.push_back(seq);
      return true;
    });
    uint64_t bytes = 0;
    for (size_t k = 0; k < frames.size(); ++k) {
      bytes += frames[k].bytes.size();
      seal_and_send(*s, seqs[k], to_wire(frames[k].ch), std::move(frames[k].bytes));
    }
    if (!frames.empty()) {
      table_->count(id, &peer_counters::frames_sent, frames.size());
      table_->count(id, &peer_counters::bytes_sent, bytes);
    }
  }

  void tick() {
    auto now = clock::now();
    for (auto i = pending_.begin(); i != pending_.end();)
      i = i->second.deadline <= now ? pending_.erase(i) : std::next(i);
    // Acks that did not fill a batch go now, so that a sender's window never waits on a quiet receiver.
    for (auto& [sid, s] : sessions_)
      if (s.unacked_frames > 0)
        send_sealed(s, v1::CHANNEL_CONTROL, {}, false);
    std::vector<uint64_t> silent;
    for (auto& [sid, s] : sessions_)
      if (s.window.frames_in_flight() > 0 && now - s.ack_progress > ms(cfg_.ack_timeout_ms))
        silent.push_back(sid);
    for (auto sid : silent) {
      auto& s = sessions_.at(sid);
      auto peer = s.peer_id;
      spdlog::info("cluster.session_unacknowledged peer={} frames={} hint=\"closed; the link redials\"", peer,
                   s.window.frames_in_flight());
      close_session(sid, "no acknowledgement");
      // Counted once closed, so that whoever sees the count also sees the peer gone.
      table_->count(peer, &peer_counters::sessions_unacked);
    }
  }

  // -- helpers -----------------------------------------------------------------------------------------------

  void watch(const caf::strong_actor_ptr& remote) {
    if (watched_.insert(remote->address()).second)
      monitor(remote);
  }

  static bool same_actor(const caf::strong_actor_ptr& a, const caf::strong_actor_ptr& b) {
    return a && b && a->address() == b->address();
  }

  /// The peer a frame came from, by its CAF node, for counting only (never for trust: the MAC decides that).
  std::string attribute(const caf::strong_actor_ptr& from) const {
    if (!from)
      return {};
    auto i = by_node_.find(from->node());
    return i == by_node_.end() ? std::string{} : i->second;
  }

  /// `id` if it is a peer we know, else empty (counts go to `unattributed`): strangers choose their claimed ids.
  std::string known(const std::string& id) const { return peers_.count(id) != 0 ? id : std::string{}; }

  void bad_proof(const std::string& count_as, const char* our_role, const std::string& address,
                 const std::string& claimed_id) {
    table_->count(count_as, &peer_counters::bad_proof);
    log_limited("cluster.bad_proof", [&] {
      spdlog::warn("cluster.bad_proof our_role={} address={} claimed_id={} hint={}", our_role, address, claimed_id,
                   key_ ? "BENTO_CLUSTER_SECRET differs between the nodes"
                        : "this node has no BENTO_CLUSTER_SECRET");
    });
  }

  void refused(const std::string& id, const std::string& address, const std::string& why) {
    table_->count(known(id), &peer_counters::refused);
    log_limited("cluster.refused", [&] {
      spdlog::error("cluster.refused peer={} address={} reason={}", id, address, why);
    });
  }

  template <class F>
  void log_limited(const std::string& event, F&& write) {
    uint64_t suppressed = 0;
    if (limiter_.allow(event, clock::now(), suppressed)) {
      if (suppressed > 0)
        spdlog::warn("cluster.log_suppressed event={} count={}", event, suppressed);
      write();
    }
  }

  transport_config cfg_;
  uint64_t instance_;
  caf::actor connector_;
  std::shared_ptr<peer_table> table_;
  std::shared_ptr<dialer> dial_;
  transport_handlers handlers_;
  std::optional<secret_key> key_;
  std::minstd_rand rng_;
  caf::strong_actor_ptr gate_;
  std::string advertise_;
  bool started_ = false;

  std::map<uint64_t, link> links_;
  std::map<std::string, uint64_t> link_by_address_;
  std::map<std::string, uint64_t> hello_links_; // our Hello nonce -> link
  uint64_t next_link_id_ = 1;
  std::map<uint64_t, pending_handshake> pending_;
  std::map<uint64_t, session> sessions_;
  std::map<std::string, peer> peers_;
  std::map<caf::node_id, std::string> by_node_;
  std::set<caf::actor_addr> watched_;
  log_limiter limiter_;
};

} // namespace

caf::actor spawn_transport_actor(caf::actor_system& sys, transport_actor_args args) {
  return sys.spawn<transport_actor>(std::move(args));
}

} // namespace bento::cluster::transport
