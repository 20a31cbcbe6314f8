// The SDK against a scripted stand-in node (tests/support/fake_client_node): what it sends, how it pipelines,
// and how it routes and retries (docs/protocol.md). The real node is in tests/integration.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <map>
#include <set>

#include "bento/client/client.hpp"
#include "tests/support/fake_client_node.hpp"

namespace bc = bento::client;
using bento::test::bytes_of;
using bento::test::cpb::Request;
using bento::test::cpb::Response;
using bento::test::dead_address;
using bento::test::fake_client_node;
namespace cpb = bento::test::cpb;
using namespace std::chrono_literals;

namespace {

bc::options options_for(std::vector<std::string> nodes) {
  bc::options o;
  o.nodes = std::move(nodes);
  o.timeout = 5s;
  o.client_name = "sdk-test";
  return o;
}

std::string user_bytes(const std::string& name) {
  cpb::User u;
  u.set_id("u_" + name);
  u.set_username(name);
  u.set_role(cpb::CUSTOMER);
  return bytes_of(u);
}

std::string order_bytes(const std::string& id) {
  cpb::Order o;
  o.set_id(id);
  o.set_status(cpb::PLACED);
  o.set_total_cents(1200);
  auto* line = o.add_items();
  line->set_item_id("katsu");
  line->set_qty(1);
  return bytes_of(o);
}

// Runs on the fake node's threads, where Catch2 assertions are not allowed: a bad payload shows as a bad id.
std::string order_id_of(const Request& r) {
  cpb::OrderRequest o;
  return o.ParseFromString(r.payload()) ? o.order_id() : "<not an OrderRequest>";
}

bc::place_order_request katsu_order() {
  bc::place_order_request req;
  req.restaurant_id = "r_1";
  req.lines = {{"katsu", 1}};
  req.meal = bc::meal::lunch;
  return req;
}

/// Answers everything at once: users for ME, orders for order methods, an empty reply otherwise.
fake_client_node::action answer_all(const Request& r, Response& out) {
  switch (r.method()) {
  case cpb::ME: out.set_payload(user_bytes("carl")); break;
  case cpb::GET_ORDER: case cpb::CONFIRM_ORDER: out.set_payload(order_bytes(order_id_of(r))); break;
  case cpb::PLACE_ORDER: out.set_payload(order_bytes("o_new")); break;
  default: break;
  }
  return fake_client_node::action::reply;
}

template <class T>
bool ready(const std::future<T>& f, std::chrono::milliseconds within = 10s) {
  return f.wait_for(within) == std::future_status::ready;
}

} // namespace

TEST_CASE("client sdk: handshake, a typed reply, the token sent", "[unit][client_sdk]") {
  fake_client_node node([](const Request& r, Response& out) {
    if (r.method() == cpb::LOGIN) {
      cpb::LoginRequest login;
      login.ParseFromString(r.payload());
      cpb::Session s;
      s.set_token("tok-" + login.username());
      s.mutable_user()->set_username(login.username());
      out.set_payload(bytes_of(s));
      return fake_client_node::action::reply;
    }
    return answer_all(r, out);
  });
  bc::client c(options_for({node.address()}));
  CHECK(c.token().empty());
  auto s = c.login("carl", "secret");
  INFO(bc::describe(s.error()));
  REQUIRE(s);
  CHECK(s->user.username == "carl");
  CHECK(c.token() == "tok-carl");
  auto me = c.me();
  REQUIRE(me);
  CHECK(me->username == "carl");
  CHECK(me->role == bc::role::customer);
  REQUIRE(c.logout());
  CHECK(c.token().empty());

  auto hellos = node.hellos();
  REQUIRE(!hellos.empty());
  CHECK(hellos[0].versions_size() == 1);
  CHECK(hellos[0].versions(0) == 1);
  CHECK(hellos[0].client_name() == "sdk-test");
  // An admin call carries the admin token, and leaves the session's alone.
  c.set_token("session-token");
  REQUIRE(c.decommission_node("n3", "admin-secret"));
  CHECK(c.token() == "session-token");

  std::map<int, Request> by_method;
  for (auto& r : node.requests())
    by_method[r.method()] = r;
  CHECK(by_method[cpb::DECOMMISSION_NODE].token() == "admin-secret");
  cpb::DecommissionRequest dec;
  REQUIRE(dec.ParseFromString(by_method[cpb::DECOMMISSION_NODE].payload()));
  CHECK(dec.node_id() == "n3");
  CHECK(by_method[cpb::LOGIN].token().empty());
  CHECK(by_method[cpb::LOGIN].key() == "user/carl");
  CHECK(by_method[cpb::ME].token() == "tok-carl");
  CHECK(by_method[cpb::LOGOUT].token() == "tok-carl");
}

TEST_CASE("client sdk: errors arrive as typed values, unknown codes keep their text", "[unit][client_sdk]") {
  fake_client_node node([](const Request& r, Response& out) {
    if (r.method() == cpb::PLACE_ORDER) {
      out.set_error("out_of_stock");
      out.set_message("only 2 left");
      out.set_item_id("katsu");
    } else {
      out.set_error("a_code_from_the_future");
      out.set_message("new");
    }
    return fake_client_node::action::reply;
  });
  bc::client c(options_for({node.address()}));
  auto placed = c.place_order(katsu_order());
  REQUIRE_FALSE(placed);
  CHECK(placed.error().code == bc::errc::out_of_stock);
  CHECK(placed.error().item_id == "katsu");
  CHECK(placed.error().message == "only 2 left");
  auto me = c.me();
  REQUIRE_FALSE(me);
  CHECK(me.error().code == bc::errc::unknown);
  CHECK(me.error().code_text == "a_code_from_the_future");
}

TEST_CASE("client sdk: requests are pipelined and answers matched by id in any order", "[unit][client_sdk]") {
  fake_client_node node([](const Request&, Response&) { return fake_client_node::action::hold; });
  auto opts = options_for({node.address()});
  opts.connections_per_node = 1;
  opts.leader_routing = false; // no SHARD_MAP request among those counted
  bc::client c(opts);
  std::vector<std::future<bc::result<bc::order>>> futures;
  for (int i = 0; i < 50; ++i)
    futures.push_back(c.get_order_async("o_" + std::to_string(i)));
  REQUIRE(node.wait_until([&] { return node.held() == 50; }));
  CHECK(node.connections() == 1);
  CHECK(node.max_unanswered() == 50);
  CHECK(node.answer_held([](const Request& r, Response& out) { out.set_payload(order_bytes(order_id_of(r))); },
                         true) == 50);
  for (int i = 0; i < 50; ++i) {
    REQUIRE(ready(futures[i]));
    auto o = futures[i].get();
    REQUIRE(o);
    CHECK(o->id == "o_" + std::to_string(i));
    CHECK(o->lines.size() == 1);
  }
  std::set<uint64_t> ids;
  for (auto& r : node.requests())
    ids.insert(r.id());
  CHECK(ids.size() == 50);
}

TEST_CASE("client sdk: no more unanswered requests on a connection than the Welcome allows", "[unit][client_sdk]") {
  fake_client_node::settings s;
  s.max_in_flight = 3;
  fake_client_node node([](const Request&, Response&) { return fake_client_node::action::hold; }, s);
  auto opts = options_for({node.address()});
  opts.connections_per_node = 1;
  bc::client c(opts);
  std::vector<std::future<bc::result<bc::user>>> futures;
  for (int i = 0; i < 20; ++i)
    futures.push_back(c.me_async());
  auto fill = [](const Request&, Response& out) { out.set_payload(user_bytes("carl")); };
  for (size_t answered = 0; answered < 20; ++answered) {
    // The client fills the window before each answer makes room for one more.
    REQUIRE(node.wait_until([&] { return node.held() == std::min<size_t>(3, 20 - answered); }));
    REQUIRE(node.answer_oldest(fill));
  }
  for (auto& f : futures) {
    REQUIRE(ready(f));
    CHECK(f.get());
  }
  CHECK(node.max_unanswered() == 3);
}

TEST_CASE("client sdk: a dead first address fails over; no live one is unreachable", "[unit][client_sdk]") {
  fake_client_node node(answer_all);
  bc::client c(options_for({dead_address(), node.address()}));
  for (int i = 0; i < 4; ++i) { // round robin starts at each node in turn
    auto me = c.me();
    INFO(bc::describe(me.error()));
    CHECK(me);
  }

  bc::client nowhere(options_for({dead_address(), dead_address()}));
  auto started = std::chrono::steady_clock::now();
  auto me = nowhere.me();
  REQUIRE_FALSE(me);
  CHECK(me.error().code == bc::errc::unreachable);
  CHECK(std::chrono::steady_clock::now() - started < 3s); // not the whole timeout
}

TEST_CASE("client sdk: a lost connection retries reads elsewhere; other writes are outcome_unknown",
          "[unit][client_sdk]") {
  fake_client_node dropper([](const Request&, Response&) { return fake_client_node::action::close; });
  fake_client_node good(answer_all);
  auto opts = options_for({dropper.address(), good.address()});
  opts.leader_routing = false;
  bc::client c(opts);

  auto read = c.get_order("o_1");
  REQUIRE(read);
  CHECK(read->id == "o_1");

  // Start at the dropper: the round robin moved on, so call until a write lands there.
  bool saw_unknown = false;
  for (int i = 0; i < 4 && !saw_unknown; ++i) {
    auto before = good.requests().size();
    auto write = c.confirm_order("o_1");
    if (write) {
      CHECK(good.requests().size() == before + 1);
      continue;
    }
    CHECK(write.error().code == bc::errc::outcome_unknown);
    CHECK(good.requests().size() == before); // not sent again
    saw_unknown = true;
  }
  CHECK(saw_unknown);
}

TEST_CASE("client sdk: PLACE_ORDER retries with one idempotency key", "[unit][client_sdk]") {
  std::atomic<int> seen{0};
  fake_client_node node([&](const Request& r, Response& out) {
    if (r.method() != cpb::PLACE_ORDER)
      return answer_all(r, out);
    switch (++seen) {
    case 1: return fake_client_node::action::close; // lost after sending
    case 2: out.set_error("outcome_unknown"); break;
    case 3: out.set_error("overloaded"); out.set_retry_after_ms(30); break;
    case 4: out.set_error("unavailable"); break;
    default: out.set_payload(order_bytes("o_once")); break;
    }
    return fake_client_node::action::reply;
  });
  auto opts = options_for({node.address()});
  opts.leader_routing = false;
  bc::client c(opts);
  auto placed = c.place_order(katsu_order());
  REQUIRE(placed);
  CHECK(placed->id == "o_once");
  std::set<std::string> keys;
  for (auto& r : node.requests())
    if (r.method() == cpb::PLACE_ORDER) {
      keys.insert(r.idempotency_key());
      CHECK(r.key() == "restaurant/r_1");
    }
  CHECK(seen == 5);
  REQUIRE(keys.size() == 1);
  CHECK(!keys.begin()->empty());

  auto mine = katsu_order();
  mine.idempotency_key = "my-key";
  REQUIRE(c.place_order(mine));
  CHECK(node.requests().back().idempotency_key() == "my-key");

  // Keys made up by different clients (on one thread, at once) differ, as do one client's.
  bc::client other(opts);
  REQUIRE(other.place_order(katsu_order()));
  REQUIRE(c.place_order(katsu_order()));
  for (auto& r : node.requests())
    if (r.method() == cpb::PLACE_ORDER)
      keys.insert(r.idempotency_key());
  CHECK(keys.size() == 4); // the retried one, "my-key", and the two new ones
}

TEST_CASE("client sdk: keyed requests go straight to the leader and follow not_leader", "[unit][client_sdk]") {
  fake_client_node b(answer_all); // the leader
  const auto b_address = b.address();
  fake_client_node a([&](const Request& r, Response& out) { // was the leader
    if (!r.direct())
      return answer_all(r, out);
    out.set_error("not_leader");
    out.set_leader(b_address);
    return fake_client_node::action::reply;
  });
  // A map of one shard, led by `a` as far as this node knows.
  fake_client_node map_source([&](const Request&, Response& out) {
    cpb::ShardMap m;
    m.set_epoch(7);
    m.set_shards(1);
    m.add_leaders(a.address());
    m.add_nodes(a.address());
    m.add_nodes(b_address);
    out.set_payload(bytes_of(m));
    return fake_client_node::action::reply;
  });
  auto opts = options_for({map_source.address()});
  bc::client c(opts);
  auto map = c.get_shard_map();
  REQUIRE(map);
  CHECK(map->shards == 1);

  auto o = c.get_order("o_9");
  REQUIRE(o);
  CHECK(o->id == "o_9");
  auto at_a = a.requests();
  REQUIRE(!at_a.empty());
  CHECK(at_a[0].direct());
  CHECK(at_a[0].key() == "order/o_9");
  bool direct_at_b = false;
  for (auto& r : b.requests())
    direct_at_b |= r.method() == cpb::GET_ORDER && r.direct() && r.key() == "order/o_9";
  CHECK(direct_at_b);

  // The hint stuck: the next request for that shard goes to b first.
  auto a_before = a.requests().size();
  REQUIRE(c.get_order("o_10"));
  size_t gets_at_a = 0;
  auto now_at_a = a.requests();
  for (size_t i = a_before; i < now_at_a.size(); ++i)
    gets_at_a += now_at_a[i].method() == cpb::GET_ORDER;
  CHECK(gets_at_a == 0);
}

TEST_CASE("client sdk: a write that gets no answer ends as outcome_unknown, and its late answer is dropped",
          "[unit][client_sdk]") {
  fake_client_node node([](const Request&, Response&) { return fake_client_node::action::hold; });
  auto opts = options_for({node.address()});
  opts.timeout = 300ms;
  bc::client c(opts);
  auto started = std::chrono::steady_clock::now();
  auto r = c.confirm_order("o_1");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == bc::errc::outcome_unknown); // sent: it may have happened, which a timeout would hide
  CHECK(r.error().message.find("may or may not have taken effect") != std::string::npos);
  CHECK(r.error().idempotency_key.empty());
  CHECK(std::chrono::steady_clock::now() - started >= 300ms);
  node.answer_held([](const Request& req, Response& out) { out.set_payload(order_bytes(order_id_of(req))); });
  // A read that gets no answer is a plain timeout: nothing happened either way.
  auto read = c.get_order("o_2");
  REQUIRE_FALSE(read);
  CHECK(read.error().code == bc::errc::timeout);
}

TEST_CASE("client sdk: a node that handshakes, then says nothing, is given up: keyed calls go to another node",
          "[unit][client_sdk]") {
  fake_client_node hung([](const Request&, Response&) { return fake_client_node::action::hold; });
  const auto hung_address = hung.address();
  fake_client_node good([&](const Request& r, Response& out) {
    if (r.method() != cpb::SHARD_MAP)
      return answer_all(r, out);
    cpb::ShardMap m; // one shard, led by the hung node
    m.set_epoch(3);
    m.set_shards(1);
    m.add_leaders(hung_address);
    m.add_nodes(hung_address);
    m.add_nodes("127.0.0.1:1");
    out.set_payload(bytes_of(m));
    return fake_client_node::action::reply;
  });
  auto opts = options_for({good.address()});
  opts.timeout = 1s;
  opts.connections_per_node = 1;
  bc::client c(opts);
  REQUIRE(c.get_shard_map());
  for (int i = 0; i < 6; ++i) {
    auto started = std::chrono::steady_clock::now();
    auto id = "o_" + std::to_string(i);
    auto o = c.get_order(id);
    INFO("call " << i << ": " << bc::describe(o.error()));
    REQUIRE(o); // within its own budget: the hung node is given up after half of it
    CHECK(o->id == id);
    CHECK(std::chrono::steady_clock::now() - started < 1s);
  }
  bool direct_at_hung = false;
  for (auto& r : hung.requests())
    direct_at_hung |= r.method() == cpb::GET_ORDER && r.direct();
  CHECK(direct_at_hung); // it was tried, as the leader
  // An order too, under one idempotency key wherever it went.
  auto placed = c.place_order(katsu_order());
  INFO(bc::describe(placed.error()));
  REQUIRE(placed);
  std::set<std::string> keys;
  for (auto* n : {&hung, &good})
    for (auto& r : n->requests())
      if (r.method() == cpb::PLACE_ORDER)
        keys.insert(r.idempotency_key());
  CHECK(keys.size() == 1);
}

TEST_CASE("client sdk: a write that timed out on a silent connection ends it, so the next call reconnects",
          "[unit][client_sdk]") {
  fake_client_node hung([](const Request&, Response&) { return fake_client_node::action::hold; });
  auto opts = options_for({hung.address()});
  opts.timeout = 300ms;
  opts.leader_routing = false;
  opts.connections_per_node = 1;
  bc::client c(opts);
  auto r = c.cancel_order("o_1");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == bc::errc::outcome_unknown);
  CHECK(hung.connections() == 1);
  REQUIRE_FALSE(c.cancel_order("o_2"));
  CHECK(hung.connections() == 2); // not queued behind the first, on a connection nothing comes from
}

TEST_CASE("client sdk: a PLACE_ORDER whose outcome is unknown says so, with the idempotency key to retry with",
          "[unit][client_sdk]") {
  SECTION("no answer within the budget") {
    fake_client_node hung([](const Request&, Response&) { return fake_client_node::action::hold; });
    auto opts = options_for({hung.address()});
    opts.timeout = 400ms;
    opts.leader_routing = false;
    bc::client c(opts);
    auto placed = c.place_order(katsu_order());
    REQUIRE_FALSE(placed);
    CHECK(placed.error().code == bc::errc::outcome_unknown);
    CHECK(placed.error().message.find("may or may not have taken effect") != std::string::npos);
    auto sent = hung.requests();
    REQUIRE(!sent.empty());
    CHECK(!placed.error().idempotency_key.empty());
    CHECK(placed.error().idempotency_key == sent[0].idempotency_key());
    CHECK(bc::describe(placed.error()).find(sent[0].idempotency_key()) != std::string::npos);

    auto mine = katsu_order();
    mine.idempotency_key = "my-key";
    auto again = c.place_order(mine);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == bc::errc::outcome_unknown);
    CHECK(again.error().idempotency_key == "my-key");
  }
  SECTION("lost after sending, then only refusals that say nothing of the first attempt") {
    std::atomic<int> seen{0};
    fake_client_node node([&](const Request& r, Response& out) {
      if (r.method() == cpb::PLACE_ORDER && ++seen == 1)
        return fake_client_node::action::close;
      out.set_error("unavailable");
      out.set_retry_after_ms(150);
      return fake_client_node::action::reply;
    });
    auto opts = options_for({node.address()});
    opts.timeout = 500ms;
    opts.leader_routing = false;
    bc::client c(opts);
    auto placed = c.place_order(katsu_order());
    REQUIRE_FALSE(placed);
    INFO(bc::describe(placed.error()));
    CHECK(placed.error().code == bc::errc::outcome_unknown);
    CHECK(placed.error().message.find("unavailable") != std::string::npos);
    CHECK(placed.error().idempotency_key == node.requests().front().idempotency_key());
  }
  SECTION("never sent: no node reached") {
    auto opts = options_for({dead_address()});
    opts.leader_routing = false;
    bc::client c(opts);
    auto placed = c.place_order(katsu_order());
    REQUIRE_FALSE(placed);
    CHECK(placed.error().code == bc::errc::unreachable);
    CHECK(placed.error().idempotency_key.empty());
  }
  SECTION("a definite answer is not turned into an unknown one") {
    std::atomic<int> seen{0};
    fake_client_node node([&](const Request& r, Response& out) {
      if (r.method() == cpb::PLACE_ORDER && ++seen == 1)
        return fake_client_node::action::close;
      out.set_error("out_of_stock");
      out.set_item_id("katsu");
      return fake_client_node::action::reply;
    });
    auto opts = options_for({node.address()});
    opts.leader_routing = false;
    bc::client c(opts);
    auto placed = c.place_order(katsu_order());
    REQUIRE_FALSE(placed);
    CHECK(placed.error().code == bc::errc::out_of_stock);
    CHECK(placed.error().idempotency_key.empty());
  }
}

TEST_CASE("client sdk: a node that refuses the handshake says why", "[unit][client_sdk]") {
  fake_client_node::settings s;
  s.refuse = cpb::Goodbye();
  s.refuse->set_error("unsupported_version");
  s.refuse->add_versions(2);
  fake_client_node node(answer_all, s);
  bc::client c(options_for({node.address()}));
  auto me = c.me();
  REQUIRE_FALSE(me);
  CHECK(me.error().code == bc::errc::unsupported_version);
  CHECK(me.error().message.find("versions 2") != std::string::npos);
}

TEST_CASE("client sdk: callbacks run on the SDK's thread and may call the client", "[unit][client_sdk]") {
  fake_client_node node(answer_all);
  bc::client c(options_for({node.address()}));
  std::promise<std::string> nested;
  c.me_async([&](bc::result<bc::user> me) {
    if (!me)
      return nested.set_value("me: " + bc::describe(me.error()));
    auto again = c.get_order("o_2"); // blocking, from within a callback
    nested.set_value(again ? again->id : bc::describe(again.error()));
  });
  auto f = nested.get_future();
  REQUIRE(ready(f));
  CHECK(f.get() == "o_2");
}

TEST_CASE("client sdk: destroying the client cancels what it still waits for", "[unit][client_sdk]") {
  fake_client_node node([](const Request&, Response&) { return fake_client_node::action::hold; });
  std::future<bc::result<bc::user>> pending;
  std::promise<bc::errc> called_back;
  {
    bc::client c(options_for({node.address()}));
    pending = c.me_async();
    c.me_async([&](bc::result<bc::user> r) { called_back.set_value(r ? bc::errc::unknown : r.error().code); });
    REQUIRE(node.wait_until([&] { return node.held() == 2; }));
  }
  REQUIRE(ready(pending, 0ms));
  auto r = pending.get();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == bc::errc::cancelled);
  auto f = called_back.get_future();
  REQUIRE(ready(f, 0ms));
  CHECK(f.get() == bc::errc::cancelled);
}

TEST_CASE("client sdk: many threads share one client", "[unit][client_sdk]") {
  fake_client_node node(answer_all);
  bc::client c(options_for({node.address()}));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i)
        ok += c.get_order("o_" + std::to_string(t * 100 + i)).has_value();
    });
  for (auto& t : threads)
    t.join();
  CHECK(ok == 200);
  CHECK(node.connections() <= 2);
}

TEST_CASE("client sdk: a string the node could not parse is refused here, not sent to end the connection",
          "[unit][client_sdk]") {
  fake_client_node node(answer_all);
  auto opts = options_for({node.address()});
  opts.leader_routing = false;
  bc::client c(opts);
  auto bad = katsu_order();
  bad.idempotency_key = "\xff\xfe";
  auto refused = c.place_order(bad);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == bc::errc::invalid_argument);
  c.set_token("tok\xc3");
  CHECK(c.me().error().code == bc::errc::invalid_argument);
  CHECK(node.requests().empty());

  // An id that is not UTF-8 goes without a routing key: the node judges the payload, as for any bad id.
  c.set_token("tok");
  REQUIRE(c.get_order("o_\xff"));
  REQUIRE(node.requests().size() == 1);
  CHECK(node.requests()[0].key().empty());
}
