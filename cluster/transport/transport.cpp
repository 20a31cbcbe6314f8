#include "cluster/transport/transport.hpp"

#include <atomic>

#include <sodium.h>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/make_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "cluster/transport/dialer.hpp"
#include "cluster/transport/handshake.hpp"
#include "cluster/transport/node_address.hpp"
#include "cluster/transport/peer_gate.hpp"
#include "cluster/transport/peer_table.hpp"
#include "cluster/transport/tls_files.hpp"
#include "cluster/transport/transport_actor.hpp"

namespace bento::cluster::transport {

bool openssl_error_queue_fix_linked() noexcept; // openssl_error_queue.cpp

struct transport::impl {
  impl(caf::actor_system& s, transport_config c) : sys(s), cfg(std::move(c)), table(std::make_shared<peer_table>(cfg)) {}

  caf::actor_system& sys;
  transport_config cfg;
  std::shared_ptr<peer_table> table;
  std::shared_ptr<dialer> dial;
  transport_handlers handlers;
  caf::actor core;
  caf::strong_actor_ptr gate;
  uint16_t port = 0;
  std::string advertise;
  std::atomic<bool> started{false}; // read by send() and add_peer() on any thread
  std::atomic<bool> stopped{false};
};

namespace {

start_result refuse(errc code, std::string message) {
  return start_result{0, code, std::move(message)};
}

bool wildcard(const std::string& bind) {
  return bind == "0.0.0.0" || bind == "::" || bind == "[::]";
}

} // namespace

transport::transport(caf::actor_system& system, transport_config cfg)
  : impl_(std::make_unique<impl>(system, std::move(cfg))) {
  if (sodium_init() < 0)
    spdlog::critical("cluster.libsodium_init_failed");
  [[maybe_unused]] static const bool fixed = openssl_error_queue_fix_linked();
}

transport::~transport() {
  stop();
}

void transport::on_receive(receive_handler handler, channel ch) {
  (ch == channel::data ? impl_->handlers.data : impl_->handlers.membership) = std::move(handler);
}

void transport::on_peer_up(peer_handler handler) {
  impl_->handlers.peer_up.push_back(std::move(handler));
}

void transport::on_peer_down(peer_handler handler) {
  impl_->handlers.peer_down.push_back(std::move(handler));
}

start_result transport::start() {
  auto& d = *impl_;
  if (d.started)
    return refuse(errc::invalid_config, "the transport was started already");
  auto& cfg = d.cfg;
  if (!valid_node_id(cfg.node_id))
    return refuse(errc::invalid_config, "node id '" + cfg.node_id + "' is not [A-Za-z0-9._-]{1,64}");
  for (auto& seed : cfg.seeds)
    if (!parse_address(seed))
      return refuse(errc::invalid_config, "seed '" + seed + "' is not host:port");
  if (!cfg.advertise.empty() && !parse_address(cfg.advertise))
    return refuse(errc::invalid_config, "advertised address '" + cfg.advertise + "' is not host:port");
  if (cfg.advertise.empty() && wildcard(cfg.bind))
    return refuse(errc::invalid_config, "the cluster port binds to " + cfg.bind
                                          + ": set the address other nodes dial (BENTO_CLUSTER_ADVERTISE)");
  if (cfg.frame_max_bytes < 1024 || cfg.queue_max_frames == 0 || cfg.window_frames == 0 || cfg.tick_ms == 0
      || cfg.backoff_min_ms == 0 || cfg.backoff_max_ms < cfg.backoff_min_ms)
    return refuse(errc::invalid_config, "transport limits out of range");
  if (cfg.tls) {
    if (auto problem = check_tls_files(*cfg.tls); !problem.empty())
      return refuse(errc::invalid_config, problem);
    if (!d.sys.has_openssl_manager())
      return refuse(errc::invalid_config, "TLS is configured but the actor system has no OpenSSL module "
                                          "(prepare_actor_system was not given the same config)");
  }
  if (!d.sys.has_middleman())
    return refuse(errc::invalid_config, "the actor system has no middleman (call prepare_actor_system)");
  if (cfg.secret.empty())
    spdlog::warn("cluster.no_secret node={} effect=no peer can be authenticated", cfg.node_id);

  d.dial = std::make_shared<dialer>();
  transport_actor_args args;
  args.cfg = cfg;
  args.instance = random_nonzero_u64();
  args.connector = cfg.tls ? caf::actor_cast<caf::actor>(d.sys.openssl_manager().actor_handle())
                           : caf::actor_cast<caf::actor>(d.sys.middleman().actor_handle());
  args.table = d.table;
  args.dial = d.dial;
  args.handlers = d.handlers;
  d.core = spawn_transport_actor(d.sys, std::move(args));
  d.gate = caf::make_actor<peer_gate, caf::strong_actor_ptr>(
    d.sys.next_actor_id(), d.sys.node(), &d.sys, caf::actor_cast<caf::weak_actor_ptr>(d.core),
    d.table->foreign_messages());
  auto gate_handle = caf::actor_cast<caf::actor>(d.gate);
  caf::expected<uint16_t> bound = cfg.tls
                                    ? caf::openssl::publish(gate_handle, cfg.port, cfg.bind.c_str(), true)
                                    : d.sys.middleman().publish(gate_handle, cfg.port, cfg.bind.c_str(), true);
  d.started = true;
  if (!bound) {
    auto why = d.sys.render(bound.error());
    stop();
    return refuse(errc::bind_failed, "cannot open the cluster port " + cfg.bind + ":" + std::to_string(cfg.port)
                                       + ": " + why);
  }
  d.port = *bound;
  d.advertise = cfg.advertise.empty() ? to_string(peer_address{cfg.bind, d.port}) : cfg.advertise;
  caf::anon_send(d.core, init_atom::value, d.gate, d.advertise);
  for (auto& seed : cfg.seeds)
    add_peer(seed);
  spdlog::info("cluster.transport_started node={} port={} advertise={} tls={} seeds={} incarnation={}",
               cfg.node_id, d.port, d.advertise, cfg.tls ? "on" : "off", cfg.seeds.size(), cfg.incarnation);
  return start_result{d.port, errc::none, {}};
}

bool transport::add_peer(const std::string& address, const std::string& expected_id) {
  auto& d = *impl_;
  if (!parse_address(address) || (!expected_id.empty() && !valid_node_id(expected_id)))
    return false;
  if (!d.started || d.stopped)
    return false;
  caf::anon_send(d.core, add_peer_atom::value, address, expected_id);
  return true;
}

errc transport::send(const std::string& peer, std::string bytes, channel ch) {
  auto& d = *impl_;
  if (!d.started || d.stopped)
    return errc::stopped;
  // Room for the envelope (ids, sequence numbers, MAC) within the frame limit the receiver enforces.
  constexpr size_t envelope = 128;
  if (bytes.size() + envelope > d.cfg.frame_max_bytes)
    return errc::too_large;
  bool wake = false;
  auto result = d.table->enqueue(peer, ch, std::move(bytes), wake);
  if (wake)
    caf::anon_send(d.core, drain_atom::value);
  return result;
}

std::vector<peer_info> transport::peers() const {
  return impl_->table->snapshot();
}

std::vector<std::string> transport::connected_peers() const {
  return impl_->table->connected_peers();
}

transport_stats transport::stats() const {
  return impl_->table->stats();
}

const std::string& transport::node_id() const noexcept {
  return impl_->cfg.node_id;
}

uint64_t transport::incarnation() const noexcept {
  return impl_->cfg.incarnation;
}

const std::string& transport::advertised_address() const noexcept {
  return impl_->advertise;
}

void transport::stop() {
  auto& d = *impl_;
  if (!d.started || d.stopped)
    return;
  d.stopped = true;
  if (d.dial)
    d.dial->stop();
  if (d.gate) {
    auto gate_handle = caf::actor_cast<caf::actor>(d.gate);
    if (d.port != 0) {
      // Through the plain middleman also under TLS: both hand it to the same BASP broker, which closes the
      // port (CAF 0.17's openssl::unpublish does not compile).
      d.sys.middleman().unpublish(gate_handle, d.port);
    }
    // Terminating the gate tells every node that monitors it (each linked peer): their links close at once.
    static_cast<peer_gate*>(caf::actor_cast<caf::abstract_actor*>(d.gate))->shut(nullptr);
  }
  if (d.core) {
    caf::scoped_actor self{d.sys, true};
    self->send_exit(d.core, caf::exit_reason::user_shutdown);
    self->wait_for(d.core);
  }
  // The handles stay: send() on another thread may still read them, and a message to a terminated actor is
  // dropped.
  spdlog::info("cluster.transport_stopped node={}", d.cfg.node_id);
}

} // namespace bento::cluster::transport
