// The replica host of three in-process nodes, their frames carried by hand. What it promises its readers:
// serves(shard) is true only while the lease holds in real time, even when the driver thread that counts the
// ticks is not running. The chaos rig found the hole: a leader frozen by SIGSTOP woke, its request threads ran
// before its driver did, and it answered "not found" for an order a new leader had acknowledged meanwhile.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"
#include "actors/store/store_layout.hpp"
#include "cluster/shard/replica_host.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento;
using namespace std::chrono_literals;

namespace {

/// Parks the thread that calls enter() while closed, as SIGSTOP would, until opened.
class door {
public:
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  void open() {
    std::lock_guard lock(mutex_);
    closed_ = false;
    cv_.notify_all();
  }
  void enter() {
    std::unique_lock lock(mutex_);
    if (closed_)
      parked_ = true;
    cv_.wait(lock, [&] { return !closed_; });
    parked_ = false;
  }
  bool parked() {
    std::lock_guard lock(mutex_);
    return parked_;
  }

private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool closed_ = false;
  bool parked_ = false;
};

struct node {
  std::unique_ptr<store::entity_store> db;
  std::unique_ptr<store::shard_set> shards;
  std::unique_ptr<cluster::shard::replica_host> host;
  door driver; // the node's driver thread passes here on every frame it sends
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(5ms); // polling interval of a bounded wait
  }
  return pred();
}

} // namespace

TEST_CASE("replica host: a leader whose driver thread stalls stops serving when its lease runs out in real time",
          "[unit][shard]") {
  bento::test::temp_dir dir;
  std::map<std::string, node> nodes;
  const std::vector<std::string> names{"a", "b", "c"};
  for (auto& name : names) {
    auto& n = nodes[name];
    auto s = store::entity_store::open(store::store_options{dir / name, false, 8u << 20, 4});
    REQUIRE(s);
    n.db = std::move(*s);
    REQUIRE(actors::ensure_store_layout(*n.db));
    n.shards = std::make_unique<store::shard_set>(*n.db);
  }
  for (auto& name : names) {
    cluster::shard::host_options o;
    o.self = name;
    o.tick = 20ms;
    o.rebalance = false;
    auto& self = nodes[name];
    self.host = std::make_unique<cluster::shard::replica_host>(
      *self.shards, o, [&nodes, &self, name](const std::string& peer, std::string batch) {
        self.driver.enter();
        if (auto it = nodes.find(peer); it != nodes.end())
          it->second.host->deliver(name, std::move(batch));
      });
  }
  std::vector<std::vector<std::string>> placement(nodes["a"].shards->count(), names);
  for (auto& name : names)
    REQUIRE(nodes[name].host->open(placement, names, true, 3));
  for (auto& name : names)
    nodes[name].host->start();

  std::string leader;
  REQUIRE(eventually([&] {
    for (auto& name : names)
      if (nodes[name].host->serves(0))
        leader = name;
    return !leader.empty();
  }));

  // Freeze its driver (the next frame it sends parks it): nothing counts its ticks or refreshes its state.
  auto& frozen = nodes[leader];
  frozen.driver.close();
  REQUIRE(eventually([&] { return frozen.driver.parked(); }));
  // Its lease (election timeout less a margin: under 200 ms here) runs out on the clock alone.
  CHECK(eventually([&] { return !frozen.host->serves(0); }, 5s));
  CHECK(frozen.driver.parked()); // still frozen: the clock said so, not a driver round
  // Meanwhile the others elect a new leader, which serves.
  CHECK(eventually([&] {
    for (auto& name : names)
      if (name != leader && nodes[name].host->serves(0))
        return true;
    return false;
  }));

  frozen.driver.open();
  for (auto& name : names)
    nodes[name].host->stop();
}
