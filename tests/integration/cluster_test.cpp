// Real bento-node processes forming clusters on loopback: any node serves any key, racing customers on
// different nodes never oversell, kill -9 and SIGSTOP of a shard's leader lose no acknowledged order, a lone
// node refuses writes, and a node without the secret stays out.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/domain/shards.hpp"
#include "tests/support/api_session.hpp"
#include "tests/support/node_cluster.hpp"

using namespace bento::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

json order_body(const std::string& rid, const std::string& item, int qty) {
  return {{"restaurant_id", rid}, {"items", json::array({{{"item_id", item}, {"qty", qty}}})}, {"meal", "lunch"}};
}

/// A session on node `url` that acts as the user of `other` (tokens verify on every node).
std::unique_ptr<api_session> as_user(const std::string& url, const api_session& other) {
  auto s = std::make_unique<api_session>(url);
  s->token = other.token;
  s->user = other.user;
  return s;
}

template <class Pred>
bool within(std::chrono::milliseconds timeout, Pred done) {
  auto deadline = clock_type::now() + timeout;
  while (!done()) {
    if (clock_type::now() >= deadline)
      return done();
    std::this_thread::sleep_for(10ms); // polling interval of a bounded wait
  }
  return true;
}

/// Places an order with an idempotency key, retrying while the cluster says "not now" (503 unavailable,
/// 504 outcome_unknown: the same key resolves it; 429 while the order settles a change a failover
/// interrupted). Returns the last answer.
bento::client::http_result place_until_answered(api_session& s, const json& body, const std::string& key,
                                                std::chrono::milliseconds timeout = 15s) {
  bento::client::http_result r;
  within(timeout, [&] {
    r = s.call("POST", "/api/v1/orders", body, {{"Idempotency-Key", key}});
    return r.status != 503 && r.status != 504 && r.status != 429 && r.status != 0;
  });
  return r;
}

/// One bento ordered through `via` with `key`, answered 201 (retried while the cluster says "not now"): its id.
std::string place_one(api_session& via, const std::string& rid, const std::string& key) {
  auto r = place_until_answered(via, order_body(rid, "bento", 1), key);
  INFO(r.body);
  REQUIRE(r.status == 201);
  return body_of(r)["id"];
}

int64_t stock_of(api_session& s, const std::string& rid, const std::string& item) {
  auto r = s.call("GET", "/api/v1/restaurants/" + rid + "/menu/items/" + item);
  INFO(r.body);
  REQUIRE(r.status == 200);
  return body_of(r)["stock"].get<int64_t>();
}

/// Mia's restaurant with one item, "bento", and Carl, a customer: signed up through node `via`.
struct shop {
  api_session mia, carl;
  std::string rid;
  shop(node_cluster& c, int64_t stock, size_t via = 0) : mia(c.url(via)), carl(c.url(via)) {
    mia.sign_up("mia", "merchant");
    rid = mia.create_restaurant("Mia's");
    mia.put_item(rid, "bento", 500, stock);
    carl.sign_up("carl", "customer");
  }
};

} // namespace

TEST_CASE("cluster: any node serves any key; customers racing through different nodes never oversell",
          "[integration][cluster]") {
  node_cluster c(3);
  api_session mia(c.url(0));
  mia.sign_up("mia", "merchant");
  auto rid = mia.create_restaurant("Mia's");
  as_user(c.url(1), mia)->put_item(rid, "bento", 500, 5);

  // The view names every member and a leader for every shard.
  auto v = c.view(2);
  REQUIRE(v.is_object());
  CHECK(v["clustered"] == true);
  CHECK(v["members"].size() == 3);
  for (auto& m : v["members"])
    CHECK(m["state"] == "up");
  CHECK(v["replicas"] == 3);

  for (size_t i = 0; i < c.size(); ++i)
    CHECK(stock_of(*as_user(c.url(i), mia), rid, "bento") == 5);

  const int customers = 12;
  std::vector<std::unique_ptr<api_session>> sessions;
  for (int k = 0; k < customers; ++k) {
    sessions.push_back(std::make_unique<api_session>(c.url(k % 3)));
    sessions.back()->sign_up("cust" + std::to_string(k), "customer");
  }
  std::vector<bento::client::http_result> results(customers);
  std::vector<std::thread> threads;
  for (int k = 0; k < customers; ++k)
    threads.emplace_back([&, k] {
      results[k] = place_until_answered(*sessions[k], order_body(rid, "bento", 1), "race-" + std::to_string(k));
    });
  for (auto& t : threads)
    t.join();
  std::vector<std::string> won;
  int sold_out = 0;
  for (int k = 0; k < customers; ++k) {
    INFO(results[k].status << " " << results[k].body);
    if (results[k].status == 201)
      won.push_back(body_of(results[k])["id"]);
    else if (results[k].status == 409 && body_of(results[k])["error"] == "out_of_stock")
      ++sold_out;
  }
  CHECK(won.size() == 5);
  CHECK(sold_out == customers - 5);

  // Every node: the same stock, every order, and the merchant's listing with all of them (read models are fed
  // by replicated events, so a follower may be a moment behind: a bounded wait).
  for (size_t i = 0; i < c.size(); ++i) {
    auto m = as_user(c.url(i), mia);
    CHECK(stock_of(*m, rid, "bento") == 0);
    for (auto& oid : won)
      CHECK(m->call("GET", "/api/v1/orders/" + oid).status == 200);
    CHECK(within(5s, [&] { return body_of(m->call("GET", "/api/v1/orders"))["orders"].size() == won.size(); }));
    CHECK(within(5s, [&] {
      auto menu = body_of(m->call("GET", "/api/v1/menu?place=taipei"));
      return menu.is_object() && menu["items"].size() == 1;
    }));
  }

  // An order placed without an Idempotency-Key lives in its restaurant's shard, whichever node took it: the
  // reservation is a call within one leader, and the restaurant's orders replicate through one group.
  as_user(c.url(0), mia)->put_item(rid, "bento", 500, 100);
  auto shard_of_entity = [&](const std::string& key) { return c.view(0, key)["entity"]["shard"].get<int>(); };
  for (size_t i = 0; i < c.size(); ++i)
    for (int k = 0; k < 3; ++k) {
      auto placed = sessions[i]->call("POST", "/api/v1/orders", order_body(rid, "bento", 1));
      INFO("node " << i << ": " << placed.status << " " << placed.body);
      REQUIRE(placed.status == 201);
      std::string oid = body_of(placed)["id"];
      CHECK(shard_of_entity("order/" + oid) == shard_of_entity("restaurant/" + rid));
      CHECK(sessions[i]->call("GET", "/api/v1/orders/" + oid).status == 200);
    }
}

TEST_CASE("cluster: kill -9 of a shard's leader loses no acknowledged order and its writes resume within 3 s",
          "[integration][cluster]") {
  node_cluster c(3);
  api_session mia(c.url(0));
  mia.sign_up("mia", "merchant");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "bento", 500, 1000);
  api_session carl(c.url(1));
  carl.sign_up("carl", "customer");

  std::vector<std::string> acked;
  for (int k = 0; k < 30; ++k)
    acked.push_back(place_one(*as_user(c.url(k % 3), carl), rid, "before-" + std::to_string(k)));

  std::optional<size_t> leader;
  REQUIRE(within(10s, [&] { return (leader = c.leader_of("restaurant/" + rid)).has_value(); }));
  auto survivor = (*leader + 1) % 3, other = (*leader + 2) % 3;
  c.node(*leader).kill9();
  auto killed_at = clock_type::now();

  // The first write on the restaurant's keys after the kill, retried with one key until it is answered.
  auto via = as_user(c.url(survivor), carl);
  auto r = place_until_answered(*via, order_body(rid, "bento", 1), "after-kill");
  auto resumed_after = clock_type::now() - killed_at;
  INFO(r.body);
  REQUIRE(r.status == 201);
  acked.push_back(body_of(r)["id"]);
  WARN("writes resumed " << std::chrono::duration_cast<std::chrono::milliseconds>(resumed_after).count()
                         << " ms after the kill");
  CHECK(resumed_after < 3s);

  auto check_all = [&](size_t node) {
    auto s = as_user(c.url(node), carl);
    for (auto& oid : acked) {
      bento::client::http_result got;
      within(10s, [&] { return (got = s->call("GET", "/api/v1/orders/" + oid)).status == 200; });
      INFO(oid << " via " << node_cluster::id(node) << ": " << got.status << " " << got.body);
      CHECK(got.status == 200);
    }
    CHECK(stock_of(*as_user(c.url(node), mia), rid, "bento") == 1000 - static_cast<int64_t>(acked.size()));
  };
  check_all(survivor);
  check_all(other);

  // The killed node comes back with its data dir, catches up, and then the cluster can lose another node:
  // whatever the two left hold must be everything that was acknowledged.
  c.node(*leader).start();
  REQUIRE(c.wait_settled());
  acked.push_back(place_one(*as_user(c.url(*leader), carl), rid, "after-restart"));
  c.node(survivor).kill9();
  check_all(*leader);
  check_all(other);
  c.node(survivor).start();
}

TEST_CASE("cluster: a leader frozen past the election timeout acknowledges nothing in its old term and rejoins "
          "as a follower",
          "[integration][cluster]") {
  node_cluster c(3);
  api_session mia(c.url(0));
  mia.sign_up("mia", "merchant");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "last", 500, 1);
  api_session carl(c.url(0)), dave(c.url(0));
  carl.sign_up("carl", "customer");
  dave.sign_up("dave", "customer");

  std::optional<size_t> frozen;
  REQUIRE(within(10s, [&] { return (frozen = c.leader_of("restaurant/" + rid)).has_value(); }));
  auto awake = (*frozen + 1) % 3;
  auto carl_on_frozen = as_user(c.url(*frozen), carl);
  auto dave_on_awake = as_user(c.url(awake), dave);

  c.node(*frozen).pause();
  // Carl's order goes into the frozen leader's socket and waits there.
  bento::client::http_result carl_result;
  std::thread carl_thread([&] {
    carl_result = carl_on_frozen->call("POST", "/api/v1/orders", order_body(rid, "last", 1),
                                       {{"Idempotency-Key", "carl-1"}});
  });
  // The others elect a new leader; Dave buys the last one through it.
  auto dave_result = place_until_answered(*dave_on_awake, order_body(rid, "last", 1), "dave-1");
  INFO(dave_result.body);
  CHECK(dave_result.status == 201);
  c.node(*frozen).resume();
  carl_thread.join();

  // Whatever the old leader thought when it woke, it did not sell the item a second time.
  INFO("carl: " << carl_result.status << " " << carl_result.body);
  CHECK(carl_result.status != 201);
  CHECK((carl_result.status == 409 || carl_result.status == 503 || carl_result.status == 504));
  // It rejoins: every node agrees on the leaders again (the lead may come back to it once it holds the new
  // leader's log, when it is the shard's first placed replica), and every node shows one sale.
  REQUIRE(c.wait_settled());
  for (size_t i = 0; i < c.size(); ++i)
    CHECK(stock_of(*as_user(c.url(i), mia), rid, "last") == 0);
  // A retry of Carl's request resolves it: the same key gives the same answer, never a sale.
  auto retried = place_until_answered(*carl_on_frozen, order_body(rid, "last", 1), "carl-1");
  INFO(retried.body);
  CHECK(retried.status == 409);
}

TEST_CASE("cluster: a partition leaves the majority serving and the minority refusing writes; healed, all agree",
          "[integration][cluster]") {
  node_cluster c(3, {}, 8, /*through_proxies=*/true);
  shop s(c, 100);
  auto& mia = s.mia;
  auto& carl = s.carl;
  const auto rid = s.rid;

  // The restaurant's leader is cut off from both others, in both directions; it keeps running and believes
  // what it believed.
  std::optional<size_t> cut;
  REQUIRE(within(10s, [&] { return (cut = c.leader_of("restaurant/" + rid)).has_value(); }));
  auto majority = (*cut + 1) % 3;
  c.partition({*cut});

  // The majority elects a leader of its own and sells through either of its nodes.
  std::vector<std::string> acked;
  acked.push_back(place_one(*as_user(c.url(majority), carl), rid, "majority-1"));
  acked.push_back(place_one(*as_user(c.url((*cut + 2) % 3), carl), rid, "majority-2"));

  // The minority acknowledges nothing: its writes end as unavailable or outcome_unknown, never 201.
  auto on_minority = as_user(c.url(*cut), carl);
  auto refused = on_minority->call("POST", "/api/v1/orders", order_body(rid, "bento", 1),
                                   {{"Idempotency-Key", "minority-1"}});
  INFO("minority: " << refused.status << " " << refused.body);
  CHECK((refused.status == 503 || refused.status == 504));
  // Nor does it answer reads of the restaurant from a lead it no longer holds (its lease ran out).
  auto read = on_minority->call("GET", "/api/v1/restaurants/" + rid + "/menu/items/bento");
  INFO("minority read: " << read.status << " " << read.body);
  CHECK((read.status == 503 || read.status == 504));

  // Healed: one leader per shard again, every node holds every acknowledged order and the same stock, and the
  // minority's attempt, retried with its key, happens at most once.
  c.heal();
  REQUIRE(c.wait_settled());
  auto retried = place_until_answered(*as_user(c.url(majority), carl), order_body(rid, "bento", 1), "minority-1");
  INFO(retried.body);
  REQUIRE(retried.status == 201);
  acked.push_back(body_of(retried)["id"]);
  auto again = place_until_answered(*on_minority, order_body(rid, "bento", 1), "minority-1");
  REQUIRE(again.status == 201);
  CHECK(body_of(again)["id"] == acked.back());
  for (size_t i = 0; i < c.size(); ++i) {
    INFO("node " << i);
    CHECK(stock_of(*as_user(c.url(i), mia), rid, "bento") == 97);
    for (auto& oid : acked)
      CHECK(as_user(c.url(i), carl)->call("GET", "/api/v1/orders/" + oid).status == 200);
  }
}

TEST_CASE("cluster: a call forwarded to a leader that stops answering ends as outcome_unknown when the leader is "
          "found down, not at the forwarding deadline, and a retry resolves it",
          "[integration][cluster]") {
  // Forwarded calls wait up to half the request timeout: 30 s here. Failure detection takes about 1 s.
  node_cluster c(3, {{"BENTO_REQUEST_TIMEOUT_MS", "60000"}});
  api_session mia(c.url(0));
  mia.sign_up("mia", "merchant");
  auto rid = mia.create_restaurant("Mia's");
  mia.put_item(rid, "katsu", 500, 10);
  std::optional<size_t> frozen;
  REQUIRE(within(10s, [&] { return (frozen = c.leader_of("restaurant/" + rid)).has_value(); }));
  auto mia_elsewhere = as_user(c.url((*frozen + 1) % 3), mia);
  auto patch = json{{"price_cents", 650}};
  auto path = "/api/v1/restaurants/" + rid + "/menu/items/katsu";

  c.node(*frozen).pause();
  auto started = clock_type::now();
  auto r = mia_elsewhere->call("PATCH", path, patch);
  auto waited = clock_type::now() - started;
  c.node(*frozen).resume();
  INFO(r.status << " " << r.body << " after "
                << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms");
  CHECK(r.status == 504);
  CHECK(body_of(r)["error"] == "outcome_unknown");
  CHECK(waited < 15s); // the forwarding deadline is 30 s away

  // Reading it again (or repeating the same change) settles it on whichever node leads now.
  bento::client::http_result again;
  REQUIRE(within(15s, [&] {
    again = mia_elsewhere->call("PATCH", path, patch);
    return again.status != 503 && again.status != 504;
  }));
  INFO(again.body);
  CHECK(again.status == 200);
  auto item = mia_elsewhere->call("GET", path);
  REQUIRE(item.status == 200);
  CHECK(body_of(item)["price_cents"] == 650);
}

/// A bento_cluster gauge of node `i` (0 when absent).
/// A sample of node i's /metrics by its full name with labels (0 when absent).
double metric(node_cluster& c, size_t i, const std::string& sample) {
  api_session s(c.url(i));
  auto r = s.call("GET", "/metrics");
  auto needle = "\n" + sample + " ";
  auto at = r.body.find(needle);
  return at == std::string::npos ? 0 : std::stod(r.body.substr(at + needle.size()));
}

double cluster_gauge(node_cluster& c, size_t i, const std::string& name) {
  return metric(c, i, "bento_cluster{gauge=\"" + name + "\"}");
}

/// Item ids of the catalog's menu for taipei as node i shows it to `who`.
std::set<std::string> menu_items_on(node_cluster& c, size_t i, const api_session& who) {
  auto menu = body_of(as_user(c.url(i), who)->call("GET", "/api/v1/menu?place=taipei"));
  std::set<std::string> ids;
  if (menu.is_object() && menu["items"].is_array())
    for (auto& it : menu["items"])
      ids.insert(it.value("id", ""));
  return ids;
}

TEST_CASE("cluster: a node away for longer than the log keeps catches up from a snapshot and then serves what "
          "it missed",
          "[integration][cluster]") {
  // A short log: the restaurant's shard is compacted past what the absent node has. Small frames: the snapshot
  // streams in chunks of 48 KiB, each acknowledged before the next. Events kept 1 s: the snapshot's change feed
  // starts after what the absent node's catalog read, so the catalog must rebuild that shard from the records.
  node_cluster c(3, {{"BENTO_RAFT_KEEP_ENTRIES", "16"},
                     {"BENTO_PEER_FRAME_MAX_BYTES", "65536"},
                     {"BENTO_EVENT_RETENTION_S", "1"}});
  shop s(c, 1000);
  auto& mia = s.mia;
  auto& carl = s.carl;
  const auto rid = s.rid;
  mia.put_item(rid, "soon-gone", 300, 5);
  std::optional<size_t> leader;
  REQUIRE(within(10s, [&] { return (leader = c.leader_of("restaurant/" + rid)).has_value(); }));
  auto away = (*leader + 1) % 3;
  REQUIRE(within(10s, [&] { return menu_items_on(c, away, carl).count("soon-gone") == 1; }));
  auto feed = [&](size_t i) { return c.view(i, "restaurant/" + rid)["entity"]["events"]; };
  auto read_by_away = feed(away)["last"].get<uint64_t>();
  c.node(away).kill9();

  std::vector<std::string> acked;
  auto via = as_user(c.url(*leader), carl);
  for (int k = 0; k < 300; ++k)
    acked.push_back(place_one(*via, rid, "while-away-" + std::to_string(k)));
  auto merchant = as_user(c.url(*leader), mia);
  REQUIRE(merchant->call("DELETE", "/api/v1/restaurants/" + rid + "/menu/items/soon-gone").status == 204);
  merchant->put_item(rid, "late", 400, 7);
  // Sessions of Dave's end meanwhile, enough that his shard's log is compacted too: the returning node learns
  // of them from a snapshot, which carries the records but not their events.
  // (a name whose shard is not the restaurant's, so that two shards need snapshots)
  auto shard_of_entity = [&](const std::string& key) { return c.view(*leader, key)["entity"]["shard"].get<int>(); };
  std::string name = "dave";
  for (int k = 2; shard_of_entity("user/" + name) == shard_of_entity("restaurant/" + rid); ++k)
    name = "dave" + std::to_string(k);
  api_session dave(c.url(*leader));
  dave.sign_up(name, "customer");
  std::vector<std::string> ended;
  for (int k = 0; k < 5; ++k) {
    api_session s(c.url(*leader));
    s.login(name);
    REQUIRE(s.call("DELETE", "/api/v1/sessions/current").status == 204);
    ended.push_back(s.token);
  }
  // Then more writes to that shard than the log keeps (keep_entries and a compaction step of 256): users whose
  // names land in the same shard.
  auto shards = static_cast<bento::domain::shard_id>(c.view(*leader)["shards"].get<int>());
  auto dave_shard = bento::domain::shard_of("user/" + name, shards);
  for (int k = 0, made = 0; made < 300; ++k) {
    auto filler = "filler" + std::to_string(k);
    if (bento::domain::shard_of("user/" + filler, shards) != dave_shard)
      continue;
    api_session(c.url(*leader)).register_user(filler, "customer");
    ++made;
  }
  // Both others have pruned past what the absent node read (whichever leads sends the snapshot).
  for (size_t i = 0; i < 3; ++i)
    if (i != away)
      REQUIRE(within(20s, [&] { return feed(i)["first"].get<uint64_t>() > read_by_away + 1; }));
  c.node(away).start();
  REQUIRE(within(30s, [&] { return cluster_gauge(c, away, "snapshots_installed") >= 2; }));
  // Its menu is the restaurant's as it stands, not as it stood when the node went away.
  CHECK(within(10s, [&] { return menu_items_on(c, away, carl) == std::set<std::string>{"bento", "late"}; }));
  // /metrics renders are shared for a second: the scrape above may predate the rebuild.
  CHECK(within(10s, [&] { return metric(c, away, "bento_catalog_shard_rebuilds_total") >= 1; }));
  CHECK(within(10s, [&] { return metric(c, *leader, "bento_events_pruned_total") > 0; }));
  for (auto& token : ended) {
    auto s = std::make_unique<api_session>(c.url(away));
    s->token = token;
    CHECK(within(10s, [&] { return s->call("GET", "/api/v1/me").status == 401; }));
  }
  CHECK(as_user(c.url(away), dave)->call("GET", "/api/v1/me").status == 200);
  CHECK(cluster_gauge(c, away, "snapshots_refused") == 0);
  CHECK(cluster_gauge(c, *leader, "snapshot_chunks_sent") > cluster_gauge(c, *leader, "snapshots_sent"));
  REQUIRE(c.wait_settled());

  // Make the returned node lead the restaurant's shard: kill whoever leads it until the election picks it.
  // (The leader is read again after a restart settles: leadership then returns to the shard's first placed
  // replica, so the one read before may no longer lead.)
  std::optional<size_t> down;
  for (int attempt = 0; attempt < 12; ++attempt) {
    if (down) {
      c.node(*down).start();
      REQUIRE(c.wait_settled());
      down.reset();
    }
    std::optional<size_t> now;
    REQUIRE(within(10s, [&] { return (now = c.leader_of("restaurant/" + rid)).has_value(); }));
    if (*now == away)
      break;
    c.node(*now).kill9();
    down = *now;
    std::optional<size_t> next;
    REQUIRE(within(10s, [&] {
      next = c.leader_of("restaurant/" + rid);
      return next && *next != *down;
    }));
    if (*next == away)
      break;
  }
  REQUIRE(c.leader_of("restaurant/" + rid) == std::optional<size_t>(away));
  // It answers from the state the snapshot gave it: every order, and the stock they took.
  auto on_away = as_user(c.url(away), carl);
  for (auto& oid : acked) {
    bento::client::http_result got;
    within(10s, [&] { return (got = on_away->call("GET", "/api/v1/orders/" + oid)).status == 200; });
    INFO(oid << ": " << got.status << " " << got.body);
    CHECK(got.status == 200);
  }
  CHECK(stock_of(*as_user(c.url(away), mia), rid, "bento") == 1000 - static_cast<int64_t>(acked.size()));
  auto more = place_until_answered(*on_away, order_body(rid, "bento", 1), "after-snapshot");
  INFO(more.body);
  CHECK(more.status == 201);
}

TEST_CASE("cluster: a restarted node gets back the lead of the shards placed first on it", "[integration][cluster]") {
  node_cluster c(3);
  REQUIRE(c.wait_settled());
  // Shards whose first placed replica is n1, and how many of them n1 leads (as node 2 sees it).
  auto count = [&](const nlohmann::json& v) {
    std::pair<int, int> preferred_led{0, 0};
    for (auto& g : v["shard_groups"]) {
      if (g["replicas"].empty() || g["replicas"][0] != "n1")
        continue;
      ++preferred_led.first;
      preferred_led.second += g["leader"] == "n1" ? 1 : 0;
    }
    return preferred_led;
  };
  c.node(0).kill9();
  REQUIRE(c.wait_settled());
  auto away = count(c.view(1));
  CHECK(away.first > 0);
  CHECK(away.second == 0); // the survivors lead everything meanwhile
  c.node(0).start();
  std::pair<int, int> back;
  REQUIRE(within(30s, [&] {
    auto v = c.view(1);
    if (!v.is_object())
      return false;
    back = count(v);
    return back.second == back.first;
  }));
  INFO("n1 leads " << back.second << " of the " << back.first << " shards placed first on it");
  CHECK(back.second == back.first);
  CHECK(cluster_gauge(c, 1, "leadership_transfers") + cluster_gauge(c, 2, "leadership_transfers") >= back.first);
}

TEST_CASE("cluster: a node cut off from the majority refuses with 503 and Retry-After, and serves again when "
          "the majority returns",
          "[integration][cluster]") {
  node_cluster c(3, {{"BENTO_REQUEST_TIMEOUT_MS", "2000"}});
  shop s(c, 10);
  auto& mia = s.mia;
  auto& carl = s.carl;
  const auto rid = s.rid;

  c.node(1).kill9();
  c.node(2).kill9();
  bento::client::http_result r;
  REQUIRE(within(20s, [&] {
    r = carl.call("POST", "/api/v1/orders", order_body(rid, "bento", 1), {{"Idempotency-Key", "alone-1"}});
    return r.status == 503;
  }));
  check_error(r, 503, "unavailable");
  CHECK(!r.headers["retry-after"].empty());
  // Reads need the leader too: a lone node cannot know it is not stale.
  CHECK(carl.call("GET", "/api/v1/restaurants/" + rid + "/menu/items/bento").status == 503);

  c.node(1).start();
  auto back = place_until_answered(carl, order_body(rid, "bento", 1), "alone-1", 20s);
  INFO(back.body);
  CHECK(back.status == 201);
  CHECK(stock_of(mia, rid, "bento") == 9);
  c.node(2).start();
}

TEST_CASE("cluster: a node without the cluster secret cannot join", "[integration][cluster]") {
  node_cluster c(3);
  temp_dir dir;
  auto port = free_port();
  auto env = fast_node_env();
  env["BENTO_NODE_ID"] = "intruder";
  env["BENTO_SEEDS"] = c.seeds() + ",127.0.0.1:" + std::to_string(port);
  env["BENTO_CLUSTER_SECRET"] = "not the secret of this cluster";
  env["BENTO_CLUSTER_PORT"] = std::to_string(port);
  env["BENTO_SHARDS"] = "8";
  node_process intruder(dir / "data", env);
  intruder.launch();

  auto rejected = [&] {
    bento::client::http_client http(c.url(0), 2s);
    auto m = http.get("/metrics").body;
    for (auto name : {"bento_cluster{gauge=\"peer_bad_proof\"} ", "bento_cluster{gauge=\"peer_unauthenticated\"} "}) {
      auto at = m.find(name);
      if (at != std::string::npos && std::stod(m.substr(at + std::string(name).size())) > 0)
        return true;
    }
    return false;
  };
  CHECK(within(20s, rejected));
  auto v = c.view(0);
  REQUIRE(v.is_object());
  CHECK(v["members"].size() == 3);
  for (auto& m : v["members"])
    CHECK(m["id"] != "intruder");
  // It never formed a cluster, so it never opened its API; asked to stop, it stops cleanly.
  CHECK(bento::client::http_client(intruder.base_url(), 1s).get("/healthz").status == 0);
  CHECK(intruder.stop() == 0);
}

TEST_CASE("cluster: failed logins are counted where the user lives, so a lockout holds through every node",
          "[integration][cluster]") {
  node_cluster c(3, {{"BENTO_LOGIN_LOCKOUT_MS", "60000"}});
  api_session carl(c.url(0));
  carl.sign_up("carl", "customer");
  // Five free failures per (name, address), spread over the nodes: counted per node they would never lock.
  for (int k = 0; k < 5; ++k) {
    api_session s(c.url(k % 3));
    auto r = s.http.post("/api/v1/sessions", json{{"username", "carl"}, {"password", "not it"}}.dump());
    check_error(r, 401, "unauthorized");
  }
  for (size_t i = 0; i < c.size(); ++i) {
    INFO("node " << i);
    api_session s(c.url(i));
    auto r = s.http.post("/api/v1/sessions", json{{"username", "carl"}, {"password", "correct horse"}}.dump());
    check_error(r, 429, "too_many_requests");
    CHECK(r.headers.count("retry-after") == 1);
  }
  // Another name from the same address is not locked (five free failures per name and address).
  api_session dora(c.url(1));
  dora.sign_up("dora", "customer");
}

namespace {
const std::string admin_token = "admin token of the integration tests";

/// Voting seats each member holds, as node i sees them.
std::map<std::string, uint64_t> seats(node_cluster& c, size_t i) {
  std::map<std::string, uint64_t> out;
  auto v = c.view(i);
  if (v.is_object())
    for (auto& m : v["members"])
      out[m["id"].get<std::string>()] = m["shards_replicated"].get<uint64_t>();
  return out;
}

uint64_t total_seats(const std::map<std::string, uint64_t>& seats_by_node) {
  uint64_t total = 0;
  for (auto& [node, n] : seats_by_node)
    total += n;
  return total;
}

std::string member_state(node_cluster& c, size_t i, const std::string& node) {
  auto v = c.view(i);
  if (v.is_object())
    for (auto& m : v["members"])
      if (m["id"] == node)
        return m["state"];
  return {};
}
} // namespace

TEST_CASE("cluster: decommission moves a node's seats to the others while orders flow, then it can go",
          "[integration][cluster]") {
  node_cluster c(5, {{"BENTO_ADMIN_TOKEN", admin_token}});
  shop s(c, 100);
  auto& mia = s.mia;
  auto& carl = s.carl;
  const auto rid = s.rid;
  std::vector<std::string> acked;
  for (int k = 0; k < 5; ++k)
    acked.push_back(place_one(*as_user(c.url(k % 5), carl), rid, "before-" + std::to_string(k)));

  // Admin calls need the admin token; a node that is no member is not found.
  bento::client::http_client http(c.url(1));
  const std::string path = "/api/v1/admin/nodes/n5/decommission";
  check_error(http.request("POST", path, "", {}), 401, "unauthenticated");
  check_error(http.request("POST", path, "", {{"Authorization", "Bearer not the token at all"}}), 401,
              "unauthenticated");
  check_error(http.request("POST", "/api/v1/admin/nodes/n9/decommission", "",
                           {{"Authorization", "Bearer " + admin_token}}),
              404, "not_found");
  auto r = http.request("POST", path, "", {{"Authorization", "Bearer " + admin_token}});
  INFO(r.body);
  REQUIRE(r.status == 202);
  // Repeating it is harmless.
  CHECK(http.request("POST", path, "", {{"Authorization", "Bearer " + admin_token}}).status == 202);

  // Orders keep flowing while the seats move, one shard at a time per leader.
  for (int k = 0; k < 10; ++k)
    acked.push_back(place_one(*as_user(c.url(k % 4), carl), rid, "during-" + std::to_string(k)));
  auto shards = c.view(0)["shards"].get<uint64_t>();
  REQUIRE(within(60s, [&] {
    auto s = seats(c, 0);
    return s["n5"] == 0 && s["n1"] + s["n2"] + s["n3"] + s["n4"] == 3 * shards;
  }));
  CHECK(member_state(c, 2, "n5") == "leaving");
  // Every group: three voters on the others, n5 kept as a learner (it still holds the data until stopped).
  auto groups = c.view(0)["shard_groups"]; // a copy: a range-for over a temporary's member would dangle
  REQUIRE(groups.size() == shards);
  for (auto& g : groups) {
    CHECK(g["voters"].size() == 3);
    CHECK_FALSE(node_cluster::listed(g["voters"], "n5"));
    CHECK(node_cluster::listed(g["learners"], "n5"));
  }

  // Gone: the four others hold every shard's majority, and everything acknowledged.
  REQUIRE(c.node(4).stop() == 0);
  REQUIRE(c.wait_settled());
  for (int k = 0; k < 4; ++k)
    acked.push_back(place_one(*as_user(c.url(k), carl), rid, "after-" + std::to_string(k)));
  for (size_t i = 0; i < 4; ++i) {
    INFO("node " << i);
    CHECK(stock_of(*as_user(c.url(i), mia), rid, "bento") == 100 - static_cast<int64_t>(acked.size()));
    for (auto& oid : acked)
      CHECK(as_user(c.url(i), carl)->call("GET", "/api/v1/orders/" + oid).status == 200);
  }
  // Two more may not leave: three replicas need three active members.
  CHECK(http.request("POST", "/api/v1/admin/nodes/n4/decommission", "", {{"Authorization", "Bearer " + admin_token}})
          .status == 202);
  check_error(http.request("POST", "/api/v1/admin/nodes/n3/decommission", "",
                           {{"Authorization", "Bearer " + admin_token}}),
              409, "invalid_transition");
}

TEST_CASE("cluster: a new node joins a running cluster, takes its share of the seats while orders flow, and "
          "serves everything",
          "[integration][cluster]") {
  node_cluster c(3);
  shop s(c, 100);
  auto& mia = s.mia;
  auto& carl = s.carl;
  const auto rid = s.rid;
  std::vector<std::string> acked;
  for (int k = 0; k < 5; ++k)
    acked.push_back(place_one(*as_user(c.url(k % 3), carl), rid, "before-" + std::to_string(k)));

  auto joiner = c.add_node();
  auto name = node_cluster::id(joiner);
  for (int k = 0; k < 5; ++k)
    acked.push_back(place_one(*as_user(c.url(k % 4), carl), rid, "during-" + std::to_string(k)));
  auto shards = c.view(0)["shards"].get<uint64_t>();
  // Every member lists it; its seats (voting replicas) arrive shard by shard, and the seats stay three per shard.
  REQUIRE(within(60s, [&] {
    auto s = seats(c, 0);
    return s.count(name) && s[name] > 0 && total_seats(s) == 3 * shards && member_state(c, 0, name) == "up";
  }));
  // Another member's view agrees once the last placement change has reached it (it lags by a heartbeat).
  CHECK(within(30s, [&] { return seats(c, 2)[name] == seats(c, 0)[name]; }));
  REQUIRE(c.wait_settled());

  // It serves every key with all that was acknowledged before, during and after it came.
  acked.push_back(place_one(*as_user(c.url(joiner), carl), rid, "through-the-new-node"));
  CHECK(stock_of(*as_user(c.url(joiner), mia), rid, "bento") == 100 - static_cast<int64_t>(acked.size()));
  for (auto& oid : acked)
    CHECK(as_user(c.url(joiner), carl)->call("GET", "/api/v1/orders/" + oid).status == 200);
  CHECK(within(5s, [&] {
    return body_of(as_user(c.url(joiner), carl)->call("GET", "/api/v1/orders?limit=100"))["orders"].size() ==
           acked.size();
  }));

  // Losing a founder now loses nothing: the shards that had it have two other voters.
  c.node(0).kill9();
  REQUIRE(c.wait_settled());
  acked.push_back(place_one(*as_user(c.url(joiner), carl), rid, "after-a-founder-died"));
  CHECK(stock_of(*as_user(c.url(1), mia), rid, "bento") == 100 - static_cast<int64_t>(acked.size()));
  // Restarted, the joined node stays a member (it bootstraps nothing of its own).
  c.node(joiner).stop();
  c.node(joiner).start();
  REQUIRE(c.wait_settled());
  CHECK(stock_of(*as_user(c.url(joiner), mia), rid, "bento") == 100 - static_cast<int64_t>(acked.size()));
}

TEST_CASE("cluster: a node down longer than BENTO_REPLACE_AFTER_S loses its seats to live nodes, so a second "
          "failure later still leaves every shard a majority",
          "[integration][cluster]") {
  node_cluster c(4, {{"BENTO_REPLACE_AFTER_S", "2"}});
  shop s(c, 100);
  auto& mia = s.mia;
  auto& carl = s.carl;
  const auto rid = s.rid;
  std::vector<std::string> acked;
  for (int k = 0; k < 4; ++k)
    acked.push_back(place_one(*as_user(c.url(k), carl), rid, "before-" + std::to_string(k)));
  // No admin token configured: admin calls are refused.
  bento::client::http_client http(c.url(0));
  check_error(http.request("POST", "/api/v1/admin/nodes/n4/decommission", "", {{"Authorization", "Bearer x"}}), 403,
              "forbidden");

  c.node(3).kill9();
  auto shards = c.view(0)["shards"].get<uint64_t>();
  REQUIRE(within(60s, [&] {
    auto s = seats(c, 0);
    return s["n4"] == 0 && s["n1"] + s["n2"] + s["n3"] == 3 * shards;
  }));
  acked.push_back(place_one(*as_user(c.url(1), carl), rid, "replaced"));
  // A second failure: every shard still has two of its three voters, so every shard has a leader.
  c.node(2).kill9();
  REQUIRE(c.wait_settled());
  acked.push_back(place_one(*as_user(c.url(0), carl), rid, "after-second"));
  for (size_t i = 0; i < 2; ++i) {
    INFO("node " << i);
    CHECK(stock_of(*as_user(c.url(i), mia), rid, "bento") == 100 - static_cast<int64_t>(acked.size()));
    for (auto& oid : acked)
      CHECK(as_user(c.url(i), carl)->call("GET", "/api/v1/orders/" + oid).status == 200);
  }
}

TEST_CASE("cluster: a node that lost its disk and joined again under a new id at its old address takes the old "
          "id's seats at once, so a second failure leaves every shard a majority",
          "[integration][cluster]") {
  // BENTO_REPLACE_AFTER_S stays at its default (300 s): the time rule cannot be what moves the seats here. The
  // chaos rig found shards whose voters were a live node, the new id and the wiped one: one more failure (a
  // pause of the new id) left them without a majority for good.
  node_cluster c(4);
  shop s(c, 100);
  auto& carl = s.carl;
  const auto rid = s.rid;
  std::vector<std::string> acked;
  for (int k = 0; k < 4; ++k)
    acked.push_back(place_one(*as_user(c.url(k), carl), rid, "before-" + std::to_string(k)));
  auto old_name = c.name(3);
  c.replace_disk(3);
  auto new_name = c.name(3);
  auto shards = c.view(0)["shards"].get<uint64_t>();
  REQUIRE(within(90s, [&] {
    auto s = seats(c, 0);
    return s[old_name] == 0 && s[new_name] > 0 && total_seats(s) == 3 * shards;
  }));
  CHECK(member_state(c, 0, old_name) != "up");
  // A second failure: every shard still has two live voters of three, so every shard has a leader.
  c.node(2).kill9();
  REQUIRE(c.wait_settled(std::chrono::seconds(60)));
  acked.push_back(place_one(*as_user(c.url(3), carl), rid, "after-second"));
  for (size_t i : {0, 1, 3}) {
    INFO("node " << c.name(i));
    CHECK(stock_of(*as_user(c.url(i), s.mia), rid, "bento") == 100 - static_cast<int64_t>(acked.size()));
    for (auto& oid : acked)
      CHECK(as_user(c.url(i), carl)->call("GET", "/api/v1/orders/" + oid).status == 200);
  }
}

TEST_CASE("cluster: five nodes, three replicas per shard: nodes that hold no replica of a key still serve it",
          "[integration][cluster]") {
  node_cluster c(5);
  auto v = c.view(0);
  REQUIRE(v.is_object());
  CHECK(v["members"].size() == 5);
  CHECK(v["replicas"] == 3);
  shop s(c, 100);
  auto& mia = s.mia;
  auto& carl = s.carl;
  const auto rid = s.rid;

  // More restaurants, so that some live in shards that a given node holds no voting replica of: every node's
  // catalog must still list them all (it reads every shard's events, held here as a learner).
  std::vector<std::string> rids{rid};
  for (int k = 0; k < 7; ++k) {
    auto r = as_user(c.url(k % 5), mia)->create_restaurant("Mia's " + std::to_string(k));
    as_user(c.url((k + 1) % 5), mia)->put_item(r, "bento", 500, 10);
    rids.push_back(r);
  }
  auto menu_complete = [&](api_session& s) {
    auto menu = body_of(s.call("GET", "/api/v1/menu?place=taipei"));
    if (!menu.is_object() || menu["items"].size() != rids.size())
      return false;
    std::set<std::string> seen;
    for (auto& item : menu["items"])
      seen.insert(item["restaurant_id"].get<std::string>());
    return seen == std::set<std::string>(rids.begin(), rids.end());
  };
  for (size_t i = 0; i < c.size(); ++i) {
    INFO("node " << i);
    auto s = as_user(c.url(i), carl);
    CHECK(within(3s, [&] { return menu_complete(*s); }));
  }

  // Orders through every node, read through every node, and each node's listing holds all of them: their
  // shards are spread over every node, and a node's listing reads every shard it holds.
  std::vector<std::string> acked;
  for (int k = 0; k < 10; ++k)
    acked.push_back(place_one(*as_user(c.url(k % 5), carl), rid, "five-" + std::to_string(k)));
  std::set<std::string> acked_set(acked.begin(), acked.end());
  for (size_t i = 0; i < c.size(); ++i) {
    INFO("node " << i);
    CHECK(stock_of(*as_user(c.url(i), mia), rid, "bento") == 90);
    auto s = as_user(c.url(i), carl);
    for (auto& oid : acked)
      CHECK(s->call("GET", "/api/v1/orders/" + oid).status == 200);
    std::string last;
    bool listed_all = within(3s, [&] {
      auto r = s->call("GET", "/api/v1/orders?limit=100");
      auto page = body_of(r); // kept: a range-for over a temporary's member would dangle
      std::set<std::string> listed;
      for (auto& o : page["orders"])
        listed.insert(o["id"].get<std::string>());
      last = std::to_string(r.status) + "\n";
      for (auto& id : acked_set)
        if (!listed.count(id))
          last += id + " missing\n";
      return listed == acked_set;
    });
    INFO(last);
    CHECK(listed_all);
  }
  // A logout through one node holds on every node (the session's end is a write of the user's shard that every
  // node applies), and the user's other session is untouched.
  api_session phone(c.url(2));
  phone.login("carl");
  REQUIRE(phone.call("GET", "/api/v1/me").status == 200);
  auto logout = as_user(c.url(3), phone)->call("DELETE", "/api/v1/sessions/current");
  INFO(logout.body);
  REQUIRE(logout.status == 204);
  for (size_t i = 0; i < c.size(); ++i) {
    INFO("node " << i);
    CHECK(within(3s, [&] { return as_user(c.url(i), phone)->call("GET", "/api/v1/me").status == 401; }));
    CHECK(as_user(c.url(i), carl)->call("GET", "/api/v1/me").status == 200);
  }

  // Every member votes in about 3/5 of the shards and learns the rest.
  v = c.view(0);
  uint64_t voting = 0;
  for (auto& m : v["members"])
    voting += m["shards_replicated"].get<uint64_t>();
  CHECK(voting == 3 * v["shards"].get<uint64_t>());

  // The leader of the restaurant's shard dies: the other replicas take over, every node still serves it.
  std::optional<size_t> leader;
  REQUIRE(within(10s, [&] { return (leader = c.leader_of("restaurant/" + rid)).has_value(); }));
  c.node(*leader).kill9();
  for (size_t i = 0; i < c.size(); ++i) {
    if (i == *leader)
      continue;
    auto via = as_user(c.url(i), carl);
    auto r = place_until_answered(*via, order_body(rid, "bento", 1), "after-" + std::to_string(i));
    INFO(r.body);
    CHECK(r.status == 201);
  }
  CHECK(stock_of(*as_user(c.url((*leader + 1) % 5), mia), rid, "bento") == 86);
  // Back with its data dir: the logout still holds there (its list is loaded from the shards' records).
  c.node(*leader).start();
  CHECK(as_user(c.url(*leader), phone)->call("GET", "/api/v1/me").status == 401);
  CHECK(as_user(c.url(*leader), carl)->call("GET", "/api/v1/me").status == 200);
}

TEST_CASE("cluster: a founder whose data dir was wiped does not form a second cluster beside the running one",
          "[integration][cluster]") {
  node_cluster c(3);
  shop s(c, 10);
  REQUIRE(c.wait_settled());
  // n3 loses its disk and is started again exactly as before: same id, same seeds (itself among them).
  c.node(2).kill9();
  std::filesystem::remove_all(c.node(2).data_dir());
  c.node(2).launch();
  auto code = c.node(2).wait_exited(std::chrono::seconds(30));
  INFO(c.node(2).output());
  CHECK(code == 2);
  CHECK(c.node(2).output().find("already runs a formed cluster") != std::string::npos);
  // The cluster it belonged to goes on with two of three.
  auto via = as_user(c.url(0), s.carl);
  auto placed = place_until_answered(*via, order_body(s.rid, "bento", 1), "after-wipe");
  INFO(placed.body);
  CHECK(placed.status == 201);
}
