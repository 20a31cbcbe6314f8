#include "node/cluster_runtime.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/store/shard_store.hpp"
#include "protocol/domain/shards.hpp"
#include "actors/common/domain_error.hpp"
#include "actors/common/keys.hpp"
#include "actors/order/order_recovery.hpp"
#include "actors/store/store_layout.hpp"
#include "cluster/cluster_meta.hpp"
#include "cluster/membership/incarnation.hpp"
#include "cluster/membership/membership.hpp"
#include "cluster/placement.hpp"
#include "cluster/router/cluster_router.hpp"
#include "cluster/router/forward_codec.hpp"
#include "cluster/shard/replica_host.hpp"
#include "cluster/transport/transport.hpp"
#include "node/cluster_setup.hpp"
#include "node/member_replacement.hpp"

namespace bento::node {

namespace {

const std::string replicas_key = "cluster.replicas";
const std::string joined_key = "cluster.joined";     // this node joined a running cluster: it bootstraps no group

std::string join_list(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v)
    out += (out.empty() ? "" : ",") + s;
  return out;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      out.push_back(item);
  return out;
}

} // namespace

struct cluster_runtime::impl {
  std::atomic<bool> formed{false}; // a member list is recorded or loaded (told to peers in membership lists)
  std::string self;
  cluster::transport::transport_config transport_cfg;
  std::unique_ptr<cluster::transport::transport> transport;
  std::unique_ptr<cluster::membership::membership> membership;
  std::unique_ptr<cluster::shard::replica_host> host;
  std::vector<std::string> members;
  std::atomic<uint32_t> replicas{1}; // voters per shard (the record's once it exists)
  actors::router_actor router;
  std::atomic<cluster::shard::replica_host*> host_ready{nullptr}; // set once the replicas exist
  std::atomic<bool> router_ready{false};                          // set once the router is wired
  store::shard_set* shards = nullptr;
  actors::cluster_meta_actor meta;
  // Member states recorded in the cluster metadata, and since when each member has been down (replacement).
  std::mutex states_mutex;
  std::map<std::string, std::string> member_states;                          // guarded by states_mutex
  std::map<std::string, std::chrono::steady_clock::time_point> down_since;   // guarded by states_mutex
  std::mutex replacer_mutex;
  std::condition_variable replacer_wake;
  bool replacer_stopping = false; // guarded by replacer_mutex
  std::thread replacer;
  bool joining = false; // started to join a running cluster and not admitted yet
  bool joined = false;  // joined a running cluster (now or before a restart)
};

cluster_runtime::cluster_runtime(const node_config& cfg, std::string node_id)
  : cfg_(cfg), impl_(std::make_unique<impl>()) {
  impl_->self = std::move(node_id);
}

cluster_runtime::~cluster_runtime() {
  stop();
}

domain::outcome<domain::unit_t> cluster_runtime::prepare(caf::actor_system_config& caf_cfg) {
  if (!clustered())
    return domain::unit;
  auto incarnation = cluster::membership::next_incarnation(cfg_.data_dir);
  if (!incarnation)
    return incarnation.error();
  auto cfg = cfg_;
  cfg.node_id = impl_->self;
  impl_->transport_cfg = transport_settings(cfg, *incarnation);
  cluster::transport::prepare_actor_system(caf_cfg, impl_->transport_cfg);
  return domain::unit;
}

domain::outcome<domain::unit_t> cluster_runtime::start(caf::actor_system& sys, store::shard_set& shards,
                                                       std::function<bool()> cancelled) {
  auto& db = shards.db();
  impl_->shards = &shards;
  cluster::shard::host_options ho;
  ho.self = impl_->self;
  ho.tick = std::chrono::milliseconds(cfg_.tick_ms);
  ho.keep_entries = cfg_.raft_keep_entries;
  ho.frame_max_bytes = cfg_.peer_frame_max_bytes;
  // Snapshot chunks of at most 1 MiB (and well inside a frame): one in flight per transfer.
  ho.snapshot_max_bytes = std::min<size_t>(
    1u << 20, cfg_.peer_frame_max_bytes - std::min<size_t>(cfg_.peer_frame_max_bytes / 4, 1u << 20));
  if (!clustered()) {
    impl_->members = {impl_->self};
    impl_->replicas = 1;
    impl_->host = std::make_unique<cluster::shard::replica_host>(shards, ho, nullptr);
    if (auto opened = impl_->host->open(cluster::place_all(shards.count(), impl_->members, 1)); !opened)
      return opened.error();
    return domain::unit; // the driver starts once the router is attached (attach)
  }

  impl_->transport = std::make_unique<cluster::transport::transport>(sys, impl_->transport_cfg);
  auto membership_cfg = membership_settings(cfg_);
  auto* formed = &impl_->formed;
  membership_cfg.formed = [formed] { return formed->load(); };
  impl_->membership = std::make_unique<cluster::membership::membership>(sys, *impl_->transport, membership_cfg);
  // Handlers go in before the transport starts. Consensus traffic goes to the replicas' driver, everything else
  // to the router; until they exist (formation), frames are dropped: the consensus core and callers retry.
  auto* self_impl = impl_.get();
  impl_->transport->on_receive([self_impl](const std::string& from, std::string bytes) {
    cluster::router::cluster_data data;
    if (!cluster::router::decode_data(bytes, data))
      return;
    if (auto* raft = std::get_if<cluster::router::raft_frame>(&data)) {
      if (auto* host = self_impl->host_ready.load())
        host->deliver(from, std::move(raft->batch));
      return;
    }
    if (self_impl->router_ready.load())
      cluster::router::deliver_data(self_impl->router, from, std::move(bytes));
  });
  // Calls in flight to a peer that is gone are answered at once (outcome_unknown), not at their deadline.
  auto lost = [self_impl](const std::string& peer, bool gone) {
    if (self_impl->router_ready.load())
      cluster::router::peer_lost(self_impl->router, peer, gone);
  };
  auto back = [self_impl](const std::string& peer) {
    if (self_impl->router_ready.load())
      cluster::router::peer_back(self_impl->router, peer);
  };
  impl_->transport->on_peer_down([lost](const std::string& peer, uint64_t) { lost(peer, true); });
  impl_->transport->on_peer_up([back](const std::string& peer, uint64_t) { back(peer); });
  impl_->membership->on_member_change([lost, back, self_impl](const cluster::membership::member_change& c) {
    {
      std::lock_guard lock(self_impl->states_mutex);
      if (c.to == cluster::membership::member_state::down)
        self_impl->down_since.emplace(c.id, std::chrono::steady_clock::now());
      else if (c.to == cluster::membership::member_state::up)
        self_impl->down_since.erase(c.id);
    }
    if (c.to == cluster::membership::member_state::down)
      lost(c.id, true);
    else if (c.restarted)
      lost(c.id, false); // calls to its previous instance are lost; the new one is up
    if (c.to == cluster::membership::member_state::up)
      back(c.id);
  });
  auto started = impl_->transport->start();
  if (!started)
    return domain::fail(domain::errc::invalid_argument, "cluster port: " + started.message);
  impl_->membership->start();

  // The member list: as recorded when the cluster formed, or formed now from every seed answering.
  auto recorded = db.get(store::column::meta, actors::cluster_members_meta_key);
  if (!recorded)
    return recorded.error();
  auto joined = db.get(store::column::meta, joined_key);
  if (!joined)
    return joined.error();
  impl_->joined = joined->has_value();
  // Founders list one another and themselves as seeds (as etcd's initial cluster); a node whose own address is
  // not among its seeds joins the cluster they formed.
  auto advertised = impl_->transport->advertised_address();
  bool founder = std::find(cfg_.seeds.begin(), cfg_.seeds.end(), advertised) != cfg_.seeds.end();
  impl_->formed = recorded->has_value();
  if (*recorded) {
    impl_->members = split(**recorded);
    auto r = db.get(store::column::meta, replicas_key);
    impl_->replicas = r && *r ? static_cast<uint32_t>(std::stoul(**r)) : cfg_.replicas;
    spdlog::info("cluster.members_loaded members={} replicas={}", **recorded, impl_->replicas);
  } else if (!founder) {
    // Joining: any seed that answers will do; the cluster's leaders then add this node to every group.
    auto last_log = std::chrono::steady_clock::now();
    for (;;) {
      std::set<std::string> ids{impl_->self};
      for (auto& p : impl_->transport->peers())
        if (p.state != cluster::transport::link_state::self && p.connected && !p.id.empty())
          ids.insert(p.id);
      if (ids.size() > 1) {
        impl_->members.assign(ids.begin(), ids.end());
        break;
      }
      if (cancelled && cancelled())
        return domain::fail(domain::errc::unavailable, "stopped while joining the cluster");
      if (std::chrono::steady_clock::now() - last_log > std::chrono::seconds(2)) {
        spdlog::warn("cluster.joining waiting_for_seeds seeds={} advertised={}", join_list(cfg_.seeds), advertised);
        last_log = std::chrono::steady_clock::now();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling the transport's view of the seeds
    }
    impl_->replicas = cfg_.replicas;
    impl_->joining = true;
    impl_->joined = true;
    spdlog::info("cluster.joining through={}", join_list(impl_->members));
  } else {
    // Formation waits for every seed (an initial member list everyone agrees on: all nodes list the same
    // seeds, as etcd's initial cluster does). A seed that is this node is recognised by the transport.
    auto last_log = std::chrono::steady_clock::now();
    for (;;) {
      bool all = true;
      std::set<std::string> ids{impl_->self};
      for (auto& p : impl_->transport->peers()) {
        if (p.state == cluster::transport::link_state::self)
          continue;
        if (!p.connected || p.id.empty())
          all = false;
        else
          ids.insert(p.id);
      }
      // Each seed says at link-up whether it already runs a formed cluster. If one does, this node lost its
      // data dir (or never finished forming): forming now would start a second cluster under the same names.
      bool all_said = true;
      std::string already;
      for (auto& id : ids)
        if (id != impl_->self) {
          auto said = impl_->membership->formed_at_link_up(id);
          all_said = all_said && said.has_value();
          if (said && *said)
            already = id;
        }
      if (!already.empty())
        return domain::fail(domain::errc::invalid_argument,
                            "seed " + already + " already runs a formed cluster and this node's data dir holds "
                            "none (wiped or new): it must not form another. To bring it back empty, start it "
                            "under a new BENTO_NODE_ID with BENTO_SEEDS listing the running nodes (not itself): "
                            "it joins as a new member and the old id is replaced");
      if (all && all_said && ids.size() > 1) {
        impl_->members.assign(ids.begin(), ids.end());
        break;
      }
      if (cancelled && cancelled())
        return domain::fail(domain::errc::unavailable, "stopped while forming the cluster");
      if (std::chrono::steady_clock::now() - last_log > std::chrono::seconds(2)) {
        spdlog::warn("cluster.forming waiting_for_seeds seeds={}", join_list(cfg_.seeds));
        last_log = std::chrono::steady_clock::now();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling the transport's view of the seeds
    }
    impl_->replicas = std::min<uint32_t>(cfg_.replicas, static_cast<uint32_t>(impl_->members.size()));
    store::write_batch record;
    record.put(store::column::meta, actors::cluster_members_meta_key, join_list(impl_->members));
    record.put(store::column::meta, replicas_key, std::to_string(impl_->replicas));
    if (auto done = db.commit(record); !done)
      return done.error();
    impl_->formed = true;
    spdlog::info("cluster.formed members={} replicas={} shards={}", join_list(impl_->members), impl_->replicas,
                 shards.count());
  }

  auto* transport = impl_->transport.get();
  impl_->host = std::make_unique<cluster::shard::replica_host>(
    shards, ho, [transport](const std::string& peer, std::string batch) {
      transport->send(peer, cluster::router::encode_data(cluster::router::raft_frame{std::move(batch)}));
    });
  auto placement = cluster::place_all(shards.count(), impl_->members, impl_->replicas);
  if (impl_->joining) {
    // Until the member record reaches this node, requests go to the seeds (any replica knows its leader).
    std::vector<std::string> seeds;
    for (auto& m : impl_->members)
      if (m != impl_->self)
        seeds.push_back(m);
    placement.assign(shards.count(), seeds);
  }
  if (impl_->joined)
    impl_->host->set_moves_enabled(false); // until the member record is here: its own view may be partial
  if (auto opened = impl_->host->open(placement, impl_->members, !impl_->joined, impl_->replicas); !opened)
    return opened.error();
  impl_->host_ready = impl_->host.get();
  return domain::unit;
}

std::function<bool(uint16_t)> cluster_runtime::serves() const {
  auto* host = impl_->host.get();
  return [host](uint16_t shard) { return host->serves(shard); };
}

actors::router_actor cluster_runtime::front(caf::actor_system& sys) {
  if (!clustered())
    return actors::router_actor{};
  cluster::router::cluster_router_options ro;
  ro.self = impl_->self;
  ro.host = impl_->host.get();
  auto* transport = impl_->transport.get();
  ro.send = [transport](const std::string& peer, std::string bytes) {
    return transport->send(peer, std::move(bytes)) == cluster::transport::errc::none;
  };
  ro.timeout = std::chrono::milliseconds(cfg_.request_timeout_ms / 2);
  auto* membership = impl_->membership.get();
  ro.reachable = [transport, membership](const std::string& peer) {
    auto linked = transport->connected_peers();
    if (std::find(linked.begin(), linked.end(), peer) == linked.end())
      return false;
    for (auto& m : membership->members())
      if (m.id == peer)
        return m.state == cluster::membership::member_state::up;
    return false;
  };
  impl_->router = cluster::router::spawn_cluster_router(sys, ro);
  return impl_->router;
}

actors::router_actor cluster_runtime::attach(actors::router_actor local) {
  if (!clustered()) {
    // Alone, every shard stays served; a write epoch still ends when a write fails (direct_writes): the
    // shard's entities are stopped, and the next request loads what the store holds.
    auto* host = impl_->host.get();
    host->on_serving([local, host](uint16_t shard, bool serving) {
      if (!serving) {
        caf::anon_send(local, actors::drop_shard_atom::value, shard);
        return;
      }
      // Orders a dropped write interrupted finish or undo their stock change now, as after a restart.
      if (auto ids = actors::interrupted_orders(host->shard_store_of(shard)))
        for (auto& id : *ids)
          caf::anon_send(local, actors::wake_atom::value, id);
    });
    impl_->host->start();
    return local;
  }
  auto router = impl_->router;
  cluster::router::set_local(router, local);
  auto* host = impl_->host.get();
  host->on_serving([router](uint16_t shard, bool serving) {
    cluster::router::serving_changed(router, shard, serving);
  });
  impl_->router_ready = true;
  host->start();
  return router;
}

cluster_status cluster_runtime::status() const {
  cluster_status out;
  out.shards = impl_->host ? impl_->host->shard_count() : 0;
  out.replicas = impl_->replicas;
  std::map<std::string, cluster_member_status> by_id;
  for (auto& m : impl_->members)
    by_id[m] = cluster_member_status{m, {}, {}, "up", 0, 0, 0};
  {
    std::lock_guard lock(impl_->states_mutex);
    for (auto& [m, state] : impl_->member_states)
      if (!by_id.count(m))
        by_id[m] = cluster_member_status{m, {}, {}, "up", 0, 0, 0};
  }
  if (impl_->membership)
    for (auto& m : impl_->membership->members()) {
      auto& s = by_id[m.id];
      s.id = m.id;
      s.address = m.address;
      s.state = cluster::membership::to_string(m.state);
      s.incarnation = m.incarnation;
      s.client_address = m.client_address;
    }
  by_id[impl_->self].client_address = cfg_.client_advertise;
  if (impl_->transport) {
    auto& me = by_id[impl_->self];
    me.address = impl_->transport->advertised_address();
    me.incarnation = impl_->transport->incarnation();
  }
  if (impl_->host) {
    for (auto& [id, m] : by_id)
      m.shards_replicated = impl_->host->seats_of(id); // voting seats, as this node's replicas see them
    for (uint16_t s = 0; s < impl_->host->shard_count(); ++s)
      if (auto leader = impl_->host->leader_of(s))
        ++by_id[*leader].shards_led;
  }
  {
    // Decommissioned or replaced members show as leaving while up (their seats go, or have gone, elsewhere); a
    // member that joined shows as joining until it holds the seats its placement gives it.
    std::lock_guard lock(impl_->states_mutex);
    for (auto& [id, state] : impl_->member_states) {
      auto it = by_id.find(id);
      if (it == by_id.end() || it->second.state == "down")
        continue;
      if (state == "leaving" || state == "replaced")
        it->second.state = "leaving";
      else if (state == "joining" && impl_->host) {
        uint64_t placed = 0;
        for (uint16_t s = 0; s < impl_->host->shard_count(); ++s) {
          auto p = impl_->host->placement_of(s);
          placed += std::find(p.begin(), p.end(), id) != p.end() ? 1 : 0;
        }
        if (it->second.shards_replicated < placed)
          it->second.state = "joining";
      }
    }
  }
  for (auto& [id, m] : by_id)
    out.members.push_back(m);
  return out;
}

client_shard_map cluster_runtime::shard_map() const {
  client_shard_map out;
  std::map<std::string, std::string> client_of{{impl_->self, cfg_.client_advertise}};
  if (impl_->membership)
    for (auto& m : impl_->membership->members())
      if (!m.client_address.empty())
        client_of[m.id] = m.client_address;
  for (auto& [id, address] : client_of)
    if (!address.empty())
      out.nodes.push_back(address);
  auto* host = impl_->host.get();
  if (!host)
    return out;
  out.shards = host->shard_count();
  out.leaders.resize(out.shards);
  for (uint16_t s = 0; s < out.shards; ++s) {
    out.epoch += host->term_of(s);
    if (auto leader = host->leader_of(s))
      if (auto it = client_of.find(*leader); it != client_of.end())
        out.leaders[s] = it->second;
  }
  return out;
}

client_route cluster_runtime::route_of(const std::string& entity_key) const {
  auto* host = impl_->host.get();
  if (!clustered() || !host || entity_key.empty())
    return {};
  auto s = domain::shard_of(entity_key, host->shard_count());
  auto leader = host->leader_of(s);
  if (!leader)
    return client_route{false, {}};
  if (*leader == impl_->self)
    return {};
  client_route out{false, {}};
  if (impl_->membership)
    for (auto& m : impl_->membership->members())
      if (m.id == *leader)
        out.leader = m.client_address;
  return out;
}

std::string cluster_runtime::status_json(const std::string& entity) const {
  using json = nlohmann::json;
  auto st = status();
  json members = json::array();
  for (auto& m : st.members)
    members.push_back({{"id", m.id},
                       {"address", m.address},
                       {"client_address", m.client_address},
                       {"state", m.state},
                       {"incarnation", m.incarnation},
                       {"shards_led", m.shards_led},
                       {"shards_replicated", m.shards_replicated}});
  json shards = json::array();
  if (auto* host = impl_->host.get())
    for (uint16_t s = 0; s < host->shard_count(); ++s) {
      auto leader = host->leader_of(s);
      auto* replica = host->replica(s);
      shards.push_back({{"shard", s},
                        {"replicas", host->placement_of(s)},
                        {"voters", host->voters_of(s)},
                        {"learners", host->learners_of(s)},
                        {"leader", leader ? json(*leader) : json(nullptr)},
                        {"served_here", host->serves(s)},
                        // How far this node's replica has applied the group's log: replicas that agree on it
                        // (with no writes coming) hold the same data.
                        {"applied", replica ? json(replica->applied()) : json(nullptr)}});
    }
  json out{{"clustered", clustered()}, {"node", impl_->self},      {"shards", st.shards},
           {"replicas", st.replicas},  {"members", members},       {"shard_groups", shards}};
  if (!entity.empty() && st.shards > 0) {
    auto s = domain::shard_of(entity, static_cast<domain::shard_id>(st.shards));
    out["entity"] = {{"key", entity}, {"shard", s}, {"replicas", shards[s]["replicas"]}, {"leader", shards[s]["leader"]}};
    // The shard's change feed as this node holds it: older events are pruned past BENTO_EVENT_RETENTION_S.
    if (impl_->shards)
      out["entity"]["events"] = {{"first", impl_->shards->db().first_event_seq(s)},
                                 {"last", impl_->shards->db().last_event_seq(s)}};
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<std::pair<std::string, double>> cluster_runtime::gauges() const {
  std::vector<std::pair<std::string, double>> out;
  if (!impl_->host)
    return out;
  auto st = impl_->host->snapshot_stats();
  out.emplace_back("shards_led", static_cast<double>(st.shards_led));
  out.emplace_back("shards_replicated", static_cast<double>(st.shards_replicated));
  out.emplace_back("shards_learned", static_cast<double>(st.shards_learned));
  out.emplace_back("seat_moves", static_cast<double>(st.seat_moves));
  out.emplace_back("raft_frames_in", static_cast<double>(st.frames_in));
  out.emplace_back("raft_frames_out", static_cast<double>(st.frames_out));
  out.emplace_back("leadership_transfers", static_cast<double>(st.leadership_transfers));
  out.emplace_back("raft_frames_malformed", static_cast<double>(st.malformed));
  out.emplace_back("snapshots_sent", static_cast<double>(st.snapshots.sent));
  out.emplace_back("snapshots_installed", static_cast<double>(st.snapshots.installed));
  out.emplace_back("snapshots_refused", static_cast<double>(st.snapshots.refused));
  out.emplace_back("snapshots_too_large", static_cast<double>(st.snapshots.too_large));
  out.emplace_back("snapshot_chunks_sent", static_cast<double>(st.snapshots.chunks_sent));
  if (impl_->transport) {
    auto ts = impl_->transport->stats();
    out.emplace_back("peer_malformed", static_cast<double>(ts.total.malformed));
    out.emplace_back("peer_bad_proof", static_cast<double>(ts.total.bad_proof));
    out.emplace_back("peer_unauthenticated", static_cast<double>(ts.total.unauthenticated + ts.unattributed.unauthenticated));
    out.emplace_back("peers_connected", static_cast<double>(impl_->transport->connected_peers().size()));
  }
  return out;
}

std::vector<std::string> cluster_runtime::members() const {
  return impl_->members;
}

uint32_t cluster_runtime::replicas() const {
  return impl_->replicas;
}

domain::shard_id cluster_runtime::metadata_shard() const {
  return domain::shard_of(actors::keys::cluster_members_entity, impl_->shards->count());
}

void cluster_runtime::reload_member_states() {
  if (!impl_->shards || !impl_->host)
    return;
  auto record = cluster::load_member_record(impl_->shards->of(metadata_shard()));
  if (record.states.empty()) {
    if (!impl_->joined)
      impl_->host->set_excluded({}); // the members the cluster formed with, all active
    return;
  }
  std::vector<std::string> members;
  std::set<std::string> excluded;
  for (auto& [node, state] : record.states) {
    members.push_back(node);
    if (state == "leaving" || state == "replaced")
      excluded.insert(node);
  }
  impl_->host->set_members(members, excluded, record.replicas);
  if (record.replicas > 0)
    impl_->replicas = record.replicas;
  impl_->host->set_moves_enabled(true);
  std::lock_guard lock(impl_->states_mutex);
  impl_->member_states = std::move(record.states);
}

domain::outcome<domain::unit_t> cluster_runtime::join(caf::actor_system& sys, std::function<bool()> cancelled) {
  if (!impl_->joining)
    return domain::unit;
  caf::scoped_actor self{sys};
  auto last_log = std::chrono::steady_clock::now();
  for (;;) {
    bool admitted = false;
    std::string why;
    self->request(impl_->router, std::chrono::seconds(5), domain::set_member_state{impl_->self, "joining"})
      .receive([&](bool) { admitted = true; },
               [&](caf::error& err) { why = actors::to_failure(err).message; });
    if (admitted)
      break;
    if (cancelled && cancelled())
      return domain::fail(domain::errc::unavailable, "stopped while joining the cluster");
    if (std::chrono::steady_clock::now() - last_log > std::chrono::seconds(2)) {
      spdlog::warn("cluster.join_pending reason={}", why);
      last_log = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // between attempts to be admitted
  }
  store::write_batch record;
  record.put(store::column::meta, actors::cluster_members_meta_key, join_list(impl_->members));
  record.put(store::column::meta, replicas_key, std::to_string(impl_->replicas));
  record.put(store::column::meta, joined_key, "1");
  if (auto done = impl_->shards->db().commit(record); !done)
    return done.error();
  impl_->joining = false;
  spdlog::info("cluster.joined node={}", impl_->self);
  return domain::unit;
}

void cluster_runtime::run_metadata(actors::cluster_meta_actor meta) {
  impl_->meta = meta;
  reload_member_states();
  if (!clustered() || cfg_.replace_after_s == 0)
    return;
  // The node that leads the metadata's shard replaces members down for too long: their seats move to live
  // members, so that a second failure later still finds a majority of every shard's replicas.
  impl_->replacer = std::thread([this] {
    auto* im = impl_.get();
    auto after = std::chrono::seconds(cfg_.replace_after_s);
    std::set<std::string> announced;
    std::unique_lock lock(im->replacer_mutex);
    // Every member's last known address: once a new member answers on a down one's address, the membership
    // layer may not list the old one's address any more (its link belongs to the new one).
    std::map<std::string, std::string> address_of;
    while (!im->replacer_stopping) {
      im->replacer_wake.wait_for(lock, std::chrono::seconds(1)); // a periodic check, woken early to stop
      if (im->replacer_stopping || !im->host || !im->host->serves(metadata_shard()))
        continue;
      // A down member whose address an up member now answers on was replaced by that node (a machine whose
      // disk was lost, started again under a new id): no process of its own can come back there, so its seats
      // move at once rather than after BENTO_REPLACE_AFTER_S, with the group one failure from losing its
      // majority all that time.
      std::set<std::string> addresses_up;
      std::set<std::string> members_up;
      if (im->membership)
        for (auto& m : im->membership->members()) {
          if (!m.address.empty())
            address_of[m.id] = m.address;
          if (m.state == cluster::membership::member_state::up) {
            members_up.insert(m.id);
            if (!m.address.empty())
              addresses_up.insert(m.address);
          }
        }
      replacement_look look;
      look.self = im->self;
      look.members_up = std::move(members_up);
      look.now = std::chrono::steady_clock::now();
      look.replace_after = after;
      for (auto& [node, address] : address_of)
        if (!look.members_up.count(node) && addresses_up.count(address))
          look.superseded.insert(node);
      std::vector<replacement_due> due;
      {
        std::lock_guard states(im->states_mutex);
        look.member_states = im->member_states;
        due = members_to_replace(look, im->down_since);
      }
      for (auto& [node, taken] : due) {
        // Asked again every second until recorded (the metadata's leader may change, or too few members be
        // left to take its seats); said once in the log.
        if (announced.insert(node).second)
          spdlog::warn("cluster.replacing node={} reason={}", node,
                       taken ? "its address answers as another member"
                             : "down for " + std::to_string(cfg_.replace_after_s) + " s");
        caf::anon_send(im->meta, domain::set_member_state{node, "replaced"});
      }
    }
  });
}

void cluster_runtime::stop() {
  {
    std::lock_guard lock(impl_->replacer_mutex);
    impl_->replacer_stopping = true;
  }
  impl_->replacer_wake.notify_all();
  if (impl_->replacer.joinable())
    impl_->replacer.join();
  if (impl_->host)
    impl_->host->stop();
  if (impl_->membership)
    impl_->membership->stop();
  if (impl_->transport)
    impl_->transport->stop();
}

} // namespace bento::node
