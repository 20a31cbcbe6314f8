#pragma once
// One cluster node in the test process: its own CAF actor system (the middleman and, with TLS, OpenSSL), a
// transport on a loopback port chosen by the kernel, optionally membership; frames it receives are recorded.
// Several of them in one process talk over real TCP on loopback.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "cluster/membership/membership.hpp"
#include "cluster/transport/transport.hpp"

namespace bento::test {

using namespace std::chrono_literals;
namespace tp = bento::cluster::transport;
namespace mb = bento::cluster::membership;

inline const std::string cluster_secret = "correct horse battery staple 42";

/// Polls `done` until it holds or `timeout` passes: a bounded wait on a condition, never a bare sleep.
template <class Pred>
bool eventually(Pred done, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return done();
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

inline tp::transport_config node_config(const std::string& id, const std::string& secret = cluster_secret) {
  tp::transport_config c;
  c.node_id = id;
  c.bind = "127.0.0.1";
  c.port = 0;
  c.secret = secret;
  c.backoff_min_ms = 20;
  c.backoff_max_ms = 200;
  return c;
}

struct received_frame {
  std::string from;
  std::string bytes;
};

class cluster_node {
public:
  explicit cluster_node(tp::transport_config cfg, bool with_membership = false,
                        mb::membership_config mcfg = {})
    : cfg_(std::move(cfg)) {
    caf_cfg_.set("scheduler.max-threads", size_t{2});
    caf_cfg_.set("logger.verbosity", caf::atom("quiet"));
    caf_cfg_.set("logger.console", caf::atom("none"));
    tp::prepare_actor_system(caf_cfg_, cfg_);
    sys_ = std::make_unique<caf::actor_system>(caf_cfg_);
    transport_ = std::make_unique<tp::transport>(*sys_, cfg_);
    transport_->on_receive([this](const std::string& from, std::string bytes) {
      if (hook_)
        hook_(from, bytes);
      std::lock_guard lock(mutex_);
      frames_.push_back(received_frame{from, std::move(bytes)});
      cv_.notify_all();
    });
    if (with_membership)
      membership_ = std::make_unique<mb::membership>(*sys_, *transport_, mcfg);
  }

  ~cluster_node() { stop(); }

  /// Runs on the transport's actor for every data frame, before it is recorded. Set before start().
  void on_frame(std::function<void(const std::string& from, const std::string& bytes)> hook) {
    hook_ = std::move(hook);
  }

  /// Starts (and fails the test if it cannot); returns the bound port.
  uint16_t start() {
    auto r = transport_->start();
    INFO(r.message);
    REQUIRE(r);
    port_ = r.port;
    if (membership_)
      membership_->start();
    return port_;
  }

  tp::start_result try_start() { return transport_->start(); }

  /// Stops the node the way a killed process looks to its peers: every connection closes.
  void stop() {
    if (membership_)
      membership_->stop();
    if (transport_)
      transport_->stop();
    membership_.reset();
    transport_.reset();
    sys_.reset();
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }
  tp::transport& transport() { return *transport_; }
  mb::membership& membership() { return *membership_; }
  caf::actor_system& system() { return *sys_; }

  bool connected_to(const std::string& id) const {
    for (auto& p : transport_->connected_peers())
      if (p == id)
        return true;
    return false;
  }

  std::optional<tp::peer_info> peer(const std::string& id) const {
    for (auto& p : transport_->peers())
      if (p.id == id)
        return p;
    return std::nullopt;
  }

  /// Waits (bounded) until at least n frames arrived.
  bool wait_frames(size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return frames_.size() >= n; });
  }

  std::vector<received_frame> frames() const {
    std::lock_guard lock(mutex_);
    return frames_;
  }

  size_t frame_count() const {
    std::lock_guard lock(mutex_);
    return frames_.size();
  }

private:
  tp::transport_config cfg_;
  caf::actor_system_config caf_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<tp::transport> transport_;
  std::unique_ptr<mb::membership> membership_;
  uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<received_frame> frames_;
  std::function<void(const std::string&, const std::string&)> hook_;
};

} // namespace bento::test
