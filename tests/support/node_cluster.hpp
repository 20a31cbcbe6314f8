#pragma once
// N real bento-node processes forming one cluster on loopback: cluster ports chosen up front (every node lists
// all of them as seeds), one data dir each, the same cluster secret. Bounded waits on what the nodes say about
// themselves (GET /api/v1/cluster), never on time alone.
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "client/http_client.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "tests/support/temp_dir.hpp"

namespace bento::test {

inline const std::string test_cluster_secret = "cluster secret for the integration tests";

class node_cluster {
public:
  /// Starts n nodes (n1..nN) and waits until every shard has a leader that every node agrees on. With
  /// `through_proxies`, each node's cluster port sits behind a tcp_proxy (the node advertises the proxy), so
  /// that partition() can cut links between nodes.
  explicit node_cluster(int n, std::map<std::string, std::string> extra = {}, int shards = 8,
                        bool through_proxies = false)
    : extra_(extra), shards_(shards) {
    std::string seeds;
    for (int i = 0; i < n; ++i) {
      cluster_ports_.push_back(free_port());
      uint16_t reached_at = cluster_ports_.back();
      if (through_proxies) {
        proxies_.push_back(std::make_unique<tcp_proxy>(cluster_ports_.back()));
        reached_at = proxies_.back()->port();
      }
      seeds += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(reached_at);
    }
    for (int i = 0; i < n; ++i) {
      auto env = fast_node_env();
      env["BENTO_NODE_ID"] = id(i);
      env["BENTO_SEEDS"] = seeds;
      env["BENTO_CLUSTER_SECRET"] = test_cluster_secret;
      env["BENTO_CLUSTER_PORT"] = std::to_string(cluster_ports_[i]);
      if (through_proxies)
        env["BENTO_CLUSTER_ADVERTISE"] = "127.0.0.1:" + std::to_string(proxies_[i]->port());
      env["BENTO_SHARDS"] = std::to_string(shards);
      for (auto& [k, v] : extra)
        env[k] = v;
      nodes_.push_back(std::make_unique<node_process>(dir_ / id(i), env));
      names_.push_back(id(i));
    }
    for (auto& node : nodes_)
      node->launch();
    wait_all_healthy(std::chrono::seconds(60));
    REQUIRE(wait_settled());
  }

  /// Waits (bounded) for every node to answer /healthz. A node that exits, or the deadline, fails the test
  /// with the end of every node's log: a cluster that does not form is usually one member's story, and
  /// waiting on the first node alone showed only the member left waiting for the others.
  void wait_all_healthy(std::chrono::seconds timeout) {
    std::vector<bool> up(nodes_.size(), false);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true;
      for (size_t i = 0; i < nodes_.size(); ++i) {
        if (up[i])
          continue;
        if (nodes_[i]->exited())
          FAIL(id(i) << " exited during start-up\n" << log_tails());
        up[i] = nodes_[i]->healthy();
        all = all && up[i];
      }
      if (all)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling interval of a bounded wait
    }
    FAIL("the cluster's nodes did not all become healthy within " << timeout.count() << " s\n" << log_tails());
  }

  /// The last lines of every node's log.
  std::string log_tails(size_t lines = 30) const {
    std::string out;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      auto log = nodes_[i]->output();
      size_t at = log.size();
      for (size_t n = 0; n <= lines && at > 0; ++n)
        at = log.rfind('\n', at - 1) == std::string::npos ? 0 : log.rfind('\n', at - 1);
      out += "--- " + id(i) + " ---\n" + log.substr(at) + "\n";
    }
    return out;
  }

  ~node_cluster() {
    for (auto& node : nodes_)
      if (node->running())
        CHECK(node->stop() == 0);
  }

  node_cluster(const node_cluster&) = delete;
  node_cluster& operator=(const node_cluster&) = delete;

  size_t size() const { return nodes_.size(); }
  static std::string id(size_t i) { return "n" + std::to_string(i + 1); }
  node_process& node(size_t i) { return *nodes_.at(i); }
  std::string url(size_t i) const { return nodes_.at(i)->base_url(); }
  std::string seeds() const {
    std::string out;
    for (size_t i = 0; i < cluster_ports_.size(); ++i)
      out += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(cluster_ports_[i]);
    return out;
  }
  std::string dir(const std::string& name) const { return dir_ / name; }

  /// Starts one more node that joins the running cluster: its seeds are the others' cluster ports, not its own
  /// (what makes a node join rather than found). Returns its index once it answers (it serves once admitted).
  size_t add_node(std::map<std::string, std::string> extra = {}) {
    auto i = nodes_.size();
    auto env = fast_node_env();
    env["BENTO_NODE_ID"] = id(i);
    env["BENTO_SEEDS"] = seeds();
    env["BENTO_CLUSTER_SECRET"] = test_cluster_secret;
    cluster_ports_.push_back(free_port());
    env["BENTO_CLUSTER_PORT"] = std::to_string(cluster_ports_.back());
    env["BENTO_SHARDS"] = std::to_string(shards_);
    for (auto& [k, v] : extra_)
      env[k] = v;
    for (auto& [k, v] : extra)
      env[k] = v;
    nodes_.push_back(std::make_unique<node_process>(dir_ / id(i), env));
    names_.push_back(id(i));
    nodes_.back()->launch();
    nodes_.back()->wait_healthy(std::chrono::seconds(60));
    return i;
  }

  /// Node i loses its disk and is started again as an operator replaces a machine: kill -9, data dir gone, a new
  /// id ("n4-w1", ...) on the same cluster address, the others as seeds. It joins as a new member.
  void replace_disk(size_t i) {
    nodes_.at(i)->kill9();
    std::filesystem::remove_all(nodes_[i]->data_dir());
    names_[i] = id(i) + "-w" + std::to_string(++wipes_);
    auto env = fast_node_env();
    env["BENTO_NODE_ID"] = names_[i];
    std::string others;
    for (size_t k = 0; k < cluster_ports_.size(); ++k)
      if (k != i)
        others += (others.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(cluster_ports_[k]);
    env["BENTO_SEEDS"] = others;
    env["BENTO_CLUSTER_SECRET"] = test_cluster_secret;
    env["BENTO_CLUSTER_PORT"] = std::to_string(cluster_ports_[i]);
    if (i < proxies_.size())
      env["BENTO_CLUSTER_ADVERTISE"] = "127.0.0.1:" + std::to_string(proxies_[i]->port());
    env["BENTO_SHARDS"] = std::to_string(shards_);
    for (auto& [k, v] : extra_)
      env[k] = v;
    nodes_[i] = std::make_unique<node_process>(dir_ / names_[i], env);
    nodes_[i]->launch();
    nodes_[i]->wait_healthy(std::chrono::seconds(60));
  }
  /// Node i's id now (id(i) until replace_disk gave it a new one).
  const std::string& name(size_t i) const { return names_.at(i); }

  /// Cuts every link between the nodes in `side` and the others (both directions), as the running processes are
  /// now; needs `through_proxies`. heal() ends it.
  void partition(const std::set<size_t>& side) {
    REQUIRE(proxies_.size() == nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i) {
      std::set<pid_t> others;
      for (size_t k = 0; k < nodes_.size(); ++k)
        if (side.count(i) != side.count(k) && nodes_[k]->running())
          others.insert(nodes_[k]->pid());
      proxies_[i]->shut_out(std::move(others));
    }
  }
  void heal() {
    for (auto& p : proxies_)
      p->shut_out({});
  }

  /// What node i says about the cluster (and about `entity` when given); null when it does not answer.
  nlohmann::json view(size_t i, const std::string& entity = {}) {
    client::http_client http(url(i), std::chrono::seconds(2));
    auto r = http.get("/api/v1/cluster" + (entity.empty() ? std::string() : "?entity=" + entity));
    if (r.status != 200)
      return nullptr;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_discarded() ? nlohmann::json() : j;
  }

  static bool listed(const nlohmann::json& replicas, const std::string& node) {
    for (auto& r : replicas)
      if (r == node)
        return true;
    return false;
  }

  /// Index of the node every running replica of `entity`'s shard names as its leader (none while they
  /// disagree; nodes without a replica of it do not follow its elections).
  std::optional<size_t> leader_of(const std::string& entity) {
    std::optional<std::string> agreed;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i]->running())
        continue;
      auto v = view(i, entity);
      if (!v.is_object())
        return std::nullopt;
      if (!listed(v["entity"]["replicas"], name(i)))
        continue;
      if (!v["entity"]["leader"].is_string())
        return std::nullopt;
      auto leader = v["entity"]["leader"].get<std::string>();
      if (agreed && *agreed != leader)
        return std::nullopt;
      agreed = leader;
    }
    if (!agreed)
      return std::nullopt;
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (name(i) == *agreed)
        return i;
    return std::nullopt;
  }

  /// Every running replica of every shard sees a leader for it, a running node, and they all name the same one;
  /// and where the shard's first placed replica runs, it leads (nodes hand the lead back to it once caught up).
  bool settled() {
    std::optional<nlohmann::json> first;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i]->running())
        continue;
      auto v = view(i);
      if (!v.is_object())
        return false;
      nlohmann::json leaders = nlohmann::json::array();
      for (auto& g : v["shard_groups"]) {
        if (!listed(g["replicas"], name(i))) {
          leaders.push_back(nullptr);
          continue;
        }
        if (!g["leader"].is_string())
          return false;
        auto leader = g["leader"].get<std::string>();
        bool alive = false;
        for (size_t k = 0; k < nodes_.size(); ++k)
          alive = alive || (name(k) == leader && nodes_[k]->running());
        if (!alive)
          return false;
        auto preferred = g["replicas"].empty() ? std::string() : g["replicas"][0].get<std::string>();
        for (size_t k = 0; k < nodes_.size(); ++k)
          if (name(k) == preferred && nodes_[k]->running() && leader != preferred)
            return false;
        leaders.push_back(leader);
      }
      if (first)
        for (size_t g = 0; g < leaders.size() && g < first->size(); ++g) {
          if (leaders[g].is_null())
            continue;
          if ((*first)[g].is_null())
            (*first)[g] = leaders[g];
          else if ((*first)[g] != leaders[g])
            return false;
        }
      else
        first = leaders;
    }
    return first.has_value();
  }

  bool wait_settled(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!settled()) {
      if (std::chrono::steady_clock::now() >= deadline)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling interval of a bounded wait
    }
    return true;
  }

private:
  std::map<std::string, std::string> extra_;
  int shards_ = 8;
  temp_dir dir_;
  std::vector<uint16_t> cluster_ports_;
  std::vector<std::unique_ptr<tcp_proxy>> proxies_; // destroyed after the nodes (declared before them)
  std::vector<std::unique_ptr<node_process>> nodes_;
  std::vector<std::string> names_;
  int wipes_ = 0;
};

} // namespace bento::test
