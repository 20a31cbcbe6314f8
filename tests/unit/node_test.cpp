// Edge-side pieces: configuration, tokens, revocation, throttles, log lines.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include "actors/common/keys.hpp"
#include "actors/store/entity_store.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/shards.hpp"
#include "node/auth/revocation_list.hpp"
#include "node/auth/throttles.hpp"
#include "node/auth/token.hpp"
#include "node/cluster_setup.hpp"
#include "node/http/api_routes.hpp"
#include "node/logging.hpp"
#include "node/node_config.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento;

namespace {

node::env_lookup env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

} // namespace

TEST_CASE("config: safe defaults with nothing set", "[unit]") {
  auto cfg = node::load_config(env({}));
  REQUIRE(cfg);
  CHECK(cfg->bind == "127.0.0.1");
  CHECK(cfg->http_port == 8080);
  CHECK(cfg->data_dir == "./data");
  CHECK(cfg->rate_limit == 0);
  CHECK(cfg->time_zone == "Asia/Taipei");
}

TEST_CASE("config: thread counts follow the usable CPUs unless set", "[unit]") {
  CHECK(node::default_scheduler_threads(1) == 1);
  CHECK(node::default_http_threads(1) == 1);
  CHECK(node::default_scheduler_threads(2) == 1);
  CHECK(node::default_http_threads(2) == 1);
  CHECK(node::default_scheduler_threads(8) == 4);
  CHECK(node::default_http_threads(8) == 2);
  CHECK(node::default_scheduler_threads(1024) == 256); // within the ranges the variables accept
  CHECK(node::default_http_threads(1024) == 64);
  CHECK(node::usable_cpus() >= 1);
  auto cfg = node::load_config(env({}));
  REQUIRE(cfg);
  CHECK(cfg->scheduler_threads == node::default_scheduler_threads(node::usable_cpus()));
  CHECK(cfg->http_threads == node::default_http_threads(node::usable_cpus()));
  auto set = node::load_config(env({{"BENTO_SCHEDULER_THREADS", "3"}, {"BENTO_HTTP_THREADS", "5"}}));
  REQUIRE(set);
  CHECK(set->scheduler_threads == 3);
  CHECK(set->http_threads == 5);
}

TEST_CASE("config: bad values are named in the error", "[unit]") {
  auto bad_port = node::load_config(env({{"BENTO_HTTP_PORT", "70000"}}));
  REQUIRE_FALSE(bad_port);
  CHECK(bad_port.error().message.find("BENTO_HTTP_PORT") != std::string::npos);
  CHECK_FALSE(node::load_config(env({{"BENTO_HTTP_PORT", "80x"}})));
  CHECK_FALSE(node::load_config(env({{"BENTO_LOG_LEVEL", "loud"}})));
  auto bad_policy = node::load_config(env({{"BENTO_SCHEDULER_POLICY", "fastest"}}));
  REQUIRE_FALSE(bad_policy);
  CHECK(bad_policy.error().message.find("BENTO_SCHEDULER_POLICY") != std::string::npos);
  auto sharing = node::load_config(env({{"BENTO_SCHEDULER_POLICY", "sharing"}}));
  REQUIRE(sharing);
  CHECK(sharing->scheduler_policy == "sharing");
  CHECK_FALSE(node::load_config(env({{"BENTO_SECRET", "short"}})));
  CHECK_FALSE(node::load_config(env({{"BENTO_SYNC_WRITES", "maybe"}})));
  CHECK_FALSE(node::load_config(env({{"BENTO_HTTP_PORT", "7410"}})));
  CHECK_FALSE(node::load_config(env({{"BENTO_BIND", "1.2.3.4; rm -rf"}})));
  auto ok = node::load_config(env({{"BENTO_RATE_LIMIT", "50"}, {"BENTO_SYNC_WRITES", "true"}}));
  REQUIRE(ok);
  CHECK(ok->rate_limit == 50);
  CHECK(ok->sync_writes);
}

TEST_CASE("config: cluster options, their defaults and their rules", "[unit]") {
  auto cfg = node::load_config(env({}));
  REQUIRE(cfg);
  CHECK(cfg->seeds.empty()); // a one-node cluster
  CHECK(cfg->cluster_secret.empty());
  CHECK(cfg->cluster_advertise == "127.0.0.1:4710");
  CHECK(cfg->heartbeat_ms == 100);
  CHECK(cfg->suspect_ms == 500);
  CHECK(cfg->down_ms == 1000);
  CHECK(cfg->peer_frame_max_bytes == 8u << 20);

  const std::string secret = "0123456789abcdef-cluster";
  auto joined = node::load_config(env({{"BENTO_SEEDS", " 10.0.0.1:4710, bento-2:4711,[::1]:4712,10.0.0.1:4710"},
                                       {"BENTO_CLUSTER_SECRET", secret},
                                       {"BENTO_HEARTBEAT_MS", "50"},
                                       {"BENTO_SUSPECT_MS", "300"},
                                       {"BENTO_DOWN_MS", "900"}}));
  INFO((joined ? std::string() : joined.error().message));
  REQUIRE(joined);
  CHECK(joined->seeds == std::vector<std::string>{"10.0.0.1:4710", "bento-2:4711", "[::1]:4712"});
  auto tc = node::transport_settings(*joined, 7);
  CHECK(tc.secret == secret);
  CHECK(tc.incarnation == 7);
  CHECK(tc.seeds.size() == 3);
  CHECK(tc.duplicate_grace_ms == 900);
  CHECK_FALSE(tc.tls);
  CHECK(tc.caf_connection_timeout_ms >= 2 * 900);
  auto mc = node::membership_settings(*joined);
  CHECK(mc.heartbeat_interval == std::chrono::milliseconds(50));
  CHECK(mc.suspect_after == std::chrono::milliseconds(300));
  CHECK(mc.down_after == std::chrono::milliseconds(900));

  auto error_of = [&](std::map<std::string, std::string> vars) {
    auto r = node::load_config(env(std::move(vars)));
    return r ? std::string() : r.error().message;
  };
  using Catch::Contains;
  CHECK_THAT(error_of({{"BENTO_SEEDS", "10.0.0.1:4710"}}), Contains("BENTO_CLUSTER_SECRET is required"));
  CHECK_THAT(error_of({{"BENTO_SEEDS", "10.0.0.1:4710"}, {"BENTO_CLUSTER_SECRET", "too-short"}}),
             Contains("at least 16"));
  CHECK_THAT(error_of({{"BENTO_SEEDS", "10.0.0.1"}, {"BENTO_CLUSTER_SECRET", secret}}), Contains("not host:port"));
  CHECK_THAT(error_of({{"BENTO_SEEDS", "a:1,,b:2"}, {"BENTO_CLUSTER_SECRET", secret}}), Contains("empty entry"));
  CHECK_THAT(error_of({{"BENTO_CLUSTER_SECRET", std::string(40, 'k')}, {"BENTO_SECRET", std::string(40, 'k')}}),
             Contains("must differ from BENTO_SECRET"));
  CHECK_THAT(error_of({{"BENTO_TLS_CERT", "/c.pem"}, {"BENTO_TLS_CA", "/ca.pem"}}), Contains("missing: BENTO_TLS_KEY"));
  CHECK_THAT(error_of({{"BENTO_TLS_KEY", "/k.pem"}}), Contains("missing: BENTO_TLS_CERT, BENTO_TLS_CA"));
  CHECK_THAT(error_of({{"BENTO_HEARTBEAT_MS", "5"}}), Contains("BENTO_HEARTBEAT_MS"));
  CHECK_THAT(error_of({{"BENTO_HEARTBEAT_MS", "300"}}), Contains("at least twice"));
  CHECK_THAT(error_of({{"BENTO_DOWN_MS", "500"}}), Contains("more than BENTO_SUSPECT_MS"));
  CHECK_THAT(error_of({{"BENTO_PEER_FRAME_MAX_BYTES", "1024"}}), Contains("BENTO_PEER_FRAME_MAX_BYTES"));
  CHECK_THAT(error_of({{"BENTO_CLUSTER_ADVERTISE", "nowhere"}}), Contains("BENTO_CLUSTER_ADVERTISE"));
  CHECK_THAT(error_of({{"BENTO_BIND", "0.0.0.0"}, {"BENTO_SEEDS", "10.0.0.1:4710"}, {"BENTO_CLUSTER_SECRET", secret}}),
             Contains("set BENTO_CLUSTER_ADVERTISE"));

  auto tls = node::load_config(env({{"BENTO_TLS_CERT", "/c.pem"}, {"BENTO_TLS_KEY", "/k.pem"},
                                    {"BENTO_TLS_CA", "/ca.pem"}, {"BENTO_BIND", "0.0.0.0"},
                                    {"BENTO_CLUSTER_ADVERTISE", "bento-1.internal:4710"}}));
  REQUIRE(tls);
  auto ttc = node::transport_settings(*tls, 1);
  REQUIRE(ttc.tls);
  CHECK(ttc.tls->certificate == "/c.pem");
  CHECK(ttc.tls->private_key == "/k.pem");
  CHECK(ttc.tls->ca == "/ca.pem");
  CHECK(ttc.advertise == "bento-1.internal:4710");
  // Every cluster option is documented for --help.
  for (auto name : {"BENTO_SEEDS", "BENTO_CLUSTER_SECRET", "BENTO_CLUSTER_ADVERTISE", "BENTO_TLS_CERT",
                    "BENTO_TLS_KEY", "BENTO_TLS_CA", "BENTO_HEARTBEAT_MS", "BENTO_SUSPECT_MS", "BENTO_DOWN_MS",
                    "BENTO_PEER_FRAME_MAX_BYTES"}) {
    auto& docs = node::option_docs();
    CHECK(std::any_of(docs.begin(), docs.end(), [&](auto& d) { return d.name == name; }));
  }
}

TEST_CASE("token: verifies what it issued and nothing else", "[unit]") {
  REQUIRE(sodium_init() >= 0);
  node::token_signer signer("a-secret-that-is-long-enough-for-tests");
  node::token_claims c{"u_1", "alice", domain::role::merchant, "t_1", 100, 200};
  auto token = signer.issue(c);
  auto back = signer.verify(token, 150);
  REQUIRE(back);
  CHECK(back->username == "alice");
  CHECK(back->role == domain::role::merchant);
  CHECK_FALSE(signer.verify(token, 200)); // expired
  node::token_signer other("another-secret-that-is-long-enough!!");
  CHECK_FALSE(other.verify(token, 150));
  auto tampered = token;
  tampered[3] = tampered[3] == 'A' ? 'B' : 'A';
  CHECK_FALSE(signer.verify(tampered, 150));
  CHECK_FALSE(signer.verify("", 150));
  CHECK_FALSE(signer.verify("....", 150));
  CHECK_FALSE(signer.verify(std::string(10000, 'a'), 150));
  // Verified tokens are remembered by their text: a second use answers the same, expiry still applies, and
  // past the bound every token still verifies.
  auto again = signer.verify(token, 199);
  REQUIRE(again);
  CHECK(again->token_id == "t_1");
  CHECK_FALSE(signer.verify(token, 201));
  for (int i = 0; i < 20000; ++i) {
    node::token_claims many{"u_" + std::to_string(i), "u", domain::role::customer, "t" + std::to_string(i), 100, 200};
    auto issued = signer.issue(many);
    auto v = signer.verify(issued, 150);
    REQUIRE(v);
    REQUIRE(v->user_id == many.user_id);
  }
  CHECK(signer.verify(token, 150));
}

namespace {
node::token_claims token_of(const std::string& user, const std::string& id, int64_t issued, int64_t expires) {
  node::token_claims t;
  t.user_id = user;
  t.token_id = id;
  t.issued_at_s = issued;
  t.expires_at_s = expires;
  return t;
}
} // namespace

namespace {
/// What the user actor's end_session writes in the user's shard: the record every node loads at start.
void record_ended_session(store::entity_store& db, domain::shard_id shard, const node::token_claims& t) {
  store::write_batch b;
  b.put(store::column::indexes, domain::shard_prefix(shard) + actors::keys::ended_session(t.expires_at_s, t.token_id),
        codec::encode(domain::ended_session{t.user_id, t.token_id, t.issued_at_s, t.expires_at_s}));
  REQUIRE(db.commit(b));
}
} // namespace

TEST_CASE("revocation: a start loads the ended sessions recorded in every shard and skips expired ones", "[unit]") {
  test::temp_dir dir;
  auto live = token_of("u_1", "t_live", 5, 1000);
  auto old = token_of("u_1", "t_old", 4, 20);
  auto elsewhere = token_of("u_2", "t_other_shard", 6, 2000);
  auto legacy = token_of("u_3", "t_legacy", 7, 3000);
  {
    auto s = store::entity_store::open(store::store_options{dir / "db", false, 8u << 20});
    REQUIRE(s);
    record_ended_session(**s, 0, live);
    record_ended_session(**s, 0, old);
    record_ended_session(**s, 63, elsewhere);
    // A data dir of before: the node's own revocations in meta.
    store::write_batch b;
    b.put(store::column::meta, "revoked/t_legacy", "3000 u_3 7");
    REQUIRE((*s)->commit(b));
  }
  auto s = store::entity_store::open(store::store_options{dir / "db", false, 8u << 20});
  REQUIRE(s);
  node::revocation_list list(**s);
  CHECK_FALSE(list.is_revoked(live));
  REQUIRE(list.load(100));
  CHECK(list.is_revoked(live));
  CHECK(list.is_revoked(elsewhere));
  CHECK(list.is_revoked(legacy));
  CHECK_FALSE(list.is_revoked(old));
  CHECK_FALSE(list.is_revoked(token_of("u_1", "t_new", 50, 5000)));
  CHECK(list.size() == 3);
}

TEST_CASE("revocation: one user logging out in a loop holds a bounded number of entries", "[unit]") {
  // Before the bound, each logout added an entry kept for a whole token lifetime (a day by default).
  test::temp_dir dir;
  auto s = store::entity_store::open(store::store_options{dir / "db", false, 8u << 20});
  REQUIRE(s);
  {
    node::revocation_list list(**s, 8);
    for (int i = 0; i < 1000; ++i) {
      auto t = token_of("u_loop", "t" + std::to_string(i), 100 + i, 100 + i + 86400);
      list.revoke(t, 100 + i);
      record_ended_session(**s, static_cast<domain::shard_id>(i % 64), t);
    }
    CHECK(list.size() <= 9);
    // Every one of them is still revoked (folded ones by the user's watermark), and nobody else's token is.
    for (int i = 0; i < 1000; ++i)
      CHECK(list.is_revoked(token_of("u_loop", "t" + std::to_string(i), 100 + i, 100 + i + 86400)));
    CHECK_FALSE(list.is_revoked(token_of("u_other", "t5", 105, 86505)));
    CHECK_FALSE(list.is_revoked(token_of("u_loop", "t_new", 2000, 88400))); // a later login still works
    // An announcement seen twice (the local logout, then its shard's event) changes nothing.
    list.revoke(domain::ended_session{"u_loop", "t999", 1099, 87499}, 1200);
    CHECK(list.size() <= 9);
  }
  node::revocation_list reloaded(**s, 8);
  REQUIRE(reloaded.load(1200));
  CHECK(reloaded.size() <= 9);
  CHECK(reloaded.is_revoked(token_of("u_loop", "t3", 103, 86503)));
  CHECK(reloaded.is_revoked(token_of("u_loop", "t999", 1099, 87499)));
  CHECK_FALSE(reloaded.is_revoked(token_of("u_loop", "t_new", 2000, 88400)));
}

TEST_CASE("throttles: token bucket per address", "[unit]") {
  node::rate_limiter off(0);
  for (int i = 0; i < 100; ++i)
    CHECK(off.acquire("a", 0) == 0);
  node::rate_limiter limiter(2);
  CHECK(limiter.acquire("a", 0) == 0);
  CHECK(limiter.acquire("a", 0) == 0);
  CHECK(limiter.acquire("a", 0) > 0);
  CHECK(limiter.acquire("b", 0) == 0); // per address
  CHECK(limiter.acquire("a", 500) == 0); // refilled one token
}

TEST_CASE("logging: one JSON object per line with event name and fields", "[unit]") {
  auto line = node::format_log_line("t", "info", "n1", "order.placed order=o_1 error=disk \"full\" now");
  auto j = nlohmann::json::parse(line);
  CHECK(j["msg"] == "order.placed");
  CHECK(j["order"] == "o_1");
  CHECK(j["error"] == "disk \"full\" now");
  CHECK(j["node"] == "n1");
  auto bad_utf8 = node::format_log_line("t", "info", "n1", "user.login_failed user=\xff");
  CHECK(nlohmann::json::parse(bad_utf8)["msg"] == "user.login_failed");
}

TEST_CASE("openapi: docs/openapi.yaml documents exactly the routes the node serves", "[unit]") {
  const char* source = std::getenv("BENTO_SOURCE_DIR");
  std::ifstream in(std::string(source ? source : BENTO_SOURCE_DIR_DEFAULT) + "/docs/openapi.yaml");
  REQUIRE(in);
  const std::regex path_line(R"(^  (/\S*):\s*$)");
  const std::regex method_line(R"(^    (get|post|put|patch|delete):\s*$)");
  const std::regex parameter(R"(\{[a-z_]+\})");
  std::vector<std::string> documented;
  std::string path, line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, path_line)) {
      path = std::regex_replace(m[1].str(), parameter, "{}");
    } else if (!path.empty() && std::regex_match(line, m, method_line)) {
      auto method = m[1].str();
      std::transform(method.begin(), method.end(), method.begin(), ::toupper);
      documented.push_back(method + " " + path);
    } else if (!line.empty() && line[0] != ' ') {
      path.clear(); // a top-level key ends the paths section
    }
  }
  auto served = node::api_router::route_table();
  REQUIRE(served.size() > 10);
  std::sort(documented.begin(), documented.end());
  std::sort(served.begin(), served.end());
  CHECK(documented == served);
}
