// The binary client protocol (docs/protocol.md) against the real bento-node over raw sockets: the handshake,
// every error path of the framing (each ends the connection with a Goodbye, never a crash or a stall of other
// connections), pipelined requests answered out of order, back-pressure at the in-flight cap, timeouts, and
// the same rules as HTTP (roles, validation, idempotency) through the same door.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "bento/client/v1/client.pb.h"
#include "protocol/codec/frame_codec.hpp"
#include "tests/support/api_session.hpp"
#include "protocol/domain/shards.hpp"
#include "tests/support/node_cluster.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento::test;
using namespace std::chrono_literals;
namespace pb = bento::client::v1;

namespace {

/// One raw connection to the client port: frames in and out, and nothing the SDK would smooth over.
class raw_connection {
public:
  /// `receive_buffer` > 0 fixes the socket's receive buffer (no autotuning), as a small client's would be.
  explicit raw_connection(uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    if (receive_buffer > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~raw_connection() { ::close(fd_); }
  int fd() const { return fd_; }

  void send_bytes(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      auto n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0)
        return; // the node closed: what it said before is still readable
      off += static_cast<size_t>(n);
    }
  }

  void send(const pb::ClientFrame& f) { send_bytes(bento::codec::frame(f.SerializeAsString())); }

  /// The next frame from the node, or nothing when it closed (or said nothing within `timeout`).
  std::optional<pb::ServerFrame> next(std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string body;
    while (true) {
      auto st = decoder_.next(body);
      if (st == bento::codec::frame_decoder::status::frame) {
        pb::ServerFrame f;
        REQUIRE(f.ParseFromString(body));
        return f;
      }
      REQUIRE(st == bento::codec::frame_decoder::status::need_more);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        return std::nullopt;
      char buf[16384];
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0)
        return std::nullopt;
      decoder_.feed(buf, static_cast<size_t>(n));
    }
  }

  /// Whether the node closed the connection (EOF) within `timeout`, reading past anything it still sent.
  bool closed_within(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      char buf[4096];
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0)
        return true;
    }
    return false;
  }

  pb::Welcome hello(std::vector<uint32_t> versions = {1}) {
    pb::ClientFrame f;
    for (auto v : versions)
      f.mutable_hello()->add_versions(v);
    f.mutable_hello()->set_client_name("client_protocol_test");
    send(f);
    auto w = next();
    REQUIRE(w);
    INFO(w->DebugString());
    REQUIRE(w->has_welcome());
    return w->welcome();
  }

  /// Sends a request (not waiting).
  uint64_t request(pb::Method method, const google::protobuf::Message& payload, const std::string& token = {},
                   const std::string& idempotency_key = {}, std::optional<uint64_t> id = std::nullopt) {
    pb::ClientFrame f;
    auto* r = f.mutable_request();
    r->set_id(id ? *id : ++next_id_);
    r->set_method(method);
    r->set_payload(payload.SerializeAsString());
    r->set_token(token);
    r->set_idempotency_key(idempotency_key);
    send(f);
    return r->id();
  }

  /// A request about entity `key`, `direct` or not, and its response (nothing else in flight).
  pb::Response routed(pb::Method method, const google::protobuf::Message& payload, const std::string& token,
                      const std::string& key, bool direct) {
    pb::ClientFrame f;
    auto* r = f.mutable_request();
    r->set_id(++next_id_);
    r->set_method(method);
    r->set_payload(payload.SerializeAsString());
    r->set_token(token);
    r->set_key(key);
    r->set_direct(direct);
    send(f);
    auto got = next();
    REQUIRE(got);
    REQUIRE(got->has_response());
    REQUIRE(got->response().id() == r->id());
    return got->response();
  }

  /// One request and its response (nothing else in flight).
  pb::Response call(pb::Method method, const google::protobuf::Message& payload, const std::string& token = {},
                    const std::string& idempotency_key = {}) {
    auto id = request(method, payload, token, idempotency_key);
    auto f = next();
    REQUIRE(f);
    REQUIRE(f->has_response());
    REQUIRE(f->response().id() == id);
    return f->response();
  }

  template <class Reply>
  Reply ok(pb::Method method, const google::protobuf::Message& payload, const std::string& token = {},
           const std::string& idempotency_key = {}) {
    auto r = call(method, payload, token, idempotency_key);
    INFO(r.error() << ": " << r.message());
    REQUIRE(r.error().empty());
    Reply out;
    REQUIRE(out.ParseFromString(r.payload()));
    return out;
  }

private:
  int fd_ = -1;
  bento::codec::frame_decoder decoder_{64u << 20};
  uint64_t next_id_ = 0;
};

std::string goodbye_of(raw_connection& c) {
  auto f = c.next();
  if (!f || !f->has_goodbye())
    return f ? "(not a goodbye) " + f->DebugString() : "(closed without a goodbye)";
  return f->goodbye().error();
}

pb::RegisterUserRequest registration(const std::string& name, pb::Role role) {
  pb::RegisterUserRequest r;
  r.set_username(name);
  r.set_password("correct horse battery");
  r.set_email(name + "@example.com");
  r.set_role(role);
  r.set_place("taipei");
  return r;
}

/// A signed-up user's session token through the binary protocol.
std::string sign_up(raw_connection& c, const std::string& name, pb::Role role) {
  c.ok<pb::User>(pb::REGISTER_USER, registration(name, role));
  pb::LoginRequest login;
  login.set_username(name);
  login.set_password("correct horse battery");
  auto s = c.ok<pb::Session>(pb::LOGIN, login);
  REQUIRE(!s.token().empty());
  REQUIRE(s.user().username() == name);
  return s.token();
}

pb::PlaceOrderRequest order_of(const std::string& rid, const std::string& item, int qty) {
  pb::PlaceOrderRequest o;
  o.set_restaurant_id(rid);
  auto* l = o.add_items();
  l->set_item_id(item);
  l->set_qty(qty);
  o.set_meal(pb::LUNCH);
  return o;
}

struct shop {
  std::string merchant, customer, rid;
};

/// A merchant with one restaurant and an item `bento` of `stock` units, and a customer.
shop open_shop(raw_connection& c, int64_t stock) {
  shop s;
  s.merchant = sign_up(c, "mia", pb::MERCHANT);
  s.customer = sign_up(c, "carl", pb::CUSTOMER);
  pb::CreateRestaurantRequest cr;
  cr.set_name("Mia's");
  cr.set_place("taipei");
  s.rid = c.ok<pb::Restaurant>(pb::CREATE_RESTAURANT, cr, s.merchant).id();
  pb::PutItemRequest item;
  item.set_restaurant_id(s.rid);
  item.set_item_id("bento");
  item.set_name("Bento");
  item.set_price_cents(500);
  item.set_stock(stock);
  auto written = c.ok<pb::ItemWritten>(pb::PUT_ITEM, item, s.merchant);
  REQUIRE(written.created());
  return s;
}

std::map<std::string, std::string> env_with(std::map<std::string, std::string> extra) {
  auto env = fast_node_env();
  for (auto& [k, v] : extra)
    env[k] = v;
  return env;
}

} // namespace

TEST_CASE("client protocol: the whole flow of the HTTP API, with the same rules", "[integration][client]") {
  temp_dir dir;
  node_process node(dir / "data");
  node.start();
  raw_connection c(node.client_port());
  auto welcome = c.hello({7, 1, 3});
  CHECK(welcome.version() == 1);
  CHECK(welcome.max_frame_bytes() == 1u << 20);
  CHECK(welcome.max_in_flight() == 128);
  auto s = open_shop(c, 5);

  // Reads: the menu, one item, the catalog (which may trail the write by a moment).
  pb::GetMenuRequest gm;
  gm.set_restaurant_id(s.rid);
  auto menu = c.ok<pb::Menu>(pb::GET_MENU, gm, s.customer);
  REQUIRE(menu.items_size() == 1);
  CHECK(menu.items(0).stock() == 5);
  CHECK(menu.restaurant().name() == "Mia's");
  pb::SearchMenuRequest search;
  search.set_place("taipei");
  pb::MenuPage page;
  for (auto deadline = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < deadline;) {
    page = c.ok<pb::MenuPage>(pb::SEARCH_MENU, search, s.customer);
    if (page.items_size() == 1)
      break;
    std::this_thread::sleep_for(10ms); // polling interval of a bounded wait
  }
  REQUIRE(page.items_size() == 1);
  CHECK(page.items(0).restaurant_id() == s.rid);
  CHECK(page.items(0).restaurant_name() == "Mia's");

  // An order with a key, and its retry: one order.
  auto o1 = c.ok<pb::Order>(pb::PLACE_ORDER, order_of(s.rid, "bento", 2), s.customer, "k-1");
  auto again = c.ok<pb::Order>(pb::PLACE_ORDER, order_of(s.rid, "bento", 2), s.customer, "k-1");
  CHECK(again.id() == o1.id());
  CHECK(o1.total_cents() == 1000);
  CHECK(o1.status() == pb::PLACED);
  // The same key for another order: refused as over HTTP.
  auto reused = c.call(pb::PLACE_ORDER, order_of(s.rid, "bento", 1), s.customer, "k-1");
  CHECK(reused.error() == "idempotency_key_reused");
  // Not enough units: the item is named.
  auto short_of = c.call(pb::PLACE_ORDER, order_of(s.rid, "bento", 4), s.customer, "k-2");
  CHECK(short_of.error() == "out_of_stock");
  CHECK(short_of.item_id() == "bento");

  // Roles and tokens.
  CHECK(c.call(pb::PLACE_ORDER, order_of(s.rid, "bento", 1), s.merchant).error() == "forbidden");
  CHECK(c.call(pb::ME, pb::Empty{}).error() == "unauthorized");
  CHECK(c.call(pb::ME, pb::Empty{}, "not-a-token").error() == "unauthorized");
  CHECK(c.ok<pb::User>(pb::ME, pb::Empty{}, s.customer).username() == "carl");

  // The merchant's side: the order is listed, confirmed, edited, delivered.
  pb::ListOrdersRequest lo;
  lo.set_status(pb::PLACED);
  auto listed = c.ok<pb::OrderList>(pb::LIST_ORDERS, lo, s.merchant);
  REQUIRE(listed.orders_size() == 1);
  CHECK(listed.orders(0).id() == o1.id());
  pb::OrderRequest which;
  which.set_order_id(o1.id());
  pb::EditOrderRequest edit;
  edit.set_order_id(o1.id());
  edit.set_merchant_note("one less");
  edit.set_has_items(true);
  auto* line = edit.add_items();
  line->set_item_id("bento");
  line->set_qty(1);
  auto edited = c.ok<pb::Order>(pb::EDIT_ORDER, edit, s.merchant);
  CHECK(edited.merchant_note() == "one less");
  CHECK(edited.total_cents() == 500);
  CHECK(c.ok<pb::Order>(pb::CONFIRM_ORDER, which, s.merchant).status() == pb::CONFIRMED);
  CHECK(c.ok<pb::Order>(pb::DELIVER_ORDER, which, s.merchant).status() == pb::DELIVERED);
  CHECK(c.call(pb::CANCEL_ORDER, which, s.customer).error() == "invalid_transition");

  // Items: PATCH names only what changes, If-Match guards, DELETE.
  pb::PatchItemRequest patch;
  patch.set_restaurant_id(s.rid);
  patch.set_item_id("bento");
  patch.set_price_cents(650);
  auto patched = c.ok<pb::ItemWritten>(pb::PATCH_ITEM, patch, s.merchant);
  CHECK(patched.item().price_cents() == 650);
  CHECK(patched.item().stock() == 4);
  patch.set_has_if_match(true);
  patch.set_if_match(patched.item().version() - 1);
  CHECK(c.call(pb::PATCH_ITEM, patch, s.merchant).error() == "precondition_failed");
  pb::PatchItemRequest empty_patch;
  empty_patch.set_restaurant_id(s.rid);
  empty_patch.set_item_id("bento");
  CHECK(c.call(pb::PATCH_ITEM, empty_patch, s.merchant).error() == "invalid_argument");
  pb::ItemRequest get_item;
  get_item.set_restaurant_id(s.rid);
  get_item.set_item_id("bento");
  CHECK(c.ok<pb::MenuItem>(pb::GET_ITEM, get_item, s.customer).price_cents() == 650);
  c.ok<pb::Empty>(pb::DELETE_ITEM, get_item, s.merchant);
  CHECK(c.call(pb::GET_ITEM, get_item, s.customer).error() == "not_found");

  // Validation is the HTTP API's.
  auto bad_user = registration("x", pb::CUSTOMER);
  CHECK(c.call(pb::REGISTER_USER, bad_user).error() == "invalid_argument");
  CHECK(c.call(pb::REGISTER_USER, registration("mia", pb::MERCHANT)).error() == "already_exists");
  pb::ListRestaurantsRequest lr;
  lr.set_limit(100000);
  CHECK(c.call(pb::LIST_RESTAURANTS, lr, s.customer).error() == "invalid_argument");
  lr.set_limit(0);
  CHECK(c.ok<pb::RestaurantList>(pb::LIST_RESTAURANTS, lr, s.customer).restaurants_size() == 1);

  // Topology and status, alone: one node leads everything.
  auto map = c.ok<pb::ShardMap>(pb::SHARD_MAP, pb::Empty{});
  CHECK(map.shards() == 64);
  CHECK(map.leaders_size() == 64);
  auto status = c.ok<pb::ClusterStatus>(pb::CLUSTER_STATUS, pb::Empty{}, s.customer);
  CHECK_FALSE(status.clustered());

  // Admin calls: refused while the node has no admin token.
  pb::DecommissionRequest dec;
  dec.set_node_id("n9");
  CHECK(c.call(pb::DECOMMISSION_NODE, dec, s.merchant).error() == "forbidden");

  // Logout ends the token on this edge and on HTTP alike.
  c.ok<pb::Empty>(pb::LOGOUT, pb::Empty{}, s.customer);
  CHECK(c.call(pb::ME, pb::Empty{}, s.customer).error() == "unauthorized");
  api_session http(node.base_url());
  http.token = s.customer;
  CHECK(http.call("GET", "/api/v1/me").status == 401);
}

TEST_CASE("client protocol: pipelined requests are answered out of order, matched by id; a bad payload or an "
          "unknown method fails that request only",
          "[integration][client]") {
  temp_dir dir;
  node_process node(dir / "data");
  node.start();
  raw_connection c(node.client_port());
  c.hello();
  auto s = open_shop(c, 1000);
  // 100 orders and 100 reads sent before any answer is read.
  std::set<uint64_t> sent, orders;
  for (int k = 0; k < 100; ++k) {
    auto id = c.request(pb::PLACE_ORDER, order_of(s.rid, "bento", 1), s.customer, "p-" + std::to_string(k));
    sent.insert(id);
    orders.insert(id);
    pb::GetMenuRequest gm;
    gm.set_restaurant_id(s.rid);
    sent.insert(c.request(pb::GET_MENU, gm, s.customer));
  }
  // A request with a payload that is not its message, and a method from the future.
  pb::ClientFrame junk;
  junk.mutable_request()->set_id(5000);
  junk.mutable_request()->set_method(pb::PLACE_ORDER);
  junk.mutable_request()->set_payload(std::string("\xff\xff\xff\xff", 4));
  junk.mutable_request()->set_token(s.customer);
  c.send(junk);
  pb::ClientFrame future;
  future.mutable_request()->set_id(5001);
  future.mutable_request()->set_method(static_cast<pb::Method>(999));
  c.send(future);
  std::set<uint64_t> answered;
  std::set<std::string> order_ids;
  std::vector<uint64_t> order_of_answers;
  std::map<uint64_t, std::string> errors;
  while (answered.size() < sent.size() + 2) {
    auto f = c.next();
    REQUIRE(f);
    REQUIRE(f->has_response());
    auto& r = f->response();
    CHECK(answered.insert(r.id()).second);
    order_of_answers.push_back(r.id());
    if (!r.error().empty()) {
      errors[r.id()] = r.error();
    } else if (orders.count(r.id())) {
      pb::Order o;
      REQUIRE(o.ParseFromString(r.payload()));
      order_ids.insert(o.id());
    }
  }
  CHECK(errors.size() == 2);
  CHECK(errors[5000] == "invalid_argument");
  CHECK(errors[5001] == "unknown_method");
  CHECK(order_ids.size() == 100);
  // The connection is still good.
  pb::GetMenuRequest gm;
  gm.set_restaurant_id(s.rid);
  CHECK(c.ok<pb::Menu>(pb::GET_MENU, gm, s.customer).items(0).stock() == 900);
}

TEST_CASE("client protocol: at the in-flight cap the node stops reading instead of queueing or refusing",
          "[integration][client]") {
  temp_dir dir;
  node_process node(dir / "data", env_with({{"BENTO_CLIENT_MAX_IN_FLIGHT", "2"}}));
  node.start();
  raw_connection c(node.client_port());
  CHECK(c.hello().max_in_flight() == 2);
  auto s = open_shop(c, 1000);
  for (int k = 0; k < 60; ++k)
    c.request(pb::PLACE_ORDER, order_of(s.rid, "bento", 1), s.customer, "cap-" + std::to_string(k));
  int ok = 0;
  for (int k = 0; k < 60; ++k) {
    auto f = c.next();
    REQUIRE(f);
    REQUIRE(f->has_response());
    ok += f->response().error().empty() ? 1 : 0;
  }
  CHECK(ok == 60);
}

TEST_CASE("client protocol: malformed input ends that connection with a Goodbye and nothing else",
          "[integration][client]") {
  temp_dir dir;
  node_process node(dir / "data",
                    env_with({{"BENTO_CLIENT_IO_TIMEOUT_MS", "300"}, {"BENTO_CLIENT_IDLE_S", "1"}}));
  node.start();
  auto port = node.client_port();
  // A well-behaved client keeps working throughout.
  raw_connection good(port);
  good.hello();
  auto s = open_shop(good, 100);

  SECTION("a request before the Hello") {
    raw_connection c(port);
    c.request(pb::ME, pb::Empty{}, s.customer);
    CHECK(goodbye_of(c) == "protocol_error");
    CHECK(c.closed_within(5s));
  }
  SECTION("no version in common") {
    raw_connection c(port);
    pb::ClientFrame f;
    f.mutable_hello()->add_versions(2);
    c.send(f);
    auto bye = c.next();
    REQUIRE(bye);
    REQUIRE(bye->has_goodbye());
    CHECK(bye->goodbye().error() == "unsupported_version");
    CHECK(bye->goodbye().versions_size() == 1);
    CHECK(bye->goodbye().versions(0) == 1);
  }
  SECTION("a length over the limit is refused before its body") {
    raw_connection c(port);
    c.hello();
    c.send_bytes(std::string("\xff\xff\xff\xf0", 4));
    CHECK(goodbye_of(c) == "frame_too_large");
  }
  SECTION("a zero length") {
    raw_connection c(port);
    c.hello();
    c.send_bytes(std::string(4, '\0'));
    CHECK(goodbye_of(c) == "protocol_error");
  }
  SECTION("bytes that are not a frame message") {
    raw_connection c(port);
    c.send_bytes(bento::codec::frame(std::string("\x0a\xff\xff\xff\xff\xff", 6)));
    CHECK(goodbye_of(c) == "protocol_error");
  }
  SECTION("a second Hello") {
    raw_connection c(port);
    c.hello();
    pb::ClientFrame f;
    f.mutable_hello()->add_versions(1);
    c.send(f);
    CHECK(goodbye_of(c) == "protocol_error");
  }
  SECTION("an id that is still in flight") {
    raw_connection c(port);
    c.hello();
    // Two requests with id 7 in one write: the node reads both before the first can be answered.
    pb::ClientFrame first, second;
    first.mutable_request()->set_id(7);
    first.mutable_request()->set_method(pb::ME);
    first.mutable_request()->set_token(s.customer);
    second = first;
    c.send_bytes(bento::codec::frame(first.SerializeAsString()) + bento::codec::frame(second.SerializeAsString()));
    std::string seen;
    for (int k = 0; k < 3 && seen != "protocol_error"; ++k) {
      auto f = c.next();
      if (!f)
        break;
      if (f->has_goodbye())
        seen = f->goodbye().error();
    }
    CHECK(seen == "protocol_error");
  }
  SECTION("a frame that stops half way (slow client)") {
    raw_connection c(port);
    c.hello();
    c.send_bytes(std::string("\x00\x00\x00\x40", 4) + "0123456789");
    CHECK(goodbye_of(c) == "slow_client");
  }
  SECTION("a steady sender whose writes end mid-frame is not a slow client") {
    raw_connection c(port);
    c.hello();
    // Every 50 ms: the rest of one frame and the first byte of the next, for 1.5 s (five I/O timeouts).
    std::vector<std::string> frames;
    for (int k = 0; k < 31; ++k) {
      pb::ClientFrame f;
      f.mutable_request()->set_id(static_cast<uint64_t>(k + 1));
      f.mutable_request()->set_method(pb::SHARD_MAP);
      frames.push_back(bento::codec::frame(f.SerializeAsString()));
    }
    c.send_bytes(frames[0].substr(0, 1));
    for (int k = 0; k + 1 < 31; ++k) {
      std::this_thread::sleep_for(50ms); // the sender's pace, not a synchronisation
      c.send_bytes(frames[k].substr(1) + frames[k + 1].substr(0, 1));
    }
    c.send_bytes(frames[30].substr(1));
    for (int k = 0; k < 31; ++k) {
      auto f = c.next();
      REQUIRE(f);
      INFO(f->DebugString());
      REQUIRE(f->has_response());
    }
  }
  SECTION("idle after the Hello") {
    raw_connection c(port);
    c.hello();
    CHECK(goodbye_of(c) == "idle_timeout");
  }
  SECTION("random bytes") {
    std::mt19937 rng(20261126);
    for (int round = 0; round < 20; ++round) {
      raw_connection c(port);
      if (round % 2)
        c.hello();
      std::string junk(1 + rng() % 300, '\0');
      for (auto& ch : junk)
        ch = static_cast<char>(rng());
      c.send_bytes(junk);
      CHECK(c.closed_within(5s));
    }
  }
  // Other clients never noticed; the node is up. (A fresh connection: the good one may have idled out.)
  raw_connection after(port);
  after.hello();
  pb::GetMenuRequest gm;
  gm.set_restaurant_id(s.rid);
  CHECK(after.ok<pb::Menu>(pb::GET_MENU, gm, s.customer).items_size() == 1);
  api_session http(node.base_url());
  CHECK(http.call("GET", "/healthz").status == 200);
}

TEST_CASE("client protocol: in a cluster the shard map names each shard's leader, and a direct request to another "
          "node is told where to go",
          "[integration][client][cluster]") {
  node_cluster c(3, {{"BENTO_ADMIN_TOKEN", "admin-token-0123456789"}});
  raw_connection first(c.node(0).client_port());
  first.hello();
  auto s = open_shop(first, 10);
  auto key = "restaurant/" + s.rid;
  std::optional<size_t> leader;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!(leader = c.leader_of(key)) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms); // polling interval of a bounded wait
  REQUIRE(leader);
  REQUIRE(c.wait_settled());
  auto leader_address = "127.0.0.1:" + std::to_string(c.node(*leader).client_port());

  // Every node's map names the same leader for the key's shard, and every node's client address.
  for (size_t i = 0; i < c.size(); ++i) {
    raw_connection any(c.node(i).client_port());
    any.hello();
    auto map = any.ok<pb::ShardMap>(pb::SHARD_MAP, pb::Empty{});
    REQUIRE(map.shards() > 0);
    REQUIRE(map.leaders_size() == static_cast<int>(map.shards()));
    CHECK(map.nodes_size() == 3);
    CHECK(map.epoch() > 0);
    auto shard = bento::domain::shard_of(key, static_cast<bento::domain::shard_id>(map.shards()));
    CHECK(map.leaders(shard) == leader_address);
    for (auto& l : map.leaders())
      CHECK(!l.empty());
  }

  // Direct to a follower: not served there, told where.
  auto follower = (*leader + 1) % c.size();
  raw_connection f(c.node(follower).client_port());
  f.hello();
  pb::GetMenuRequest gm;
  gm.set_restaurant_id(s.rid);
  auto refused = f.routed(pb::GET_MENU, gm, s.customer, key, true);
  CHECK(refused.error() == "not_leader");
  CHECK(refused.leader() == leader_address);
  // Without `direct` the follower forwards, and still names the leader for next time.
  auto forwarded = f.routed(pb::GET_MENU, gm, s.customer, key, false);
  CHECK(forwarded.error().empty());
  CHECK(forwarded.leader() == leader_address);
  // At the leader: served, no hint.
  raw_connection l(c.node(*leader).client_port());
  l.hello();
  auto served = l.routed(pb::GET_MENU, gm, s.customer, key, true);
  CHECK(served.error().empty());
  CHECK(served.leader().empty());
  pb::Menu menu;
  REQUIRE(menu.ParseFromString(served.payload()));
  CHECK(menu.items_size() == 1);
  // The cluster's status through the protocol: every member with its client address.
  auto status = l.ok<pb::ClusterStatus>(pb::CLUSTER_STATUS, pb::Empty{}, s.customer);
  CHECK(status.clustered());
  REQUIRE(status.members_size() == 3);
  for (auto& m : status.members())
    CHECK(!m.client_address().empty());

  // Decommission through the protocol: the admin token, compared as HTTP does; three members with three
  // replicas cannot lose one (the same refusal as HTTP's 409).
  pb::DecommissionRequest dec;
  dec.set_node_id(status.members(0).id());
  CHECK(l.call(pb::DECOMMISSION_NODE, dec, "wrong-token-0123456789").error() == "unauthorized");
  CHECK(l.call(pb::DECOMMISSION_NODE, dec, s.merchant).error() == "unauthorized");
  auto refused_move = l.call(pb::DECOMMISSION_NODE, dec, "admin-token-0123456789");
  INFO(refused_move.message());
  CHECK(refused_move.error() == "invalid_transition");
  dec.set_node_id("nobody");
  CHECK(l.call(pb::DECOMMISSION_NODE, dec, "admin-token-0123456789").error() == "not_found");
}

namespace {

int64_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoll(line.substr(6));
  return -1;
}

/// `count` more items on the shop's menu, ids "<prefix><k>", each with a description of `description_bytes`.
void add_items(raw_connection& c, const shop& s, int count, const std::string& prefix, size_t description_bytes) {
  for (int k = 0; k < count; ++k) {
    pb::PutItemRequest item;
    item.set_restaurant_id(s.rid);
    item.set_item_id(prefix + std::to_string(k));
    item.set_name("Item " + prefix + std::to_string(k));
    item.set_description(std::string(description_bytes, 'd'));
    item.set_price_cents(100 + k);
    item.set_stock(10);
    c.ok<pb::ItemWritten>(pb::PUT_ITEM, item, s.merchant);
  }
}

/// `count` GET_MENU requests of the shop's restaurant (ids 1..count), framed back to back: one write's worth.
std::string menu_reads(const shop& s, int count) {
  pb::GetMenuRequest gm;
  gm.set_restaurant_id(s.rid);
  std::string burst;
  for (int k = 0; k < count; ++k) {
    pb::ClientFrame f;
    f.mutable_request()->set_id(static_cast<uint64_t>(k + 1));
    f.mutable_request()->set_method(pb::GET_MENU);
    f.mutable_request()->set_payload(gm.SerializeAsString());
    f.mutable_request()->set_token(s.customer);
    burst += bento::codec::frame(f.SerializeAsString());
  }
  return burst;
}

double edge_gauge(const node_process& node, const std::string& name) {
  api_session http(node.base_url());
  auto body = http.call("GET", "/metrics").body;
  auto needle = "bento_edge{gauge=\"" + name + "\"} ";
  auto at = body.find(needle);
  return at == std::string::npos ? -1 : std::stod(body.substr(at + needle.size()));
}

} // namespace

TEST_CASE("client protocol: a client that reads its answers slower than it sends is held back (bounded memory), "
          "one that stops reading is dropped",
          "[integration][client]") {
  temp_dir dir;
  node_process node(dir / "data", env_with({{"BENTO_CLIENT_MAX_IN_FLIGHT", "8"}, {"BENTO_CLIENT_IO_TIMEOUT_MS", "500"}}));
  node.start();
  raw_connection setup(node.client_port());
  setup.hello();
  auto s = open_shop(setup, 10);
  // A menu of 100 items: each answer about 10 KiB.
  add_items(setup, s, 100, "item", 40);
  pb::GetMenuRequest gm;
  gm.set_restaurant_id(s.rid);
  auto burst = menu_reads(s, 30000);
  auto before = rss_kib(node.pid());

  // 30,000 menu reads (about 230 MB of answers) sent at once, their answers read at about 300 KiB/s: quick
  // enough that no write stalls past the I/O timeout, far slower than the node makes them. Unless the node
  // stops reading requests while answers wait, it takes them all and their answers pile up in its memory.
  // What it may hold: the in-flight cap, plus what the kernel buffers between it and the client.
  {
    raw_connection slow(node.client_port(), 64 * 1024);
    slow.hello();
    // Metrics are rendered at most once a second: a count is read when the connection count says the render
    // is one made after the event (two connections now, one once `slow` is gone).
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (edge_gauge(node, "client_connections") != 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms); // polling interval of a bounded wait
    auto accepted_before = edge_gauge(node, "client_requests");
    std::thread sender([&] { slow.send_bytes(burst); });
    auto until = std::chrono::steady_clock::now() + 4s;
    char buf[64 * 1024];
    bento::codec::frame_decoder frames(64u << 20);
    size_t answers = 0;
    std::string body;
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{slow.fd(), POLLIN, 0};
      ssize_t n = 0;
      if (::poll(&p, 1, 100) > 0 && (n = ::recv(slow.fd(), buf, sizeof buf, 0)) <= 0)
        break;
      frames.feed(buf, static_cast<size_t>(std::max<ssize_t>(n, 0)));
      while (frames.next(body) == bento::codec::frame_decoder::status::frame) {
        ++answers;
      }
      std::this_thread::sleep_for(100ms); // the slow reader's pace, not a synchronisation
    }
    auto during = rss_kib(node.pid());
    ::shutdown(slow.fd(), SHUT_RDWR); // ends the sender's blocked send, and the connection
    sender.join();
    deadline = std::chrono::steady_clock::now() + 20s;
    while (edge_gauge(node, "client_connections") != 1 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms); // polling interval of a bounded wait
    auto accepted = edge_gauge(node, "client_requests") - accepted_before;

    INFO("accepted " << accepted << " requests, " << answers << " answers read; RSS " << before << " -> "
                     << during << " KiB");
    REQUIRE(answers > 0);
    // 4 MiB of socket send buffer holds about 560 answers of this size; the cap 8 more.
    CHECK(accepted - static_cast<double>(answers) < 1500);
    CHECK(during - before < 64 * 1024);
  }

  // One that never reads: the node's write stalls on the full socket, and past the I/O timeout it drops it.
  raw_connection stuck(node.client_port());
  stuck.hello();
  timeval limit{2, 0};
  ::setsockopt(stuck.fd(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  stuck.send_bytes(burst);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (edge_gauge(node, "client_timeouts") < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms); // polling interval of a bounded wait
  CHECK(edge_gauge(node, "client_timeouts") >= 1);
  // Others are served meanwhile and after.
  CHECK(setup.ok<pb::Menu>(pb::GET_MENU, gm, s.customer).items_size() == 101);
}

TEST_CASE("client protocol: many connections asking for large answers without reading them hold the node's "
          "memory to a budget",
          "[integration][client]") {
  temp_dir dir;
  node_process node(dir / "data", env_with({{"BENTO_CLIENT_BUFFER_MIB", "64"}}));
  node.start();
  raw_connection setup(node.client_port());
  setup.hello();
  auto s = open_shop(setup, 10);
  // A menu of 200 items with long descriptions: about 420 KB an answer.
  add_items(setup, s, 200, "big", 2000);
  pb::GetMenuRequest gm;
  gm.set_restaurant_id(s.rid);
  auto burst = menu_reads(s, 128);
  auto before = rss_kib(node.pid());
  // 20 connections x 128 answers of 420 KB would be about 1 GB held in the node.
  std::vector<std::unique_ptr<raw_connection>> greedy;
  for (int c = 0; c < 20; ++c) {
    greedy.push_back(std::make_unique<raw_connection>(node.client_port(), 64 * 1024));
    greedy.back()->hello();
    greedy.back()->send_bytes(burst);
  }
  // The node answers what its budget allows, and stops reading; its memory stays near the budget.
  int64_t peak = before;
  auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    peak = std::max(peak, rss_kib(node.pid()));
    std::this_thread::sleep_for(50ms); // sampling interval
  }
  INFO("RSS before " << before << " KiB, peak " << peak << " KiB");
  CHECK(peak - before < 256 * 1024);
  greedy.clear();
  // Still serving.
  raw_connection after(node.client_port());
  after.hello();
  CHECK(after.ok<pb::Menu>(pb::GET_MENU, gm, s.customer).items_size() == 201);
}

TEST_CASE("client protocol: the rate limit and the per-address connection cap hold on the client port too; "
          "the cluster status is behind the metrics token",
          "[integration][client]") {
  temp_dir dir;
  node_process node(dir / "data", env_with({{"BENTO_RATE_LIMIT", "20"},
                                            {"BENTO_MAX_CONNECTIONS", "40"},
                                            {"BENTO_METRICS_TOKEN", "metrics-token-0123456789"}}));
  node.start();
  raw_connection c(node.client_port());
  c.hello();
  int throttled = 0;
  uint32_t retry_after = 0;
  for (int k = 0; k < 60; ++k) {
    auto r = c.call(pb::SHARD_MAP, pb::Empty{});
    if (r.error() == "too_many_requests") {
      ++throttled;
      retry_after = r.retry_after_ms();
    }
  }
  CHECK(throttled > 0);
  CHECK(retry_after >= 1000);
  // BENTO_MAX_CONNECTIONS 40: four per address.
  std::vector<std::unique_ptr<raw_connection>> extra;
  std::string refused;
  for (int k = 0; k < 6 && refused.empty(); ++k) {
    extra.push_back(std::make_unique<raw_connection>(node.client_port()));
    pb::ClientFrame f;
    f.mutable_hello()->add_versions(1);
    extra.back()->send(f);
    auto w = extra.back()->next();
    REQUIRE(w);
    if (w->has_goodbye())
      refused = w->goodbye().error();
  }
  CHECK(refused == "too_many_connections");
  CHECK(extra.size() == 4); // c and three more, then the fifth from this address is refused
  extra.clear();
  // The cluster status names addresses: the metrics token, not a session token.
  // A connection once the node has seen the others close (bounded wait).
  std::unique_ptr<raw_connection> ops_conn;
  for (auto deadline = std::chrono::steady_clock::now() + 10s; !ops_conn && std::chrono::steady_clock::now() < deadline;) {
    auto attempt = std::make_unique<raw_connection>(node.client_port());
    pb::ClientFrame f;
    f.mutable_hello()->add_versions(1);
    attempt->send(f);
    if (auto w = attempt->next(); w && w->has_welcome())
      ops_conn = std::move(attempt);
    else
      std::this_thread::sleep_for(20ms); // polling interval of a bounded wait
  }
  REQUIRE(ops_conn);
  auto& ops = *ops_conn;
  auto answer = [&](const std::string& token) {
    // Past the rate limit's refill: the answer that is not a throttle.
    pb::Response r;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    do
      r = ops.call(pb::CLUSTER_STATUS, pb::Empty{}, token);
    while (r.error() == "too_many_requests" && std::chrono::steady_clock::now() < deadline
           && (std::this_thread::sleep_for(20ms), true)); // polling interval of a bounded wait
    return r;
  };
  CHECK(answer("not-it").error() == "unauthorized");
  CHECK(answer("metrics-token-0123456789").error().empty());
}
