// The C++ SDK (client/, bento::client_sdk) against the real bento-node: the API typed end to end, many
// pipelined calls, errors as values, failover across addresses and nodes, and an order retried with its
// idempotency key across a node's restart.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bento/client/client.hpp"
#include "tests/support/node_cluster.hpp"
#include "tests/support/node_process.hpp"

using namespace bento::test;
using namespace std::chrono_literals;
namespace bc = bento::client;

namespace {

const std::string password = "correct horse battery";

std::string address_of(node_process& n) { return "127.0.0.1:" + std::to_string(n.client_port()); }

std::unique_ptr<bc::client> client_for(std::vector<std::string> nodes, std::chrono::milliseconds timeout = 10s) {
  bc::options o;
  o.nodes = std::move(nodes);
  o.timeout = timeout;
  o.client_name = "sdk-integration";
  return std::make_unique<bc::client>(o);
}

template <class T>
const T& ok(const bc::result<T>& r) {
  INFO(bc::describe(r.error()));
  REQUIRE(r.has_value());
  return *r;
}

void ok(const bc::result<void>& r) {
  INFO(bc::describe(r.error()));
  REQUIRE(r.has_value());
}

template <class T>
bc::errc code_of(const bc::result<T>& r) {
  return r ? bc::errc::unknown : r.error().code;
}

void sign_up(bc::client& c, const std::string& name, bc::role role) {
  bc::register_request r;
  r.username = name;
  r.password = password;
  r.email = name + "@example.com";
  r.role = role;
  r.place = "taipei";
  auto u = ok(c.register_user(r));
  CHECK(u.username == name);
  auto s = ok(c.login(name, password));
  CHECK(s.user.role == role);
  CHECK(c.token() == s.token);
}

/// A merchant with a restaurant and an item `bento` of `stock` units, and a customer: one client each.
struct shop {
  std::unique_ptr<bc::client> merchant, customer;
  std::string rid;
};

shop open_shop(const std::vector<std::string>& nodes, int64_t stock, std::chrono::milliseconds timeout = 10s) {
  shop s{client_for(nodes, timeout), client_for(nodes, timeout), {}};
  sign_up(*s.merchant, "mia", bc::role::merchant);
  sign_up(*s.customer, "carl", bc::role::customer);
  s.rid = ok(s.merchant->create_restaurant({"Mia's", "taipei"})).id;
  bc::put_item_request item;
  item.restaurant_id = s.rid;
  item.item_id = "bento";
  item.name = "Bento";
  item.price_cents = 500;
  item.stock = stock;
  item.tags = {"rice"};
  item.meals = {bc::meal::lunch, bc::meal::dinner};
  auto written = ok(s.merchant->put_item(item));
  CHECK(written.created);
  CHECK(written.item.meals == std::vector<bc::meal>{bc::meal::lunch, bc::meal::dinner});
  return s;
}

/// Polls `ready` (bounded) for what only eventually holds, like a list built from the shards' feeds.
template <class F>
bool within(std::chrono::milliseconds timeout, F ready) {
  for (auto deadline = std::chrono::steady_clock::now() + timeout; std::chrono::steady_clock::now() < deadline;) {
    if (ready())
      return true;
    std::this_thread::sleep_for(10ms); // polling interval of a bounded wait
  }
  return ready();
}

bc::place_order_request bentos(const std::string& rid, int qty) {
  bc::place_order_request o;
  o.restaurant_id = rid;
  o.lines = {{"bento", qty}};
  o.meal = bc::meal::lunch;
  return o;
}

} // namespace

TEST_CASE("sdk: users, a restaurant, its menu and an order's whole life, typed", "[integration][sdk]") {
  running_node n;
  auto nodes = std::vector<std::string>{address_of(n.node)};
  auto s = open_shop(nodes, 5);
  auto& mia = *s.merchant;
  auto& carl = *s.customer;

  auto me = ok(carl.me());
  CHECK(me.username == "carl");
  CHECK(me.role == bc::role::customer);
  bc::register_request again{"mia", password, "mia@example.com", bc::role::merchant, "taipei"};
  CHECK(code_of(carl.register_user(again)) == bc::errc::already_exists);

  auto menu = ok(carl.get_menu({s.rid, ""}));
  CHECK(menu.restaurant.name == "Mia's");
  REQUIRE(menu.items.size() == 1);
  CHECK(menu.items[0].stock == 5);
  CHECK(menu.items[0].tags == std::vector<std::string>{"rice"});
  CHECK(ok(carl.list_restaurants({"taipei", 0, ""})).restaurants.size() == 1);
  bc::search_menu_request search;
  search.place = "taipei";
  search.meal = bc::meal::lunch;
  bc::menu_page page;
  for (auto deadline = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < deadline;) {
    page = ok(carl.search_menu(search)); // the catalog may trail the write by a moment
    if (page.items.size() == 1)
      break;
    std::this_thread::sleep_for(10ms); // polling interval of a bounded wait
  }
  REQUIRE(page.items.size() == 1);
  CHECK(page.items[0].restaurant_name == "Mia's");

  // An order, the same again with its key, the key reused for another order, too many units, a merchant.
  auto first = bentos(s.rid, 2);
  first.note = "extra sauce";
  first.idempotency_key = "k-1";
  auto o1 = ok(carl.place_order(first));
  CHECK(o1.status == bc::order_status::placed);
  CHECK(o1.total_cents == 1000);
  CHECK(o1.note == "extra sauce");
  REQUIRE(o1.lines.size() == 1);
  CHECK(o1.lines[0].qty == 2);
  CHECK(ok(carl.place_order(first)).id == o1.id);
  // The menu's encoding is shared by its readers until the restaurant changes: the order shows in the next one.
  CHECK(ok(carl.get_menu({s.rid, ""})).items.at(0).stock == 3);
  auto other = bentos(s.rid, 1);
  other.idempotency_key = "k-1";
  CHECK(code_of(carl.place_order(other)) == bc::errc::idempotency_key_reused);
  auto greedy = carl.place_order(bentos(s.rid, 4));
  REQUIRE_FALSE(greedy);
  CHECK(greedy.error().code == bc::errc::out_of_stock);
  CHECK(greedy.error().code_text == "out_of_stock");
  CHECK(greedy.error().item_id == "bento");
  CHECK(code_of(mia.place_order(bentos(s.rid, 1))) == bc::errc::forbidden);
  CHECK(code_of(carl.get_order("o_nope")) == bc::errc::not_found);

  // The merchant's side.
  auto placed = ok(mia.list_orders({bc::order_status::placed, "", 0, ""}));
  REQUIRE(placed.orders.size() == 1);
  CHECK(placed.orders[0].id == o1.id);
  bc::edit_order_request edit;
  edit.order_id = o1.id;
  edit.lines = std::vector<bc::line_request>{{"bento", 1}};
  edit.merchant_note = "one less";
  auto edited = ok(mia.edit_order(edit));
  CHECK(edited.total_cents == 500);
  CHECK(edited.merchant_note == "one less");
  CHECK(ok(mia.confirm_order(o1.id)).status == bc::order_status::confirmed);
  CHECK(ok(mia.deliver_order(o1.id)).status == bc::order_status::delivered);
  CHECK(code_of(carl.cancel_order(o1.id)) == bc::errc::invalid_transition);
  CHECK(ok(carl.get_order(o1.id)).status == bc::order_status::delivered);

  // Items: a patch of one field, If-Match, delete.
  bc::patch_item_request patch;
  patch.restaurant_id = s.rid;
  patch.item_id = "bento";
  patch.price_cents = 650;
  auto patched = ok(mia.patch_item(patch));
  CHECK(patched.item.price_cents == 650);
  CHECK(patched.item.name == "Bento");
  patch.if_match = patched.item.version - 1;
  CHECK(code_of(mia.patch_item(patch)) == bc::errc::precondition_failed);
  CHECK(ok(carl.get_item({s.rid, "bento", ""})).price_cents == 650);
  CHECK(ok(carl.get_menu({s.rid, ""})).items.at(0).price_cents == 650);
  ok(mia.delete_item({s.rid, "bento", patched.item.version}));
  CHECK(code_of(carl.get_item({s.rid, "bento", ""})) == bc::errc::not_found);

  // The cluster, alone; admin calls are refused by a node without an admin token.
  CHECK_FALSE(ok(carl.get_cluster_status()).clustered);
  CHECK(code_of(carl.decommission_node("n9", "admin-token-0123456789")) == bc::errc::forbidden);
  auto map = ok(carl.get_shard_map());
  CHECK(map.shards == 64);
  CHECK(map.leaders.size() == 64);

  // Logging out forgets the token; the session is over.
  auto token = carl.token();
  ok(carl.logout());
  CHECK(carl.token().empty());
  CHECK(code_of(carl.me()) == bc::errc::unauthorized);
  carl.set_token(token);
  CHECK(code_of(carl.me()) == bc::errc::unauthorized);
}

TEST_CASE("sdk: 200 concurrent async orders are pipelined, each placed exactly once", "[integration][sdk]") {
  running_node n;
  auto s = open_shop({address_of(n.node)}, 1000);
  std::vector<std::future<bc::result<bc::order>>> futures;
  std::vector<std::promise<bc::result<bc::order>>> called_back(50);
  for (int i = 0; i < 150; ++i)
    futures.push_back(s.customer->place_order_async(bentos(s.rid, 1)));
  for (auto& p : called_back)
    s.customer->place_order_async(bentos(s.rid, 1), [&p](bc::result<bc::order> r) { p.set_value(std::move(r)); });
  for (auto& p : called_back)
    futures.push_back(p.get_future());
  std::set<std::string> ids;
  for (auto& f : futures) {
    REQUIRE(f.wait_for(30s) == std::future_status::ready);
    ids.insert(ok(f.get()).id);
  }
  CHECK(ids.size() == 200);
  CHECK(ok(s.customer->get_item({s.rid, "bento", ""})).stock == 800);
}

TEST_CASE("sdk: a dead first address fails over; a stopped node is unreachable, as a value", "[integration][sdk]") {
  running_node n;
  auto dead = "127.0.0.1:" + std::to_string(free_port());
  auto c = client_for({dead, address_of(n.node)}, 5s);
  sign_up(*c, "carl", bc::role::customer);
  for (int i = 0; i < 4; ++i) // the round robin starts at each address in turn
    CHECK(ok(c->me()).username == "carl");

  REQUIRE(n.node.stop() == 0);
  auto started = std::chrono::steady_clock::now();
  auto me = c->me();
  CHECK(code_of(me) == bc::errc::unreachable);
  CHECK(std::chrono::steady_clock::now() - started < 4s);
}

TEST_CASE("sdk: an order retried with its idempotency key across a node's restart is one order",
          "[integration][sdk]") {
  running_node n;
  auto s = open_shop({address_of(n.node)}, 10);
  auto order = bentos(s.rid, 3);
  order.idempotency_key = "restart-1";
  auto placed = ok(s.customer->place_order(order));

  // The client's connections die with the node; the next call opens new ones to the restarted node.
  REQUIRE(n.node.stop() == 0);
  CHECK(code_of(s.customer->place_order(order)) == bc::errc::unreachable);
  n.node.start();
  auto retried = ok(s.customer->place_order(order));
  CHECK(retried.id == placed.id);
  CHECK(ok(s.customer->get_item({s.rid, "bento", ""})).stock == 7);
  CHECK(ok(s.customer->list_orders({})).orders.size() == 1);
}

TEST_CASE("sdk: in a cluster the client learns every node from one, routes to leaders, and rides out a node's "
          "stop",
          "[integration][sdk][cluster]") {
  node_cluster cluster(3);
  auto s = open_shop({address_of(cluster.node(0))}, 1000, 20s);
  auto map = ok(s.customer->get_shard_map());
  CHECK(map.nodes.size() == 3);
  REQUIRE(map.leaders.size() == map.shards);
  for (auto& l : map.leaders)
    CHECK(!l.empty());

  std::set<std::string> ids;
  for (int i = 0; i < 10; ++i)
    ids.insert(ok(s.customer->place_order(bentos(s.rid, 1))).id);
  // The node the client was given stops: the others, known from the map, carry on, leaders move.
  REQUIRE(cluster.node(0).stop() == 0);
  std::vector<std::future<bc::result<bc::order>>> during;
  for (int i = 0; i < 10; ++i)
    during.push_back(s.customer->place_order_async(bentos(s.rid, 1)));
  for (auto& f : during) {
    REQUIRE(f.wait_for(30s) == std::future_status::ready);
    ids.insert(ok(f.get()).id);
  }
  CHECK(ids.size() == 20);
  CHECK(ok(s.customer->me()).username == "carl");
  // Each order once, whatever was retried.
  CHECK(ok(s.customer->get_item({s.rid, "bento", ""})).stock == 980);
  CHECK(within(10s, [&] {
    auto listed = s.customer->list_orders({bc::order_status::any, "", 100, ""});
    return listed && listed->orders.size() == 20;
  }));
}
