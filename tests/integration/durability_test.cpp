// Process lifecycle: acknowledged writes survive kill -9, SIGTERM exits cleanly, bad configuration exits 2.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <mutex>
#include <thread>

#include "tests/support/api_session.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento::test;

TEST_CASE("durability: everything acknowledged before kill -9 is there after restart", "[integration]") {
  temp_dir dir;
  node_process node(dir / "data");
  node.start();
  api_session mia(node.base_url()), carl(node.base_url()), gone(node.base_url());
  mia.sign_up("mia", "merchant");
  carl.sign_up("carl", "customer");
  gone.sign_up("gone", "customer");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "katsu", 1200, 10, {{"daily_stock", 10}, {"tags", {"meat"}}});
  std::vector<std::string> orders;
  for (int i = 0; i < 3; ++i) {
    auto r = carl.call("POST", "/api/v1/orders",
                       {{"restaurant_id", rid}, {"items", {{{"item_id", "katsu"}, {"qty", 2}}}}, {"meal", "lunch"}},
                       {{"Idempotency-Key", "k" + std::to_string(i)}});
    REQUIRE(r.status == 201);
    orders.push_back(body_of(r)["id"]);
  }
  REQUIRE(mia.call("POST", "/api/v1/orders/" + orders[0] + "/confirm").status == 200);
  REQUIRE(carl.call("POST", "/api/v1/orders/" + orders[1] + "/cancel").status == 200);
  REQUIRE(gone.call("DELETE", "/api/v1/sessions/current").status == 204);

  node.kill9();
  node.start();

  // Tokens issued before the crash still work (the generated secret was kept), the revoked one does not.
  check_error(gone.call("GET", "/api/v1/me"), 401, "unauthorized");
  auto me = carl.call("GET", "/api/v1/me");
  REQUIRE(me.status == 200);
  carl.login("carl");

  auto o0 = carl.call("GET", "/api/v1/orders/" + orders[0]);
  REQUIRE(o0.status == 200);
  CHECK(body_of(o0)["status"] == "confirmed");
  CHECK(body_of(carl.call("GET", "/api/v1/orders/" + orders[1]))["status"] == "cancelled");
  CHECK(body_of(carl.call("GET", "/api/v1/orders/" + orders[2]))["status"] == "placed");
  CHECK(body_of(carl.call("GET", "/api/v1/orders"))["orders"].size() == 3);
  auto menu = body_of(carl.call("GET", "/api/v1/restaurants/" + rid + "/menu"));
  CHECK(menu["items"][0]["stock"] == 10 - 2 * 2);
  // The catalog read model is rebuilt from the store.
  auto catalog = body_of(carl.call("GET", "/api/v1/menu?tag=meat"));
  REQUIRE(catalog["items"].size() == 1);
  CHECK(catalog["items"][0]["stock"] == 6);

  // Retrying an acknowledged keyed order after the crash returns it and does not reserve again.
  auto retry = carl.call("POST", "/api/v1/orders",
                         {{"restaurant_id", rid}, {"items", {{{"item_id", "katsu"}, {"qty", 2}}}}, {"meal", "lunch"}},
                         {{"Idempotency-Key", "k2"}});
  REQUIRE(retry.status == 201);
  CHECK(body_of(retry)["id"] == orders[2]);
  CHECK(body_of(carl.call("GET", "/api/v1/restaurants/" + rid + "/menu"))["items"][0]["stock"] == 6);
  CHECK(node.stop() == 0);
}

TEST_CASE("durability: kill -9 under concurrent ordering loses no acknowledged order and leaks no stock",
          "[integration]") {
  constexpr int64_t initial_stock = 100000;
  constexpr int customers = 6;
  temp_dir dir;
  node_process node(dir / "data");
  node.start();
  api_session mia(node.base_url());
  mia.sign_up("mia", "merchant");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "rice", 100, initial_stock);

  auto sessions = sign_up_customers(node.base_url(), customers);
  std::mutex mutex;
  std::vector<std::pair<api_session*, std::string>> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < customers; ++i) {
    threads.emplace_back([&, i] {
      auto& s = *sessions[static_cast<size_t>(i)];
      for (int n = 0; !stop; ++n) {
        std::vector<std::pair<std::string, std::string>> headers;
        if (n % 2 == 0) // half of them keyed, half not: the unkeyed ones can only be recovered by the sweep
          headers.emplace_back("Idempotency-Key", "c" + std::to_string(i) + "-" + std::to_string(n));
        auto r = s.call("POST", "/api/v1/orders",
                        {{"restaurant_id", rid}, {"items", {{{"item_id", "rice"}, {"qty", 1 + n % 3}}}},
                         {"meal", "lunch"}},
                        headers);
        if (r.status == 0)
          return; // the node is gone
        if (r.status == 201) {
          std::lock_guard lock(mutex);
          acknowledged.emplace_back(&s, body_of(r)["id"].get<std::string>());
        }
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    {
      std::lock_guard lock(mutex);
      if (acknowledged.size() >= 300 || std::chrono::steady_clock::now() > deadline)
        break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5)); // polling interval of a bounded wait
  }
  node.kill9(); // while every customer has an order in flight
  stop = true;
  for (auto& t : threads)
    t.join();
  REQUIRE(acknowledged.size() >= 300);

  node.start();
  for (auto& [session, id] : acknowledged) {
    auto r = session->call("GET", "/api/v1/orders/" + id);
    INFO(id << " " << r.body);
    REQUIRE(r.status == 200);
    CHECK(body_of(r)["status"] == "placed");
  }
  // Stock held == what the stored orders hold, once interrupted placements are settled by the start-up sweep.
  auto held_by_orders = [&] {
    int64_t held = 0;
    std::string cursor;
    do {
      auto r = mia.call("GET", "/api/v1/orders?limit=500" + (cursor.empty() ? "" : "&cursor=" + cursor));
      REQUIRE(r.status == 200);
      auto page = body_of(r);
      for (auto& o : page["orders"])
        for (auto& line : o["items"])
          held += line["qty"].get<int64_t>();
      cursor = page["next_cursor"].is_string() ? page["next_cursor"].get<std::string>() : "";
    } while (!cursor.empty());
    return held;
  };
  auto stock_now = [&] {
    return body_of(mia.call("GET", "/api/v1/restaurants/" + rid + "/menu"))["items"][0]["stock"].get<int64_t>();
  };
  int64_t held = 0, stock = 0;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    held = held_by_orders();
    stock = stock_now();
    if (stock + held == initial_stock)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling interval of a bounded wait
  } while (std::chrono::steady_clock::now() < deadline);
  INFO("stock " << stock << " held by orders " << held);
  CHECK(stock + held == initial_stock);
  CHECK(node.stop() == 0);
}

TEST_CASE("durability: with BENTO_SYNC_WRITES=1 answers wait for fsyncs that concurrent writes share",
          "[integration]") {
  temp_dir dir;
  auto env = fast_node_env();
  env["BENTO_SYNC_WRITES"] = "1";
  node_process node(dir / "data", env);
  node.start();
  api_session mia(node.base_url());
  mia.sign_up("mia", "merchant");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "rice", 100, 1000);
  constexpr int customers = 4, each = 25;
  auto sessions = sign_up_customers(node.base_url(), customers);
  std::mutex mutex;
  std::vector<std::pair<api_session*, std::string>> placed;
  std::vector<std::thread> threads;
  for (auto& s : sessions)
    threads.emplace_back([&, session = s.get()] {
      for (int n = 0; n < each; ++n) {
        auto r = session->call("POST", "/api/v1/orders",
                               {{"restaurant_id", rid}, {"items", {{{"item_id", "rice"}, {"qty", 1}}}}});
        if (r.status == 201) {
          std::lock_guard lock(mutex);
          placed.emplace_back(session, body_of(r)["id"].get<std::string>());
        }
      }
    });
  for (auto& t : threads)
    t.join();
  REQUIRE(placed.size() == size_t{customers * each});
  auto metrics = mia.http.get("/metrics").body;
  auto at = metrics.find("bento_rocksdb{stat=\"wal_syncs\"} ");
  REQUIRE(at != std::string::npos);
  auto syncs = std::stod(metrics.substr(at + std::string("bento_rocksdb{stat=\"wal_syncs\"} ").size()));
  INFO("fsyncs " << syncs);
  CHECK(syncs > 0);
  node.kill9();
  node.start();
  for (auto& [session, id] : placed)
    CHECK(session->call("GET", "/api/v1/orders/" + id).status == 200);
  CHECK(body_of(mia.call("GET", "/api/v1/restaurants/" + rid + "/menu"))["items"][0]["stock"] == 900);
  CHECK(node.stop() == 0);
}

TEST_CASE("lifecycle: SIGTERM stops the node cleanly and the data reopens", "[integration]") {
  temp_dir dir;
  node_process node(dir / "data");
  node.start();
  api_session carl(node.base_url());
  carl.sign_up("carl", "customer");
  CHECK(node.stop() == 0);
  auto out = node.output();
  CHECK(out.find("\"msg\":\"node.stopped\"") != std::string::npos);
  node.start();
  carl.login("carl");
  CHECK(node.stop() == 0);
}

TEST_CASE("lifecycle: SIGTERM answers a request still in the domain before the node exits", "[integration]") {
  temp_dir dir;
  // A costly Argon2id: a login then stays in the domain for a long while, with no socket operation pending.
  auto env = fast_node_env();
  env["BENTO_ARGON2_OPS"] = "4";
  env["BENTO_ARGON2_MEM_KIB"] = "262144";
  node_process node(dir / "data", env);
  node.start();
  {
    api_session carl(node.base_url()); // its keep-alive connection closes with it: only the login's is left
    carl.register_user("carl", "customer");
  }
  std::string answer;
  std::thread login([&] {
    std::string body = R"({"username":"carl","password":"correct horse"})";
    answer = raw_http(node.port(),
                      "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: "
                        + std::to_string(body.size()) + "\r\n\r\n" + body,
                      60000);
  });
  // Wait until the login's password is being hashed. (Counting requests in flight was not enough: a finished
  // request is counted until its write completes, so the count could include the previous metrics request.)
  auto hashing = [&] {
    bento::client::http_client c(node.base_url(), std::chrono::seconds(10));
    auto text = c.get("/metrics").body;
    const std::string gauge = "bento_edge{gauge=\"password_ops_in_flight\"} ";
    auto at = text.find(gauge);
    return at == std::string::npos ? 0.0 : std::stod(text.substr(at + gauge.size()));
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (hashing() < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5)); // polling interval of a bounded wait
  auto code = node.stop(); // the login is hashing: no connection but its own is left
  login.join();
  CHECK(code == 0);
  // Once the acceptor closed, a login waiting for its hash left the I/O threads without work: they returned
  // from run(), the answer was never written and the stop waited out its grace period.
  INFO("answer: " << answer);
  CHECK(answer.rfind("HTTP/1.1 201", 0) == 0);
  CHECK(node.output().find("http.stop_grace_expired") == std::string::npos);
}

TEST_CASE("lifecycle: a second node on the same data directory refuses to start", "[integration]") {
  temp_dir dir;
  node_process first(dir / "data");
  first.start();
  std::string out;
  auto env = fast_node_env();
  env["BENTO_DATA_DIR"] = dir / "data";
  env["BENTO_HTTP_PORT"] = std::to_string(free_port());
  CHECK(run_node_to_exit(env, out) == 1);
  CHECK(out.find("node.start_failed") != std::string::npos);
  CHECK(first.stop() == 0);
}

TEST_CASE("lifecycle: invalid configuration is a clear error and exit code 2", "[integration]") {
  temp_dir dir;
  std::string out;
  CHECK(run_node_to_exit({{"BENTO_HTTP_PORT", "not-a-port"}, {"BENTO_DATA_DIR", dir / "d"}}, out) == 2);
  CHECK(out.find("BENTO_HTTP_PORT") != std::string::npos);
  CHECK(run_node_to_exit({{"BENTO_TZ", "Nowhere/Land"}, {"BENTO_DATA_DIR", dir / "d"}}, out) == 2);
  CHECK(out.find("BENTO_TZ") != std::string::npos);
  CHECK(run_node_to_exit({{"BENTO_SECRET", "too-short"}, {"BENTO_DATA_DIR", dir / "d"}}, out) == 2);
  CHECK(out.find("BENTO_SECRET") != std::string::npos);
}

TEST_CASE("durability: users bulk-loaded into a stopped node's data dir are users like any other",
          "[integration]") {
  // bench/scale.py --users writes a million customers with bento-bench-load-users, as registrations write them:
  // after a restart they log in, their names are taken, and the rest of the node is as it was.
  temp_dir dir;
  node_process node(dir / "data");
  node.start();
  api_session mia(node.base_url());
  mia.sign_up("mia", "merchant");
  REQUIRE(node.stop() == 0);
  auto command = std::string("BENTO_ARGON2_MEM_KIB=8192 BENTO_ARGON2_OPS=1 ") + BENTO_LOAD_USERS + " " +
                 node.data_dir() + " 200 > " + std::string(dir / "load.log") + " 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);
  node.start();
  api_session bulk(node.base_url());
  bulk.login("bulk_137", "bulk password 1");
  auto me = bulk.call("GET", "/api/v1/me");
  INFO(me.body);
  REQUIRE(me.status == 200);
  CHECK(nlohmann::json::parse(me.body).value("username", "") == "bulk_137");
  auto wrong = bulk.http.post("/api/v1/sessions", R"({"username":"bulk_138","password":"not it at all"})");
  CHECK(wrong.status == 401);
  auto taken = bulk.http.post("/api/v1/users", R"({"username":"bulk_7","password":"correct horse battery",)"
                                               R"("email":"x@example.com","role":"customer","place":"taipei"})");
  INFO(taken.body);
  CHECK(taken.status == 409);
  mia.login("mia"); // the node's own users are there as before
}
