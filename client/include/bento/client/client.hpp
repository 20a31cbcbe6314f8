#pragma once
// The Bento client SDK: the binary client protocol (docs/protocol.md) behind a typed, thread-safe API.
//
// One `client` holds a small pool of connections to each node it knows (the configured ones and those the
// cluster's shard map names), pipelines requests on them, sends requests about an entity straight to the
// leader of its shard, and retries where that cannot do harm: reads, PLACE_ORDER (always sent with an
// idempotency key) and answers that say nothing happened (unavailable, overloaded). Every operation comes in
// three forms:
//
//   result<order> r = c.place_order(req);                      // blocks until the answer or the timeout
//   std::future<result<order>> f = c.place_order_async(req);   // never blocks
//   c.place_order_async(req, [](result<order> r) { ... });     // never blocks; see callback below
//
// Many threads may share one client.
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bento/client/errors.hpp"
#include "bento/client/types.hpp"

namespace bento::client {

/// The SDK's version ("0.1.0").
std::string_view version() noexcept;

struct options {
  /// Where to start: "host:port" of nodes' client ports (BENTO_CLIENT_PORT). Nodes learned from the cluster's
  /// shard map are used too, so one reachable address is enough.
  std::vector<std::string> nodes;
  /// The session token to send; login() replaces it, logout() clears it.
  std::string token;
  /// Each call's budget, retries included. A read or PLACE_ORDER whose node says nothing at all for half of
  /// it (stopped, wedged) gives that node up for a while and tries another with the other half.
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
  /// How long one connection attempt (connect and handshake) may take within that budget.
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(3);
  /// Connections kept to each node; requests are pipelined on them.
  unsigned connections_per_node = 2;
  /// Sent in the handshake, for the node's logs (at most 64 bytes).
  std::string client_name = "bento-client-sdk";
  /// Send requests about an entity to its shard's leader (skipping a forwarding hop).
  bool leader_routing = true;
};

/// Runs on one of the SDK's threads, one callback at a time: it may call the client (even its blocking
/// forms), but a slow callback delays the others. It must not throw.
template <class T>
using callback = std::function<void(result<T>)>;

class client {
public:
  explicit client(options opts);
  /// Waits for the SDK's threads; calls still running finish with errc::cancelled. Do not destroy a client
  /// from within one of its callbacks.
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  void set_token(std::string token);
  std::string token() const;

  // --- users and sessions ---
  result<user> register_user(const register_request& req);
  std::future<result<user>> register_user_async(const register_request& req);
  void register_user_async(const register_request& req, callback<user> cb);

  /// On success the client keeps the session's token for the calls that follow.
  result<session> login(const std::string& username, const std::string& password);
  std::future<result<session>> login_async(const std::string& username, const std::string& password);
  void login_async(const std::string& username, const std::string& password, callback<session> cb);

  /// Ends the session; the client forgets its token.
  result<void> logout();
  std::future<result<void>> logout_async();
  void logout_async(callback<void> cb);

  result<user> me();
  std::future<result<user>> me_async();
  void me_async(callback<user> cb);

  // --- restaurants and menus ---
  result<restaurant> create_restaurant(const create_restaurant_request& req);
  std::future<result<restaurant>> create_restaurant_async(const create_restaurant_request& req);
  void create_restaurant_async(const create_restaurant_request& req, callback<restaurant> cb);

  result<restaurant_list> list_restaurants(const list_restaurants_request& req = {});
  std::future<result<restaurant_list>> list_restaurants_async(const list_restaurants_request& req = {});
  void list_restaurants_async(const list_restaurants_request& req, callback<restaurant_list> cb);

  result<menu> get_menu(const get_menu_request& req);
  std::future<result<menu>> get_menu_async(const get_menu_request& req);
  void get_menu_async(const get_menu_request& req, callback<menu> cb);

  result<menu_item> get_item(const get_item_request& req);
  std::future<result<menu_item>> get_item_async(const get_item_request& req);
  void get_item_async(const get_item_request& req, callback<menu_item> cb);

  result<item_written> put_item(const put_item_request& req);
  std::future<result<item_written>> put_item_async(const put_item_request& req);
  void put_item_async(const put_item_request& req, callback<item_written> cb);

  result<item_written> patch_item(const patch_item_request& req);
  std::future<result<item_written>> patch_item_async(const patch_item_request& req);
  void patch_item_async(const patch_item_request& req, callback<item_written> cb);

  result<void> delete_item(const delete_item_request& req);
  std::future<result<void>> delete_item_async(const delete_item_request& req);
  void delete_item_async(const delete_item_request& req, callback<void> cb);

  result<menu_page> search_menu(const search_menu_request& req);
  std::future<result<menu_page>> search_menu_async(const search_menu_request& req);
  void search_menu_async(const search_menu_request& req, callback<menu_page> cb);

  // --- orders ---
  /// Retried (with the same idempotency key) on a lost connection, unavailable, overloaded and
  /// outcome_unknown, so it never orders twice. When it fails after it may have reached a node (the time ran
  /// out, say), the error is outcome_unknown and error::idempotency_key holds the key it was sent with: place
  /// the same order again with that key to learn whether it was placed, without risking a second one.
  result<order> place_order(const place_order_request& req);
  std::future<result<order>> place_order_async(const place_order_request& req);
  void place_order_async(const place_order_request& req, callback<order> cb);

  result<order_list> list_orders(const list_orders_request& req = {});
  std::future<result<order_list>> list_orders_async(const list_orders_request& req = {});
  void list_orders_async(const list_orders_request& req, callback<order_list> cb);

  result<order> get_order(const std::string& order_id);
  std::future<result<order>> get_order_async(const std::string& order_id);
  void get_order_async(const std::string& order_id, callback<order> cb);

  result<order> confirm_order(const std::string& order_id);
  std::future<result<order>> confirm_order_async(const std::string& order_id);
  void confirm_order_async(const std::string& order_id, callback<order> cb);

  result<order> deliver_order(const std::string& order_id);
  std::future<result<order>> deliver_order_async(const std::string& order_id);
  void deliver_order_async(const std::string& order_id, callback<order> cb);

  result<order> cancel_order(const std::string& order_id);
  std::future<result<order>> cancel_order_async(const std::string& order_id);
  void cancel_order_async(const std::string& order_id, callback<order> cb);

  result<order> edit_order(const edit_order_request& req);
  std::future<result<order>> edit_order_async(const edit_order_request& req);
  void edit_order_async(const edit_order_request& req, callback<order> cb);

  // --- the cluster ---
  result<cluster_status> get_cluster_status();
  std::future<result<cluster_status>> get_cluster_status_async();
  void get_cluster_status_async(callback<cluster_status> cb);

  /// Asks a node for the shard map (the client also keeps the newest one it has seen for its routing).
  result<shard_map> get_shard_map();
  std::future<result<shard_map>> get_shard_map_async();
  void get_shard_map_async(callback<shard_map> cb);

  /// Moves every replica off node `node_id` (an operator's call). Sent with `admin_token` (the nodes'
  /// BENTO_ADMIN_TOKEN), not the session token, which stays as it is.
  result<void> decommission_node(const std::string& node_id, const std::string& admin_token);
  std::future<result<void>> decommission_node_async(const std::string& node_id, const std::string& admin_token);
  void decommission_node_async(const std::string& node_id, const std::string& admin_token, callback<void> cb);

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace bento::client
