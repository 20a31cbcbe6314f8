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

#include <rocksdb/db.h>

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

/// A read through a cluster member, retried while it answers 503 with Retry-After (while its shard's lead moves
/// after a member's disk failed).
bento::client::http_result read_through(api_session& s, const std::string& path) {
  return retrying_unavailable([&] { return s.call("GET", path); });
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
  CHECK(read_through(via_failed, "/api/v1/orders/" + placed.back()).status == 200);
  auto menu = read_through(via_failed, "/api/v1/restaurants/" + rid + "/menu");
  INFO(menu.status << " " << menu.body);
  CHECK(body_of(menu)["items"][0]["stock"] == 990);

  fs::remove(flags / ("fault-" + node_cluster::id(*leader)));
  REQUIRE(c.wait_settled());
  // Caught up: it leads its shards again and holds every order.
  for (auto& oid : placed)
    CHECK(via_failed.call("GET", "/api/v1/orders/" + oid).status == 200);
  CHECK(stock_of(via_failed, rid) == 990);
  CHECK(place(via_failed, rid, 1, "after").status == 201);
}

namespace {

/// Starts a node on `data`, writes a little (a merchant, a restaurant, an order), and stops it cleanly.
std::string seed_data_dir(const std::string& data) {
  node_process node(data);
  node.start();
  api_session mia(node.base_url()), carl(node.base_url());
  mia.sign_up("mia", "merchant");
  carl.sign_up("carl", "customer");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "katsu", 1200, 10);
  auto r = place(carl, rid, 2);
  REQUIRE(r.status == 201);
  REQUIRE(node.stop() == 0);
  return body_of(r)["id"];
}

int start_on(const std::string& data, std::string& out) {
  auto env = fast_node_env();
  env["BENTO_DATA_DIR"] = data;
  env["BENTO_HTTP_PORT"] = std::to_string(free_port());
  env["BENTO_CLIENT_PORT"] = std::to_string(free_port());
  return run_node_to_exit(env, out);
}

} // namespace

TEST_CASE("data dir: a directory that is not Bento's, or a store that is, but damaged, is refused at start",
          "[integration][disk]") {
  temp_dir dir;
  std::string out;
  SECTION("someone else's files") {
    fs::create_directories(dir / "home");
    std::ofstream(dir / "home/notes.txt") << "not a node's";
    CHECK(start_on(dir / "home", out) == 1);
    CHECK(out.find("not Bento's") != std::string::npos);
    CHECK(fs::exists(dir / "home/notes.txt"));
    CHECK_FALSE(fs::exists(dir / "home/db")); // nothing was written into it
  }
  SECTION("another program's RocksDB") {
    fs::create_directories(dir / "other");
    {
      rocksdb::Options o;
      o.create_if_missing = true;
      rocksdb::DB* raw = nullptr;
      REQUIRE(rocksdb::DB::Open(o, dir / "other/db", &raw).ok());
      std::unique_ptr<rocksdb::DB> db(raw);
      rocksdb::ColumnFamilyHandle* cf = nullptr;
      REQUIRE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "accounts", &cf).ok());
      REQUIRE(db->Put(rocksdb::WriteOptions(), cf, "k", "v").ok());
      db->DestroyColumnFamilyHandle(cf);
    }
    CHECK(start_on(dir / "other", out) == 1);
    CHECK(out.find("not Bento's") != std::string::npos);
  }
  SECTION("a damaged CURRENT file") {
    seed_data_dir(dir / "data");
    std::ofstream(dir / "data/db/CURRENT", std::ios::trunc) << "MANIFEST-999999\n";
    CHECK(start_on(dir / "data", out) == 1);
    INFO(out);
    CHECK(out.find("node.start_failed") != std::string::npos);
  }
  SECTION("flipped bytes in the MANIFEST") {
    // (A MANIFEST cut short is what a crash while appending to it leaves: RocksDB takes its intact prefix by
    // design. Flipped bytes inside a record fail its checksum.)
    seed_data_dir(dir / "data");
    for (auto& e : fs::directory_iterator(dir / "data/db"))
      if (e.path().filename().string().rfind("MANIFEST-", 0) == 0) {
        std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
        for (std::streamoff at = 16; at < 48; ++at) {
          f.seekp(at);
          f.put('\x7f');
        }
      }
    CHECK(start_on(dir / "data", out) == 1);
    INFO(out);
    CHECK(out.find("damaged") != std::string::npos);
  }
}

TEST_CASE("data dir: flipped bytes in the store's tables are never served as data", "[integration][disk]") {
  temp_dir dir;
  seed_data_dir(dir / "data");
  size_t flipped = 0;
  for (auto& e : fs::directory_iterator(dir / "data/db")) {
    if (e.path().extension() != ".sst")
      continue;
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    auto size = fs::file_size(e.path());
    // The data blocks come first; the footer and index last: flip bytes early in the file.
    for (size_t at = 8; at < size / 2; at += 64) {
      f.seekg(static_cast<std::streamoff>(at));
      char c = 0;
      f.get(c);
      f.seekp(static_cast<std::streamoff>(at));
      f.put(static_cast<char>(c ^ 0x5a));
      ++flipped;
    }
  }
  REQUIRE(flipped > 0);
  // The start-up reads (layout, identity, the catalog's rebuild) cross the damaged blocks; their checksums
  // fail, and the node refuses to start rather than serve from them.
  node_process node(dir / "data");
  node.launch();
  CHECK(node.wait_exited(std::chrono::seconds(20)) == 1);
  INFO(node.output());
  CHECK(node.output().find("node.start_failed") != std::string::npos);
  CHECK(node.output().find("Corruption") != std::string::npos);
}
