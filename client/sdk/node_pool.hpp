#pragma once
// A few connections to each node, opened when first needed and again after one ends. A request goes on the
// least busy one; another connection opens only while the open ones are all busy, so a quiet client holds
// one connection per node.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/sdk/connection.hpp"

namespace bento::client::detail {

class node_pool {
public:
  struct ticket {
    std::weak_ptr<connection> conn;
    uint64_t id = 0;
  };

  node_pool(connection::settings settings, unsigned per_node);
  ~node_pool() { shutdown(); }
  node_pool(const node_pool&) = delete;
  node_pool& operator=(const node_pool&) = delete;

  /// Sends `req` to `address`; nothing (and `done` is not called) once the pool is shut down.
  std::optional<ticket> send(const std::string& address, pb::Request req, outcome_handler done);
  /// Stops the request if it is not sent yet, and drops its answer. Returns whether it may have reached the
  /// node (see connection::abandon).
  static bool abandon(const ticket& t);
  /// Ends every connection (their requests learn so on their threads) and joins their threads.
  void shutdown();

private:
  std::shared_ptr<connection> choose(const std::string& address);
  void reap(std::vector<std::shared_ptr<connection>>& out);

  const connection::settings settings_;
  const unsigned per_node_;
  std::mutex mutex_;
  bool shut_ = false;
  std::map<std::string, std::vector<std::shared_ptr<connection>>> nodes_;
  std::vector<std::shared_ptr<connection>> ending_; // ended, thread not yet done
};

} // namespace bento::client::detail
