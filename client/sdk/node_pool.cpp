#include "client/sdk/node_pool.hpp"

#include <algorithm>

namespace bento::client::detail {

node_pool::node_pool(connection::settings settings, unsigned per_node)
  : settings_(std::move(settings)), per_node_(std::max(1u, per_node)) {}

void node_pool::reap(std::vector<std::shared_ptr<connection>>& out) {
  // Under mutex_. Ended connections leave their slot at once; they are destroyed (joined) only when their
  // thread has finished, and outside the lock, since a thread still delivering outcomes may need the pool.
  for (auto& [address, conns] : nodes_)
    for (auto it = conns.begin(); it != conns.end();) {
      if ((*it)->ended()) {
        ending_.push_back(std::move(*it));
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
  for (auto it = ending_.begin(); it != ending_.end();) {
    if ((*it)->finished()) {
      out.push_back(std::move(*it));
      it = ending_.erase(it);
    } else {
      ++it;
    }
  }
}

std::shared_ptr<connection> node_pool::choose(const std::string& address) {
  std::vector<std::shared_ptr<connection>> finished;
  std::shared_ptr<connection> chosen;
  {
    std::lock_guard lock(mutex_);
    if (shut_)
      return nullptr;
    reap(finished);
    auto& conns = nodes_[address];
    size_t best_load = SIZE_MAX;
    for (auto& c : conns) {
      auto load = c->load();
      if (load < best_load) {
        best_load = load;
        chosen = c;
      }
    }
    if (!chosen || (best_load > 0 && conns.size() < per_node_)) {
      chosen = std::make_shared<connection>(address, settings_); // started by send(), after its request
      conns.push_back(chosen);
    }
  }
  return chosen; // `finished` joins here, outside the lock
}

std::optional<node_pool::ticket> node_pool::send(const std::string& address, pb::Request req,
                                                 outcome_handler done) {
  // A running connection may end between being chosen and being used; then the next choice opens a new one,
  // which cannot end before it holds the request, since it starts only after.
  for (;;) {
    auto conn = choose(address);
    if (!conn)
      return std::nullopt;
    auto id = conn->submit(req, done);
    conn->start();
    if (id)
      return ticket{conn, id};
  }
}

bool node_pool::abandon(const ticket& t) {
  if (auto conn = t.conn.lock())
    return conn->abandon(t.id);
  return true; // the connection is gone: it ended, and the request may have been written before
}

void node_pool::shutdown() {
  std::vector<std::shared_ptr<connection>> all;
  {
    std::lock_guard lock(mutex_);
    shut_ = true;
    for (auto& [address, conns] : nodes_)
      for (auto& c : conns)
        all.push_back(std::move(c));
    nodes_.clear();
    for (auto& c : ending_)
      all.push_back(std::move(c));
    ending_.clear();
  }
  for (auto& c : all)
    c->close();
  for (auto& c : all)
    c->join(); // while still holding them: see connection::join

}

} // namespace bento::client::detail
