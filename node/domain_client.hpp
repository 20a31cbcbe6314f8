#pragma once
// The one door from an edge (HTTP now, the binary client protocol next) into the domain. Each call sends a
// command to the router / catalog / order index and later invokes the callback with the reply or a failure.
// Nothing blocks: the callback runs on a CAF thread, or on the caller's own thread before call() returns (a
// menu pinned by its restaurant), so an edge must post it back to its own I/O context and hold no lock it
// takes again in the callback.
// CAF stays out of this header so that edge code compiles without it.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/outcome.hpp"

namespace caf {
class actor_system;
}

namespace bento::node {

struct node_runtime; // the spawned actors (node/runtime.hpp)

struct entity_stats {
  uint64_t users = 0, restaurants = 0, orders = 0, activations = 0, passivations = 0, evictions = 0;
  uint64_t catalog_restaurants = 0, catalog_items = 0;
  uint64_t catalog_shard_rebuilds = 0, events_pruned = 0;
  int64_t orders_settling = 0;
  uint64_t settle_retries = 0, settled_forward = 0, settled_back = 0, clock_regressions = 0;
};

class domain_client {
public:
  template <class T>
  using callback = std::function<void(domain::outcome<T>)>;

  domain_client(const node_runtime& rt, std::chrono::milliseconds timeout, size_t bridges = 4);
  ~domain_client();

  void call(domain::register_user cmd, callback<domain::user_view> done);
  void call(domain::verify_login cmd, callback<domain::user_view> done);
  void call(domain::get_user cmd, callback<domain::user_view> done);
  void call(domain::end_session cmd, callback<bool> done);
  void call(domain::set_member_state cmd, callback<bool> done);
  void call(domain::open_restaurant cmd, callback<domain::restaurant> done);
  void call(domain::upsert_menu_item cmd, callback<domain::upsert_result> done);
  void call(domain::patch_menu_item cmd, callback<domain::upsert_result> done);
  void call(domain::delete_menu_item cmd, callback<bool> done);
  void call(domain::get_menu cmd, callback<domain::menu_view> done);
  void call(domain::place_order cmd, callback<domain::order> done);
  void call(domain::get_order cmd, callback<domain::order> done);
  void call(domain::transition_order cmd, callback<domain::order> done);
  void call(domain::edit_order cmd, callback<domain::order> done);
  void call(domain::list_orders cmd, callback<domain::order_list> done);
  void call(domain::menu_query cmd, callback<domain::menu_page> done);
  void call(domain::restaurants_query cmd, callback<domain::restaurant_list> done);
  void stats(callback<entity_stats> done);
  /// A fresh order id (one that no Idempotency-Key names) in its restaurant's shard: the order then lives with
  /// the restaurant it reserves from (no request between two leaders per order, and in a cluster a
  /// restaurant's orders replicate through one group, whose every round writes and sends all of them at once).
  std::string new_order_id(const std::string& restaurant_id) const;

  /// Stops the bridge actors (shutdown).
  void stop();

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace bento::node
