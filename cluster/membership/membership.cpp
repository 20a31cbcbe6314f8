#include "cluster/membership/membership.hpp"

#include <map>
#include <mutex>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <spdlog/spdlog.h>

#include "bento/v1/cluster.pb.h"
#include "cluster/transport/node_address.hpp"
#include "cluster/transport/transport.hpp"

namespace bento::cluster::membership {

namespace {

using beat_atom = caf::atom_constant<caf::atom("mb_beat")>;
using clock = std::chrono::steady_clock;

} // namespace

struct membership::impl : std::enable_shared_from_this<impl> {
  impl(caf::actor_system& s, transport::transport& tr, membership_config c)
    : sys(s), t(tr), cfg(c), detector(c.suspect_after, c.down_after) {}

  caf::actor_system& sys;
  transport::transport& t;
  membership_config cfg;

  mutable std::mutex mutex;
  failure_detector detector;                    // guarded by mutex
  std::map<std::string, std::string> addresses; // id -> address, guarded by mutex
  std::map<std::string, std::string> client_addresses; // id -> client-protocol address, guarded by mutex
  std::map<std::string, bool> formed_at_link_up;       // id -> its first self-report per link, guarded by mutex
  membership_stats counters;                    // guarded by mutex
  uint64_t beats = 0;                           // timer actor only
  clock::time_point next_heartbeat{};           // timer actor only

  // User callbacks run under callback_mutex, and only while !stopped: stop() takes it to wait out a running one.
  std::mutex callback_mutex;
  bool stopped = false; // guarded by callback_mutex
  payload_provider provider;
  payload_handler on_payload;
  change_handler on_change;

  caf::actor timer;

  void on_frame(const std::string& from, std::string bytes) {
    bento::v1::MembershipMessage m;
    if (!m.ParseFromString(bytes)) {
      std::lock_guard lock(mutex);
      ++counters.malformed;
      return;
    }
    switch (m.kind_case()) {
      case bento::v1::MembershipMessage::kHeartbeat: on_heartbeat(from, *m.mutable_heartbeat()); break;
      case bento::v1::MembershipMessage::kMembers: on_members(from, m.members()); break;
      default: {
        std::lock_guard lock(mutex);
        ++counters.malformed;
      }
    }
  }

  void on_heartbeat(const std::string& from, bento::v1::Heartbeat& hb) {
    std::optional<member_change> change;
    {
      std::lock_guard lock(mutex);
      ++counters.heartbeats_received;
      change = detector.heard(from, hb.incarnation(), clock::now());
    }
    if (change)
      emit({*change});
    if (!hb.payload().empty()) {
      std::lock_guard lock(callback_mutex);
      if (!stopped && on_payload)
        on_payload(from, std::move(*hb.mutable_payload()));
    }
  }

  void on_members(const std::string& from, const bento::v1::Members& list) {
    std::set<std::string> known;
    for (auto& p : t.peers())
      if (!p.id.empty())
        known.insert(p.id);
    uint64_t discovered = 0;
    uint64_t bad = 0;
    int n = 0;
    for (auto& m : list.members()) {
      if (++n > static_cast<int>(cfg.max_members))
        break;
      if (!transport::valid_node_id(m.node_id()) || !transport::parse_address(m.address())) {
        ++bad;
        continue;
      }
      if (m.node_id() == t.node_id())
        continue;
      {
        std::lock_guard lock(mutex);
        addresses[m.node_id()] = m.address();
        // The first list a peer sends on a link comes at link-up: what it says then about being formed is what
        // a founder deciding whether to form must know (a later one could be the formation just made).
        if (m.node_id() == from)
          formed_at_link_up.emplace(from, m.formed());
        // Only what a member says of itself: another's word for it could be stale or a lie.
        if (m.node_id() == from && !m.client_address().empty()) {
          if (transport::parse_address(m.client_address()))
            client_addresses[m.node_id()] = m.client_address();
          else
            ++counters.malformed;
        }
      }
      if (known.count(m.node_id()) == 0 && t.add_peer(m.address(), m.node_id())) {
        ++discovered;
        known.insert(m.node_id());
        spdlog::info("cluster.peer_discovered peer={} address={} via={}", m.node_id(), m.address(), from);
      }
    }
    std::lock_guard lock(mutex);
    ++counters.member_lists_received;
    counters.peers_discovered += discovered;
    counters.malformed += bad;
  }

  void on_peer_up(const std::string& peer, uint64_t incarnation) {
    std::optional<member_change> change;
    {
      std::lock_guard lock(mutex);
      change = detector.heard(peer, incarnation, clock::now());
    }
    if (change)
      emit({*change});
    t.send(peer, member_list(), transport::channel::membership);
  }

  std::string member_list() {
    bento::v1::MembershipMessage m;
    auto* list = m.mutable_members();
    auto* me = list->add_members();
    me->set_node_id(t.node_id());
    me->set_address(t.advertised_address());
    me->set_incarnation(t.incarnation());
    me->set_client_address(cfg.client_address);
    me->set_formed(cfg.formed && cfg.formed());
    for (auto& p : t.peers()) {
      if (!p.connected || p.id.empty() || p.address.empty())
        continue;
      auto* x = list->add_members();
      x->set_node_id(p.id);
      x->set_address(p.address);
      x->set_incarnation(p.incarnation);
    }
    return m.SerializeAsString();
  }

  // Runs four times per heartbeat interval: the detector notices a deadline within a quarter interval, while
  // heartbeats go once per interval.
  void check() {
    auto now = clock::now();
    if (now >= next_heartbeat) {
      next_heartbeat = now + cfg.heartbeat_interval;
      beat();
    }
    std::vector<member_change> changes;
    {
      std::lock_guard lock(mutex);
      changes = detector.tick(clock::now());
    }
    emit(changes);
  }

  void beat() {
    auto peers = t.connected_peers();
    uint64_t sent = 0, refused = 0, too_large = 0;
    bool gossip = ++beats % std::max<uint32_t>(1, cfg.gossip_every) == 0;
    std::string list = gossip ? member_list() : std::string{};
    for (auto& peer : peers) {
      std::string payload;
      {
        std::lock_guard lock(callback_mutex);
        if (!stopped && provider)
          payload = provider(peer);
      }
      if (payload.size() > cfg.payload_max_bytes) {
        ++too_large;
        payload.clear();
      }
      bento::v1::MembershipMessage m;
      auto* hb = m.mutable_heartbeat();
      hb->set_incarnation(t.incarnation());
      hb->set_payload(std::move(payload));
      if (t.send(peer, m.SerializeAsString(), transport::channel::membership) == transport::errc::none)
        ++sent;
      else
        ++refused;
      if (gossip)
        t.send(peer, list, transport::channel::membership);
    }
    std::lock_guard lock(mutex);
    counters.heartbeats_sent += sent;
    counters.heartbeats_not_sent += refused;
    counters.payloads_too_large += too_large;
  }

  void emit(const std::vector<member_change>& changes) {
    for (auto& c : changes) {
      if (c.joined)
        spdlog::info("cluster.member_joined peer={} incarnation={}", c.id, c.incarnation);
      else
        spdlog::info("cluster.member_state peer={} from={} to={} incarnation={} restarted={}", c.id,
                     to_string(c.from), to_string(c.to), c.incarnation, c.restarted);
    }
    std::lock_guard lock(callback_mutex);
    if (stopped || !on_change)
      return;
    for (auto& c : changes)
      on_change(c);
  }
};

membership::membership(caf::actor_system& system, transport::transport& t, membership_config cfg)
  : impl_(std::make_shared<impl>(system, t, cfg)) {
  // The transport keeps these handlers (and so impl) until its actor ends; impl never refers back to *this.
  std::weak_ptr<impl> weak = impl_;
  t.on_receive(
    [weak](const std::string& from, std::string bytes) {
      if (auto d = weak.lock())
        d->on_frame(from, std::move(bytes));
    },
    transport::channel::membership);
  t.on_peer_up([weak](const std::string& peer, uint64_t incarnation) {
    if (auto d = weak.lock())
      d->on_peer_up(peer, incarnation);
  });
}

membership::~membership() {
  stop();
}

void membership::set_heartbeat_payload(payload_provider provider) {
  impl_->provider = std::move(provider);
}

void membership::on_heartbeat_payload(payload_handler handler) {
  impl_->on_payload = std::move(handler);
}

void membership::on_member_change(change_handler handler) {
  impl_->on_change = std::move(handler);
}

void membership::start() {
  auto& d = *impl_;
  if (d.timer)
    return;
  std::weak_ptr<impl> weak = impl_;
  auto interval = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(1), d.cfg.heartbeat_interval / 4);
  d.timer = d.sys.spawn([weak, interval](caf::event_based_actor* self) -> caf::behavior {
    self->send(self, beat_atom::value);
    return {
      [=](beat_atom) {
        auto d = weak.lock();
        if (!d) {
          self->quit();
          return;
        }
        // Scheduled first: the interval does not stretch by the time a check takes.
        self->delayed_send(self, interval, beat_atom::value);
        d->check();
      },
    };
  });
}

void membership::stop() {
  auto& d = *impl_;
  if (d.timer) {
    caf::scoped_actor self{d.sys, true};
    self->send_exit(d.timer, caf::exit_reason::user_shutdown);
    self->wait_for(d.timer);
    d.timer = nullptr;
  }
  std::lock_guard lock(d.callback_mutex);
  d.stopped = true;
}

std::vector<member_view> membership::members() const {
  auto& d = *impl_;
  std::map<std::string, std::string> from_transport;
  for (auto& p : d.t.peers())
    if (!p.id.empty())
      from_transport[p.id] = p.address;
  std::lock_guard lock(d.mutex);
  std::vector<member_view> out;
  for (auto& m : d.detector.members()) {
    member_view v{m.id, {}, {}, m.state, m.incarnation, m.last_heard};
    if (auto c = d.client_addresses.find(m.id); c != d.client_addresses.end())
      v.client_address = c->second;
    if (auto i = from_transport.find(m.id); i != from_transport.end())
      v.address = i->second;
    else if (auto j = d.addresses.find(m.id); j != d.addresses.end())
      v.address = j->second;
    out.push_back(std::move(v));
  }
  return out;
}

std::optional<bool> membership::formed_at_link_up(const std::string& peer) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->formed_at_link_up.find(peer);
  return it == impl_->formed_at_link_up.end() ? std::nullopt : std::optional<bool>(it->second);
}

membership_stats membership::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->counters;
}

} // namespace bento::cluster::membership
