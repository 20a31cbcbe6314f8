// A node whose disk fails it: writes to the data dir fail with ENOSPC (a full disk) or EROFS (a file system
// remounted read-only after an error), switched on and off under a running node by an LD_PRELOAD shim
// (tests/support/fs_fault_shim.cpp). Writes must fail with a clear 503 while reads go on, come back on their
// own when the disk does, and lose nothing acknowledged. A data dir that is not Bento's, or whose store is
// corrupt, makes the node refuse to start with a clear message.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/api_session.hpp"
#include "tests/support/node_cluster.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento::test;
namespace fs = std::filesystem;

namespace {

/// A node whose data dir's disk the test can fail.
struct faulty_disk_node {
  temp_dir dir;
  std::string flag = dir / "fs-fault";
  node_process node{dir / "data", env()};

  std::map<std::string, std::string> env() {
    auto e = fast_node_env();
    e["LD_PRELOAD"] = BENTO_FS_FAULT_SHIM;
    e["BENTO_TEST_FS_FAULT_FLAG"] = flag;
    e["BENTO_TEST_FS_FAULT_PREFIX"] = dir / "data/";
    return e;
  }
  void fail_writes(const char* errno_name) { std::ofstream(flag) << errno_name; }
  void heal() { fs::remove(flag); }
};

bento::client::http_result place(api_session& customer, const std::string& rid, int qty, const std::string& key = {}) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!key.empty())
    headers.emplace_back("Idempotency-Key", key);
  return customer.call("POST", "/api/v1/orders",
                       {{"restaurant_id", rid}, {"items", {{{"item_id", "katsu"}, {"qty", qty}}}}, {"meal", "lunch"}},
                       headers);
}

/// Writes fail while the disk does: each a 503 with Retry-After and the store's reason; reads still answer.
void check_writes_refused_reads_served(api_session& customer, api_session& merchant, const std::string& rid,
                                       const std::string& placed_id, const char* reason_word) {
  for (int i = 0; i < 20; ++i) {
    auto r = place(customer, rid, 1);
    INFO("attempt " << i << ": " << r.status << " " << r.body);
    REQUIRE(r.status == 503);
    CHECK(r.headers.count("retry-after"));
    auto body = body_of(r);
    CHECK(body.value("error", "") == "storage_failure");
    CHECK(body.value("message", "").find(reason_word) != std::string::npos);
  }
  CHECK(customer.call("GET", "/api/v1/orders/" + placed_id).status == 200);
  CHECK(merchant.call("GET", "/api/v1/restaurants/" + rid + "/menu").status == 200);
  CHECK(customer.call("GET", "/api/v1/me").status == 200);
}

/// Once the disk takes writes again, the node does too within a bounded wait; returns the order placed.
std::string wait_writes_back(api_session& customer, const std::string& rid) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = place(customer, rid, 1);
    if (r.status == 201)
      return body_of(r)["id"];
    REQUIRE(r.status == 503);
    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // polling interval of a bounded wait
  }
  FAIL("writes did not come back within 60 s of the disk");
  return {};
}

int64_t stock_of(api_session& s, const std::string& rid) {
  return body_of(s.call("GET", "/api/v1/restaurants/" + rid + "/menu"))["items"][0]["stock"];
}

/// The common course of both faults: writes refused while the disk fails, reads served, writes back after.
void disk_fails_and_heals(const char* errno_name, const char* reason) {
  faulty_disk_node d;
  d.node.start();
  api_session mia(d.node.base_url()), carl(d.node.base_url());
  mia.sign_up("mia", "merchant");
  carl.sign_up("carl", "customer");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "katsu", 1200, 1000);
  auto first = place(carl, rid, 2, "k-first");
  REQUIRE(first.status == 201);
  std::string first_id = body_of(first)["id"];

  d.fail_writes(errno_name);
  check_writes_refused_reads_served(carl, mia, rid, first_id, reason);
  REQUIRE(d.node.running());
  // A retry of an acknowledged keyed order is a read: it still answers.
  CHECK(place(carl, rid, 2, "k-first").status == 201);

  d.heal();
  auto second_id = wait_writes_back(carl, rid);
  // Nothing refused left a trace: 1000 - 2 (first) - 1 (second).
  CHECK(stock_of(carl, rid) == 997);
  // And what was acknowledged survives kill -9.
  d.node.kill9();
  d.node.start();
  CHECK(body_of(carl.call("GET", "/api/v1/orders/" + first_id))["status"] == "placed");
  CHECK(body_of(carl.call("GET", "/api/v1/orders/" + second_id))["status"] == "placed");
  CHECK(stock_of(carl, rid) == 997);
  CHECK(d.node.stop() == 0);
}

} // namespace

TEST_CASE("disk faults: a full disk refuses writes with a clear 503, keeps serving reads, and recovers",
          "[integration][disk]") {
  disk_fails_and_heals("ENOSPC", "No space left on device");
}

TEST_CASE("disk faults: a read-only file system refuses writes with a clear 503, keeps serving reads, and "
          "recovers when it is writable again",
          "[integration][disk]") {
  disk_fails_and_heals("EROFS", "Read-only file system");
}

TEST_CASE("disk faults: a cluster member whose disk fails stays up, loses its leads, serves reads through the "
          "others, and catches up when its disk is back",
          "[integration][disk][cluster]") {
  temp_dir flags;
  node_cluster c(3, {{"LD_PRELOAD", BENTO_FS_FAULT_SHIM},
                     {"BENTO_TEST_FS_FAULT_FLAG", flags / "fault-"},
                     {"BENTO_TEST_FS_FAULT_PER_NODE", "1"}});
  api_session mia(c.url(0)), carl(c.url(1));
  mia.sign_up("mia", "merchant");
  carl.sign_up("carl", "customer");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "katsu", 1200, 1000);
  std::optional<size_t> leader;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!(leader = c.leader_of("restaurant/" + rid)) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100)); // polling interval of a bounded wait
  REQUIRE(leader);
  auto other = (*leader + 1) % 3;

  std::ofstream(flags / ("fault-" + node_cluster::id(*leader))) << "ENOSPC";
  // Orders go on through the others (the failed member cannot persist, so it cannot lead or acknowledge).
  api_session via_other(c.url(other));
  via_other.login("carl");
  std::vector<std::string> placed;
  for (int k = 0; k < 10; ++k) {
    bento::client::http_result r;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    do {
      r = place(via_other, rid, 1, "during-" + std::to_string(k));
      if (r.status == 201)
        break;
      INFO(r.status << " " << r.body);
      REQUIRE((r.status == 429 || r.status == 503 || r.status == 504)); // "not now": retried with its key
      std::this_thread::sleep_for(std::chrono::milliseconds(100)); // back-off of a bounded retry
    } while (std::chrono::steady_clock::now() < until);
    REQUIRE(r.status == 201);
    placed.push_back(body_of(r)["id"]);
  }
  REQUIRE(c.node(*leader).running());
  // Reads through the failed member still answer (it forwards them to the new leaders).
  api_session via_failed(c.url(*leader));
  via_failed.login("carl");
  CHECK(via_failed.call("GET", "/api/v1/orders/" + placed.back()).status == 200);
  CHECK(stock_of(via_failed, rid) == 990);

  fs::remove(flags / ("fault-" + node_cluster::id(*leader)));
  REQUIRE(c.wait_settled());
  // Caught up: it leads its shards again and holds every order.
  for (auto& oid : placed)
    CHECK(via_failed.call("GET", "/api/v1/orders/" + oid).status == 200);
  CHECK(stock_of(via_failed, rid) == 990);
  CHECK(place(via_failed, rid, 1, "after").status == 201);
}
