// The real bento-node over real sockets and a real RocksDB: the HTTP API as a client sees it.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "protocol/domain/calendar.hpp"
#include "tests/support/api_session.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento::test;

namespace {

json order_body(const std::string& rid, const std::string& item, int qty) {
  return {{"restaurant_id", rid}, {"items", json::array({{{"item_id", item}, {"qty", qty}}})}, {"meal", "lunch"}};
}

} // namespace

TEST_CASE("http: a customer orders from a merchant's menu, the merchant runs the order", "[integration]") {
  running_node n;
  api_session mia(n.node.base_url()), carl(n.node.base_url());
  mia.sign_up("mia", "merchant");
  carl.sign_up("carl", "customer");

  auto me = carl.call("GET", "/api/v1/me");
  REQUIRE(me.status == 200);
  CHECK(body_of(me)["username"] == "carl");
  CHECK_FALSE(body_of(me).contains("password_hash"));

  auto rid = mia.create_restaurant("Mia's Bento");
  mia.put_item(rid, "katsu", 1200, 5, {{"tags", {"meat"}}, {"meals", {"lunch", "dinner"}}});
  mia.put_item(rid, "salad", 800, 5, {{"tags", {"vegetarian"}}});

  auto restaurants = carl.call("GET", "/api/v1/restaurants?place=taipei");
  REQUIRE(restaurants.status == 200);
  CHECK(body_of(restaurants)["restaurants"].size() == 1);
  CHECK(body_of(restaurants)["next_cursor"].is_null());
  auto noodles = mia.create_restaurant("Mia's Noodles");
  auto page = body_of(carl.call("GET", "/api/v1/restaurants?place=taipei&limit=1"));
  REQUIRE(page["restaurants"].size() == 1);
  CHECK(page["restaurants"][0]["id"] == rid); // "Mia's Bento" < "Mia's Noodles"
  REQUIRE(page["next_cursor"].is_string());
  page = body_of(carl.call("GET", "/api/v1/restaurants?place=taipei&limit=1&cursor="
                                  + page["next_cursor"].get<std::string>()));
  REQUIRE(page["restaurants"].size() == 1);
  CHECK(page["restaurants"][0]["id"] == noodles);
  CHECK(page["next_cursor"].is_null());

  auto menu = carl.call("GET", "/api/v1/menu?place=taipei&tag=meat");
  REQUIRE(menu.status == 200);
  REQUIRE(body_of(menu)["items"].size() == 1);
  CHECK(body_of(menu)["items"][0]["restaurant_name"] == "Mia's Bento");

  auto placed = carl.call("POST", "/api/v1/orders",
                          {{"restaurant_id", rid},
                           {"items", {{{"item_id", "katsu"}, {"qty", 2}}, {{"item_id", "salad"}, {"qty", 1}}}},
                           {"meal", "lunch"},
                           {"note", "extra sauce"}});
  INFO(placed.body);
  REQUIRE(placed.status == 201);
  auto order = body_of(placed);
  CHECK(order["status"] == "placed");
  CHECK(order["total_cents"] == 2 * 1200 + 800);
  std::string oid = order["id"];

  auto rmenu = carl.call("GET", "/api/v1/restaurants/" + rid + "/menu");
  REQUIRE(rmenu.status == 200);
  auto menu_items = body_of(rmenu)["items"]; // a copy: a range-for over a temporary's member would dangle
  REQUIRE(menu_items.size() == 2);
  for (auto& item : menu_items)
    CHECK(item["stock"] == (item["id"] == "katsu" ? 3 : 4));

  // The merchant sees it among their restaurant's orders; another customer does not see it at all.
  auto merchant_list = mia.call("GET", "/api/v1/orders?status=placed");
  REQUIRE(merchant_list.status == 200);
  CHECK(body_of(merchant_list)["orders"].size() == 1);
  api_session eve(n.node.base_url());
  eve.sign_up("eve", "customer");
  check_error(eve.call("GET", "/api/v1/orders/" + oid), 404, "not_found");
  CHECK(body_of(eve.call("GET", "/api/v1/orders"))["orders"].empty());

  // Merchant edits quantities: stock follows, total is recomputed.
  auto edited = mia.call("PATCH", "/api/v1/orders/" + oid, {{"items", {{{"item_id", "katsu"}, {"qty", 1}}}}});
  INFO(edited.body);
  REQUIRE(edited.status == 200);
  CHECK(body_of(edited)["total_cents"] == 1200);
  auto after_edit = body_of(carl.call("GET", "/api/v1/restaurants/" + rid + "/menu"))["items"];
  for (auto& item : after_edit)
    CHECK(item["stock"] == (item["id"] == "katsu" ? 4 : 5));

  check_error(carl.call("POST", "/api/v1/orders/" + oid + "/confirm"), 403, "forbidden");
  check_error(mia.call("POST", "/api/v1/orders/" + oid + "/deliver"), 409, "invalid_transition");
  REQUIRE(mia.call("POST", "/api/v1/orders/" + oid + "/confirm").status == 200);
  check_error(carl.call("POST", "/api/v1/orders/" + oid + "/cancel"), 409, "invalid_transition");
  auto delivered = mia.call("POST", "/api/v1/orders/" + oid + "/deliver");
  REQUIRE(delivered.status == 200);
  CHECK(body_of(delivered)["status"] == "delivered");
  check_error(mia.call("POST", "/api/v1/orders/" + oid + "/cancel"), 409, "invalid_transition");

  auto mine = carl.call("GET", "/api/v1/orders?status=delivered&month=" + order["date"].get<std::string>().substr(0, 7));
  REQUIRE(mine.status == 200);
  CHECK(body_of(mine)["orders"].size() == 1);

  // A second order is cancelled by the customer and gives its stock back.
  auto second = carl.call("POST", "/api/v1/orders", order_body(rid, "salad", 5));
  REQUIRE(second.status == 201);
  check_error(carl.call("POST", "/api/v1/orders", order_body(rid, "salad", 1)), 409, "out_of_stock");
  REQUIRE(carl.call("POST", "/api/v1/orders/" + body_of(second)["id"].get<std::string>() + "/cancel").status == 200);
  REQUIRE(carl.call("POST", "/api/v1/orders", order_body(rid, "salad", 1)).status == 201);

  // Deleting an item removes it from the menu and the catalog.
  REQUIRE(mia.call("DELETE", "/api/v1/restaurants/" + rid + "/menu/items/katsu").status == 204);
  CHECK(body_of(carl.call("GET", "/api/v1/menu?tag=meat"))["items"].empty());

  // Logging out ends the token.
  REQUIRE(carl.call("DELETE", "/api/v1/sessions/current").status == 204);
  check_error(carl.call("GET", "/api/v1/me"), 401, "unauthorized");
}

TEST_CASE("http: menus answered without asking the restaurant still show every acknowledged write",
          "[integration]") {
  // The edge answers a menu read from what the restaurant pinned (actors/restaurant/menu_board.hpp) when it
  // can: each acknowledged order, edit and delete must show in the next read all the same.
  running_node n;
  api_session mia(n.node.base_url()), carl(n.node.base_url());
  mia.sign_up("mia", "merchant");
  carl.sign_up("carl", "customer");
  auto rid = mia.create_restaurant("Mia's");
  auto menu_path = "/api/v1/restaurants/" + rid + "/menu";
  auto tea_path = menu_path + "/items/tea";
  REQUIRE(mia.call("PUT", tea_path, {{"name", "Tea"}, {"price_cents", 100}, {"stock", 40}}).status == 201);
  auto hits = [&] {
    auto body = mia.call("GET", "/metrics").body;
    auto at = body.find("bento_edge{gauge=\"menu_board_hits\"} ");
    REQUIRE(at != std::string::npos);
    return std::stoull(body.substr(body.find("} ", at) + 2));
  };
  auto tea = [&] {
    auto items = body_of(carl.call("GET", menu_path))["items"];
    REQUIRE(items.size() >= 1);
    return items[0];
  };
  auto before = hits();
  for (int i = 1; i <= 10; ++i) {
    CHECK(tea()["stock"] == 40 - 2 * (i - 1)); // asks the restaurant (its menu changed) or the board
    CHECK(tea()["stock"] == 40 - 2 * (i - 1)); // the board
    REQUIRE(carl.call("POST", "/api/v1/orders", order_body(rid, "tea", 2)).status == 201);
    CHECK(tea()["stock"] == 40 - 2 * i);
    REQUIRE(mia.call("PATCH", tea_path, {{"price_cents", 100 + i}}).status == 200);
    CHECK(tea()["price_cents"] == 100 + i);
    CHECK(body_of(carl.call("GET", tea_path))["price_cents"] == 100 + i); // an item is read from the menu too
  }
  // Scrapes within a second share one render: poll (bounded) for a fresh one.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (hits() < before + 10 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100)); // polling interval of a bounded wait
  CHECK(hits() >= before + 10);
  REQUIRE(mia.call("DELETE", tea_path).status == 204);
  CHECK(body_of(carl.call("GET", menu_path))["items"].empty());
  check_error(carl.call("GET", tea_path), 404, "not_found");
  check_error(carl.call("GET", "/api/v1/restaurants/nowhere/menu"), 404, "not_found");
}

TEST_CASE("http: an order without meal or date gets the next meal slot", "[integration]") {
  running_node n;
  api_session mia(n.node.base_url()), carl(n.node.base_url());
  mia.sign_up("mia", "merchant");
  carl.sign_up("carl", "customer");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "rice", 100, 10);
  auto r = carl.call("POST", "/api/v1/orders", {{"restaurant_id", rid}, {"items", {{{"item_id", "rice"}, {"qty", 1}}}}});
  REQUIRE(r.status == 201);
  auto o = body_of(r);
  CHECK((o["meal"] == "breakfast" || o["meal"] == "lunch" || o["meal"] == "dinner"));
  CHECK(o["date"].get<std::string>().size() == 10);
}

TEST_CASE("http: a daily item has a stock per day; the menu shows the asked day's", "[integration]") {
  running_node n;
  api_session mia(n.node.base_url()), carl(n.node.base_url());
  mia.sign_up("mia", "merchant");
  carl.sign_up("carl", "customer");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "katsu", 1200, 5, {{"daily_stock", 5}});
  // The node's today, as it reports it: an order without date or meal gets the next slot, whose day is today
  // or tomorrow; take the day after that, which is a later day either way.
  auto probe = body_of(carl.call("POST", "/api/v1/orders", order_body(rid, "katsu", 1)));
  auto later = bento::domain::add_days(probe["date"].get<std::string>(), 1);
  REQUIRE(carl.call("POST", "/api/v1/orders/" + probe["id"].get<std::string>() + "/cancel").status == 200);
  auto body = order_body(rid, "katsu", 3);
  body["date"] = later;
  REQUIRE(carl.call("POST", "/api/v1/orders", body).status == 201);
  auto stock_in = [&](const std::string& path) { return body_of(carl.call("GET", path))["items"][0]["stock"]; };
  CHECK(stock_in("/api/v1/menu") == 5);
  CHECK(stock_in("/api/v1/menu?date=" + later) == 2);
  CHECK(stock_in("/api/v1/restaurants/" + rid + "/menu") == 5);
  CHECK(stock_in("/api/v1/restaurants/" + rid + "/menu?date=" + later) == 2);
  check_error(carl.call("POST", "/api/v1/orders", body), 409, "out_of_stock");
  body["items"][0]["qty"] = 2;
  CHECK(carl.call("POST", "/api/v1/orders", body).status == 201);
  CHECK(stock_in("/api/v1/menu?date=" + later) == 0);
}

TEST_CASE("http: the same Idempotency-Key places one order and reserves once", "[integration]") {
  running_node n;
  api_session mia(n.node.base_url()), carl(n.node.base_url());
  mia.sign_up("mia", "merchant");
  carl.sign_up("carl", "customer");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "katsu", 1200, 5);
  auto first = carl.call("POST", "/api/v1/orders", order_body(rid, "katsu", 2), {{"Idempotency-Key", "abc-1"}});
  auto again = carl.call("POST", "/api/v1/orders", order_body(rid, "katsu", 2), {{"Idempotency-Key", "abc-1"}});
  REQUIRE(first.status == 201);
  REQUIRE(again.status == 201);
  CHECK(body_of(first)["id"] == body_of(again)["id"]);
  CHECK(body_of(carl.call("GET", "/api/v1/restaurants/" + rid + "/menu"))["items"][0]["stock"] == 3);
  check_error(carl.call("POST", "/api/v1/orders", order_body(rid, "katsu", 1), {{"Idempotency-Key", "abc-1"}}), 422,
              "idempotency_key_reused");
}

TEST_CASE("http: customers racing for the last items never oversell", "[integration]") {
  running_node n;
  api_session mia(n.node.base_url());
  mia.sign_up("mia", "merchant");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "last", 500, 7);
  const int customers = 12, attempts = 3;
  auto sessions = sign_up_customers(n.node.base_url(), customers);
  std::atomic<int> placed{0}, sold_out{0}, other{0};
  std::vector<std::thread> threads;
  for (auto& s : sessions)
    threads.emplace_back([&, s = s.get()] {
      for (int k = 0; k < attempts; ++k) {
        auto r = s->call("POST", "/api/v1/orders", order_body(rid, "last", 1));
        if (r.status == 201)
          ++placed;
        else if (r.status == 409 && body_of(r).value("error", "") == "out_of_stock")
          ++sold_out;
        else
          ++other;
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(placed == 7);
  CHECK(sold_out == customers * attempts - 7);
  CHECK(other == 0);
  CHECK(body_of(mia.call("GET", "/api/v1/restaurants/" + rid + "/menu"))["items"][0]["stock"] == 0);
  CHECK(body_of(mia.call("GET", "/api/v1/orders"))["orders"].size() == 7);
}

TEST_CASE("http: hostile and malformed input gets a 4xx JSON error, never a crash", "[integration]") {
  running_node n;
  auto base = n.node.base_url();
  api_session mia(base), carl(base);
  mia.sign_up("mia", "merchant");
  carl.sign_up("carl", "customer");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "katsu", 1200, 5);
  bento::client::http_client anon(base);

  SECTION("registration") {
    check_error(anon.post("/api/v1/users", "{not json"), 400, "invalid_argument");
    check_error(anon.post("/api/v1/users", "[1,2]"), 400, "invalid_argument");
    check_error(anon.post("/api/v1/users", "{}"), 400, "invalid_argument");
    json good = {{"username", "newbie"}, {"password", "password1"}, {"email", "n@x.io"}, {"role", "customer"},
                 {"place", "taipei"}};
    auto bad = good;
    bad["username"] = "NO";
    check_error(anon.post("/api/v1/users", bad.dump()), 400, "invalid_argument");
    bad = good;
    bad["password"] = "short";
    check_error(anon.post("/api/v1/users", bad.dump()), 400, "invalid_argument");
    bad = good;
    bad["email"] = "not-an-email";
    check_error(anon.post("/api/v1/users", bad.dump()), 400, "invalid_argument");
    bad = good;
    bad["role"] = "admin";
    check_error(anon.post("/api/v1/users", bad.dump()), 400, "invalid_argument");
    bad = good;
    bad["username"] = 42;
    check_error(anon.post("/api/v1/users", bad.dump()), 400, "invalid_argument");
    REQUIRE(anon.post("/api/v1/users", good.dump()).status == 201);
    check_error(anon.post("/api/v1/users", good.dump()), 409, "already_exists");
  }
  SECTION("sessions: unknown user and wrong password look the same") {
    auto wrong = anon.post("/api/v1/sessions", json{{"username", "carl"}, {"password", "nope-nope"}}.dump());
    auto unknown = anon.post("/api/v1/sessions", json{{"username", "ghost"}, {"password", "nope-nope"}}.dump());
    check_error(wrong, 401, "unauthorized");
    check_error(unknown, 401, "unauthorized");
    CHECK(body_of(wrong)["message"] == body_of(unknown)["message"]);
  }
  SECTION("tokens and roles") {
    check_error(anon.get("/api/v1/me"), 401, "unauthorized");
    check_error(anon.get("/api/v1/me", "forged.token"), 401, "unauthorized");
    auto t = carl.token;
    t[5] = t[5] == 'x' ? 'y' : 'x';
    check_error(anon.get("/api/v1/me", t), 401, "unauthorized");
    check_error(carl.call("POST", "/api/v1/restaurants", {{"name", "x"}, {"place", "y"}}), 403, "forbidden");
    check_error(mia.call("POST", "/api/v1/orders", order_body(rid, "katsu", 1)), 403, "forbidden");
    api_session max(base);
    max.sign_up("max", "merchant");
    check_error(max.call("PUT", "/api/v1/restaurants/" + rid + "/menu/items/x", {{"name", "x"}, {"price_cents", 1}, {"stock", 1}}),
                403, "forbidden");
  }
  SECTION("menu items") {
    auto path = "/api/v1/restaurants/" + rid + "/menu/items/";
    check_error(mia.call("PUT", path + "x", {{"name", "x"}, {"price_cents", -1}, {"stock", 1}}), 400, "invalid_argument");
    check_error(mia.call("PUT", path + "x", {{"name", "x"}, {"price_cents", 1.5}, {"stock", 1}}), 400, "invalid_argument");
    check_error(mia.call("PUT", path + "x", {{"name", "x"}, {"price_cents", "1"}, {"stock", 1}}), 400, "invalid_argument");
    check_error(mia.call("PUT", path + "x", {{"name", "x"}, {"price_cents", 1}, {"stock", 1}, {"meals", {"brunch"}}}), 400,
                "invalid_argument");
    check_error(mia.call("PUT", path + "x", {{"name", std::string(5000, 'n')}, {"price_cents", 1}, {"stock", 1}}), 400,
                "invalid_argument");
    check_error(mia.call("PUT", path + "bad%2Fid", {{"name", "x"}, {"price_cents", 1}, {"stock", 1}}), 400,
                "invalid_argument");
    check_error(mia.call("PUT", "/api/v1/restaurants/r_nope/menu/items/x", {{"name", "x"}, {"price_cents", 1}, {"stock", 1}}),
                404, "not_found");
    check_error(mia.call("DELETE", path + "ghost"), 404, "not_found");
    check_error(mia.call("PUT", path + "x", {{"name", "x"}, {"price_cents", 99999999999999999}, {"stock", 1}}), 400,
                "invalid_argument");
  }
  SECTION("orders") {
    check_error(carl.call("POST", "/api/v1/orders", order_body("r_missing", "katsu", 1)), 404, "not_found");
    check_error(carl.call("POST", "/api/v1/orders", order_body(rid, "ghost", 1)), 400, "invalid_argument");
    check_error(carl.call("POST", "/api/v1/orders", order_body(rid, "katsu", 0)), 400, "invalid_argument");
    check_error(carl.call("POST", "/api/v1/orders", order_body(rid, "katsu", 1001)), 400, "invalid_argument");
    check_error(carl.call("POST", "/api/v1/orders", {{"restaurant_id", rid}, {"items", json::array()}}), 400,
                "invalid_argument");
    check_error(carl.call("POST", "/api/v1/orders", {{"restaurant_id", rid}, {"items", "katsu"}}), 400,
                "invalid_argument");
    auto body = order_body(rid, "katsu", 1);
    body["date"] = "2020-01-01";
    check_error(carl.call("POST", "/api/v1/orders", body), 400, "invalid_argument");
    body["date"] = "2025-02-30";
    check_error(carl.call("POST", "/api/v1/orders", body), 400, "invalid_argument");
    body = order_body(rid, "katsu", 1);
    body["meal"] = "supper";
    check_error(carl.call("POST", "/api/v1/orders", body), 400, "invalid_argument");
    check_error(carl.call("POST", "/api/v1/orders", order_body(rid, "katsu", 6)), 409, "out_of_stock");
    check_error(carl.call("GET", "/api/v1/orders/o_doesnotexist"), 404, "not_found");
    check_error(carl.call("GET", "/api/v1/orders?status=lost"), 400, "invalid_argument");
    check_error(carl.call("GET", "/api/v1/orders?month=2025-13"), 400, "invalid_argument");
    check_error(carl.call("GET", "/api/v1/orders?cursor=zz"), 400, "invalid_argument");
    check_error(carl.call("GET", "/api/v1/menu?limit=0"), 400, "invalid_argument");
    check_error(carl.call("GET", "/api/v1/restaurants?limit=501"), 400, "invalid_argument");
    check_error(carl.call("GET", "/api/v1/menu?date=2020-01-01"), 400, "invalid_argument");
    check_error(carl.call("GET", "/api/v1/restaurants/" + rid + "/menu?date=tomorrow"), 400, "invalid_argument");
    check_error(carl.call("GET", "/api/v1/restaurants?cursor=zz"), 400, "invalid_argument");
    check_error(carl.call("GET", "/api/v1/menu?cursor=%zz"), 400, "invalid_argument");
    check_error(carl.call("POST", "/api/v1/orders", order_body(rid, "katsu", 1), {{"Idempotency-Key", std::string(300, 'k')}}),
                400, "invalid_argument");
  }
  SECTION("HTTP level") {
    check_error(anon.get("/nope"), 404, "not_found");
    auto wrong_method = anon.request("PUT", "/api/v1/users", "{}");
    check_error(wrong_method, 405, "method_not_allowed");
    CHECK(wrong_method.headers["allow"] == "POST");
    check_error(anon.post("/api/v1/users", std::string(2 << 20, 'x')), 413, "payload_too_large");
    // 300k levels of nesting: must not exhaust the stack while parsing or freeing.
    check_error(anon.post("/api/v1/users", std::string(300000, '[') + std::string(300000, ']')), 400,
                "invalid_argument");
    auto garbage = raw_http(n.node.port(), "THIS IS NOT HTTP\r\n\r\n");
    CHECK(garbage.rfind("HTTP/1.1 400", 0) == 0);
    auto huge_header = raw_http(n.node.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 << 10, 'a') + "\r\n\r\n");
    CHECK(huge_header.rfind("HTTP/1.1 431", 0) == 0);
    auto bad_length = raw_http(n.node.port(), "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n");
    CHECK(bad_length.rfind("HTTP/1.1 400", 0) == 0);
    auto binary = raw_http(n.node.port(), std::string("\x00\x01\x02\xff\xfe\r\n\r\n", 9));
    CHECK(binary.rfind("HTTP/1.1 400", 0) == 0);
  }
  // Whatever happened above, the node still serves.
  CHECK(anon.get("/healthz").status == 200);
}

TEST_CASE("http: out of file descriptors, the node backs off accepting and recovers", "[integration]") {
  temp_dir dir;
  node_process node(dir / "data");
  node.set_file_limit(64); // RocksDB, the store's WAL and the threads' descriptors leave room for few sockets
  node.start();
  auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
      ++n;
    return n;
  };
  std::vector<int> sockets;
  for (int i = 0; i < 100; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(node.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0); // the kernel's backlog takes it
    sockets.push_back(fd);
  }
  // Two warnings: the node has been out of descriptors for a second at least (one warning a second).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (count(node.output(), "http.accept_failed") < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling interval of a bounded wait
  REQUIRE(count(node.output(), "http.accept_failed") >= 2);
  for (int fd : sockets)
    ::close(fd);
  bento::client::http_client c(node.base_url(), std::chrono::seconds(5));
  int status = 0;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((status = c.get("/healthz").status) != 200 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(status == 200);
  // Retrying accept at once spun a core and wrote hundreds of thousands of lines a second; now one a second.
  CHECK(count(node.output(), "http.accept_failed") < 30);
  CHECK(node.stop() == 0);
}

TEST_CASE("http: a merchant creates at most BENTO_MAX_RESTAURANTS_PER_MERCHANT restaurants", "[integration]") {
  auto env = fast_node_env();
  env["BENTO_MAX_RESTAURANTS_PER_MERCHANT"] = "2";
  running_node n(env);
  api_session mia(n.node.base_url()), max(n.node.base_url());
  mia.sign_up("mia", "merchant");
  max.sign_up("max", "merchant");
  mia.create_restaurant("One");
  mia.create_restaurant("Two");
  check_error(mia.call("POST", "/api/v1/restaurants", {{"name", "Three"}, {"place", "taipei"}}), 400,
              "invalid_argument");
  max.create_restaurant("Max's"); // the limit is per merchant
  CHECK(body_of(mia.call("GET", "/api/v1/restaurants?place=taipei"))["restaurants"].size() == 3);
}

TEST_CASE("http: order listings by status follow status changes and page with cursors", "[integration]") {
  running_node n;
  api_session mia(n.node.base_url()), carl(n.node.base_url());
  mia.sign_up("mia", "merchant");
  carl.sign_up("carl", "customer");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "rice", 100, 100);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = carl.call("POST", "/api/v1/orders", order_body(rid, "rice", 1));
    REQUIRE(r.status == 201);
    ids.push_back(body_of(r)["id"]);
  }
  REQUIRE(mia.call("POST", "/api/v1/orders/" + ids[0] + "/confirm").status == 200);
  REQUIRE(mia.call("POST", "/api/v1/orders/" + ids[0] + "/deliver").status == 200);
  REQUIRE(carl.call("POST", "/api/v1/orders/" + ids[1] + "/cancel").status == 200);
  auto listed = [&](api_session& who, const std::string& query) {
    std::vector<std::string> out;
    auto r = who.call("GET", "/api/v1/orders" + query);
    CHECK(r.status == 200);
    auto body = body_of(r); // kept: a range-for over a temporary's member would dangle
    for (auto& o : body["orders"])
      out.push_back(o["id"]);
    return out;
  };
  for (auto* who : {&carl, &mia}) {
    CHECK(listed(*who, "?status=delivered") == std::vector<std::string>{ids[0]});
    CHECK(listed(*who, "?status=cancelled") == std::vector<std::string>{ids[1]});
    CHECK(listed(*who, "?status=placed") == std::vector<std::string>{ids[2]});
    CHECK(listed(*who, "?status=confirmed").empty());
  }
  std::vector<std::string> paged;
  std::string cursor;
  for (int page = 0; page < 5; ++page) {
    auto body = body_of(carl.call("GET", "/api/v1/orders?limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor)));
    for (auto& o : body["orders"])
      paged.push_back(o["id"]);
    if (body["next_cursor"].is_null())
      break;
    cursor = body["next_cursor"];
  }
  CHECK(paged.size() == 3);
  check_error(mia.call("GET", "/api/v1/orders?cursor=" + cursor), 400, "invalid_argument"); // carl's, not mia's
}

TEST_CASE("http: per-address rate limit and failed-login throttle answer 429 with Retry-After", "[integration]") {
  auto env = fast_node_env();
  env["BENTO_RATE_LIMIT"] = "5";
  running_node n(env);
  bento::client::http_client c(n.node.base_url());
  int limited = 0;
  std::string retry_after;
  for (int i = 0; i < 30; ++i) {
    auto r = c.get("/api/v1/me");
    if (r.status == 429) {
      ++limited;
      retry_after = r.headers["retry-after"];
      check_error(r, 429, "too_many_requests");
    }
  }
  CHECK(limited > 0);
  CHECK_FALSE(retry_after.empty());
  // Probes and /metrics count against the same limit (tests/integration/edge_attacks_test.cpp).
}

TEST_CASE("http: repeated failed logins for one username are throttled", "[integration]") {
  running_node n;
  api_session carl(n.node.base_url());
  carl.sign_up("carl", "customer");
  int throttled = 0;
  for (int i = 0; i < 8; ++i) {
    auto r = carl.http.post("/api/v1/sessions", json{{"username", "carl"}, {"password", "wrong-password"}}.dump());
    if (r.status == 429) {
      ++throttled;
      CHECK_FALSE(r.headers["retry-after"].empty());
    } else {
      CHECK(r.status == 401);
    }
  }
  CHECK(throttled > 0);
}

TEST_CASE("http: health, readiness, metrics and the OpenAPI document", "[integration]") {
  running_node n;
  bento::client::http_client c(n.node.base_url());
  CHECK(c.get("/healthz").status == 200);
  CHECK(c.get("/readyz").status == 200);
  api_session carl(n.node.base_url());
  carl.sign_up("carl", "customer");
  auto metrics = c.get("/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("bento_http_requests_total") != std::string::npos);
  CHECK(metrics.body.find("bento_http_request_duration_seconds_bucket") != std::string::npos);
  // Latency by route and status: the registration above is one series of its own.
  CHECK(metrics.body.find("bento_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/users\","
                          "status=\"201\"} 1") != std::string::npos);
  CHECK(metrics.body.find("bento_entity_actors") != std::string::npos);
  CHECK(metrics.body.find("bento_rocksdb") != std::string::npos);
  // The node runs on jemalloc (node/allocator.hpp), with its purging on a background thread as configured.
  auto at = metrics.body.find("bento_edge{gauge=\"allocator_allocated_bytes\"} ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(metrics.body.substr(metrics.body.find("} ", at) + 2)) > 1e6);
  bool purger = false;
  for (auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(n.node.pid()) + "/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    purger = purger || name == "jemalloc_bg_thd";
  }
  CHECK(purger);
  temp_dir d;
  auto file = d / "metrics.txt";
  {
    FILE* f = std::fopen(file.c_str(), "w");
    std::fwrite(metrics.body.data(), 1, metrics.body.size(), f);
    std::fclose(f);
  }
  auto rc = std::system(("promtool check metrics < " + file + " > " + d / "promtool.out" + " 2>&1").c_str());
  INFO(std::string("promtool output in ") + d / "promtool.out");
  CHECK(rc == 0);
  auto doc = c.get("/api/v1/openapi.yaml");
  REQUIRE(doc.status == 200);
  CHECK(doc.body.rfind("openapi: 3", 0) == 0);
  CHECK(doc.body.find("/api/v1/orders/{order_id}/confirm:") != std::string::npos);
}

TEST_CASE("http: menu items carry versions; stale writes get 412, PATCH changes only what it names",
          "[integration]") {
  running_node n;
  api_session mia(n.node.base_url()), carl(n.node.base_url());
  mia.sign_up("mia", "merchant");
  carl.sign_up("carl", "customer");
  auto rid = mia.create_restaurant("Mia's");
  auto item_path = "/api/v1/restaurants/" + rid + "/menu/items/tea";
  auto created = mia.call("PUT", item_path, {{"name", "Tea"}, {"price_cents", 100}, {"stock", 10}});
  REQUIRE(created.status == 201);
  auto etag = created.headers["etag"];
  REQUIRE_FALSE(etag.empty());
  CHECK(etag == "\"" + std::to_string(body_of(created)["version"].get<uint64_t>()) + "\"");

  // Four sell; a save based on the read from before the sale must not bring them back.
  REQUIRE(carl.call("POST", "/api/v1/orders", order_body(rid, "tea", 4)).status == 201);
  auto stale = mia.call("PUT", item_path, {{"name", "Tea"}, {"price_cents", 120}, {"stock", 10}}, {{"If-Match", etag}});
  check_error(stale, 412, "precondition_failed");
  auto read = mia.call("GET", item_path);
  REQUIRE(read.status == 200);
  CHECK(body_of(read)["stock"] == 6);
  CHECK(read.headers["etag"] != etag);
  // A price change by PATCH leaves the stock alone, with or without If-Match.
  auto patched = mia.call("PATCH", item_path, {{"price_cents", 150}}, {{"If-Match", read.headers["etag"]}});
  INFO(patched.body);
  REQUIRE(patched.status == 200);
  CHECK(body_of(patched)["price_cents"] == 150);
  CHECK(body_of(patched)["stock"] == 6);
  check_error(mia.call("PATCH", item_path, {{"prize_cents", 1}}), 400, "invalid_argument");
  check_error(mia.call("PATCH", item_path, json::object()), 400, "invalid_argument");
  check_error(mia.call("PATCH", item_path, {{"price_cents", 1}}, {{"If-Match", "12"}}), 400, "invalid_argument");
  check_error(mia.call("PUT", item_path, {{"name", "Tea"}, {"price_cents", 1}, {"stock", 1}}, {{"If-None-Match", "*"}}),
              412, "precondition_failed");
  check_error(mia.call("PUT", item_path, {{"name", "Tea"}, {"price_cents", 1}}), 400, "invalid_argument");
  // A daily item needs no stock in its body, and one read back from GET is not restated.
  auto soup_path = "/api/v1/restaurants/" + rid + "/menu/items/soup";
  REQUIRE(mia.call("PUT", soup_path, {{"name", "Soup"}, {"price_cents", 300}, {"daily_stock", 10}}).status == 201);
  REQUIRE(carl.call("POST", "/api/v1/orders", order_body(rid, "soup", 3)).status == 201);
  auto soup = body_of(mia.call("GET", soup_path));
  CHECK(soup["stock"] == 7);
  soup["stock"] = 10;
  REQUIRE(mia.call("PUT", soup_path, soup).status == 200);
  CHECK(body_of(mia.call("GET", soup_path))["stock"] == 7);
  check_error(mia.call("PATCH", soup_path, {{"stock", 10}}), 400, "invalid_argument");
  check_error(mia.call("DELETE", item_path, json(), {{"If-Match", etag}}), 412, "precondition_failed");
  check_error(carl.call("PATCH", item_path, {{"price_cents", 1}}), 403, "forbidden");
  check_error(mia.call("GET", "/api/v1/restaurants/" + rid + "/menu/items/nothing"), 404, "not_found");
}

TEST_CASE("http: a merchant changes quantities of what was ordered and writes their own note", "[integration]") {
  running_node n;
  api_session mia(n.node.base_url()), carl(n.node.base_url());
  mia.sign_up("mia", "merchant");
  carl.sign_up("carl", "customer");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "tea", 1, 100);
  mia.put_item(rid, "caviar", 100000000, 100);
  auto body = order_body(rid, "tea", 1);
  body["note"] = "no sugar";
  auto placed = carl.call("POST", "/api/v1/orders", body);
  REQUIRE(placed.status == 201);
  auto oid = body_of(placed)["id"].get<std::string>();
  auto path = "/api/v1/orders/" + oid;
  // Adding what the customer never ordered (1 cent became 100,000,000,001 cents) is refused.
  check_error(mia.call("PATCH", path, {{"items", {{{"item_id", "tea"}, {"qty", 1}}, {{"item_id", "caviar"}, {"qty", 1}}}}}),
              400, "invalid_argument");
  check_error(mia.call("PATCH", path, {{"note", "mine now"}}), 400, "invalid_argument");
  auto edited = mia.call("PATCH", path, {{"items", {{{"item_id", "tea"}, {"qty", 3}}}}, {"merchant_note", "3 teas"}});
  INFO(edited.body);
  REQUIRE(edited.status == 200);
  auto o = body_of(edited);
  CHECK(o["total_cents"] == 3);
  CHECK(o["note"] == "no sugar");
  CHECK(o["merchant_note"] == "3 teas");
  CHECK(body_of(carl.call("GET", path))["merchant_note"] == "3 teas");
}
