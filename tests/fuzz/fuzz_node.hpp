#pragma once
// The real domain in one process for fuzz targets: an actor system, the local router, the catalog and order
// index, a RocksDB store in a temporary directory, the HTTP API router on top, and two signed-up users whose
// tokens inputs may use. No fake domain. Shared by the HTTP and the client-protocol targets.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "actors/catalog/catalog_actor.hpp"
#include "actors/common/entity_context.hpp"
#include "actors/order_index/order_index_actor.hpp"
#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"
#include "actors/store/store_layout.hpp"
#include "cluster/local_router.hpp"
#include "actors/user/login_guard.hpp"
#include "node/auth/revocation_list.hpp"
#include "node/auth/throttles.hpp"
#include "node/auth/token.hpp"
#include "node/domain_client.hpp"
#include "node/http/api_routes.hpp"
#include "node/http/request_reader.hpp"
#include "node/metrics/node_metrics.hpp"
#include "node/runtime.hpp"
#include "protocol/domain/calendar.hpp"
#include "tests/support/temp_dir.hpp"


namespace bento::fuzz {


[[noreturn]] inline void finding(const char* what, const node::http_request& req, const node::http_response& resp) {
  std::fprintf(stderr, "fuzz finding: %s: %s %s -> %d %s\n", what, req.method.c_str(), req.path.c_str(),
               resp.status, resp.body.substr(0, 300).c_str());
  std::abort();
}

struct fuzz_node {
  test::temp_dir dir;
  std::unique_ptr<store::entity_store> store;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  actors::entity_context ctx;
  node::node_runtime rt;
  std::unique_ptr<node::domain_client> domain;
  std::unique_ptr<store::shard_set> shards;
  std::unique_ptr<node::token_signer> tokens;
  std::unique_ptr<node::revocation_list> revocations;
  node::rate_limiter limiter{0};
  actors::local_login_guard logins;
  node::node_metrics metrics;
  std::atomic<bool> ready{true};
  std::unique_ptr<node::api_router> api;
  std::string customer_token, merchant_token;

  fuzz_node() {
    spdlog::set_level(spdlog::level::warn); // a log line per restaurant created would drown the findings
    if (sodium_init() < 0 || !domain::set_time_zone("Asia/Taipei"))
      std::abort();
    auto opened = store::entity_store::open(store::store_options{dir / "db", false, 8u << 20});
    if (!opened)
      std::abort();
    store = std::move(*opened);
    if (!actors::ensure_store_layout(*store))
      std::abort();
    shards = std::make_unique<store::shard_set>(*store);
    cfg.set("scheduler.max-threads", size_t{2});
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    actors::hash_settings cheap{1, 8u << 20};
    ctx.shards = shards.get();
    ctx.hasher = actors::spawn_hasher_pool(*sys, 2, cheap);
    ctx.gate = std::make_shared<actors::hash_gate>();
    ctx.dummy_hash = *actors::hash_password("dummy", cheap);
    rt.system = sys.get();
    rt.store = store.get();
    rt.catalog = actors::spawn_catalog_actor(*sys, store.get());
    auto catalog = rt.catalog;
    store->set_event_listener([catalog](const domain::event& ev) {
      if (ev.type.rfind("menu.", 0) == 0 || ev.type.rfind("stock.", 0) == 0 || ev.type.rfind("restaurant.", 0) == 0)
        caf::anon_send(catalog, ev);
    });
    rt.router = cluster::spawn_local_router(*sys, ctx);
    rt.order_index = actors::spawn_order_index_actor(*sys, store.get());
    domain = std::make_unique<node::domain_client>(rt, std::chrono::milliseconds(10000));
    tokens = std::make_unique<node::token_signer>(std::string(32, 'k'));
    revocations = std::make_unique<node::revocation_list>(*store);
    node::api_dependencies deps;
    deps.domain = domain.get();
    deps.tokens = tokens.get();
    deps.revocations = revocations.get();
    deps.limiter = &limiter;
    deps.logins = &logins;
    deps.metrics = &metrics;
    deps.store = store.get();
    deps.open_connections = [] { return uint64_t{1}; };
    deps.requests_in_flight = [] { return uint64_t{1}; };
    deps.password_ops_in_flight = [gate = ctx.gate] { return static_cast<uint64_t>(gate->in_flight()); };
    deps.ready = &ready;
    api = std::make_unique<node::api_router>(deps);
    customer_token = sign_up("fuzzcustomer", "customer");
    merchant_token = sign_up("fuzzmerchant", "merchant");
  }

  std::string sign_up(const std::string& name, const std::string& role) {
    nlohmann::json body = {{"username", name}, {"password", "correct horse"}, {"email", name + "@example.com"},
                           {"role", role}, {"place", "taipei"}};
    node::http_request reg;
    reg.method = "POST";
    reg.path = "/api/v1/users";
    reg.body = body.dump();
    reg.client_address = "127.0.0.1";
    call(reg);
    node::http_request login = reg;
    login.path = "/api/v1/sessions";
    login.body = nlohmann::json{{"username", name}, {"password", "correct horse"}}.dump();
    auto resp = call(login);
    auto j = nlohmann::json::parse(resp.body, nullptr, false);
    if (resp.status != 201 || !j.is_object())
      std::abort();
    return j["token"].get<std::string>();
  }

  /// One request through the router; waits (bounded) for its answer and checks the invariants.
  node::http_response call(node::http_request req) {
    struct waiter {
      std::mutex mutex;
      std::condition_variable cv;
      bool done = false;
      node::http_response resp;
    };
    auto w = std::make_shared<waiter>();
    auto copy = req;
    api->handle(std::move(req), [w](node::http_response resp) {
      std::lock_guard lock(w->mutex);
      w->resp = std::move(resp);
      w->done = true;
      w->cv.notify_all();
    });
    std::unique_lock lock(w->mutex);
    if (!w->cv.wait_for(lock, std::chrono::seconds(20), [&] { return w->done; }))
      finding("no answer within 20 s", copy, w->resp);
    auto& r = w->resp;
    if (r.status >= 500 && r.status != 503 && r.status != 504)
      finding("5xx answer", copy, r);
    if (r.status >= 400) {
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (!j.is_object() || !j.contains("error") || !j["error"].is_string() || !j.contains("message"))
        finding("error answer without a JSON error body", copy, r);
    }
    return r;
  }

  void shutdown() {
    domain->stop();
    caf::anon_send_exit(rt.router, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(rt.catalog, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(rt.order_index, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx.hasher, caf::exit_reason::user_shutdown);
    sys->await_all_actors_done();
    store->set_event_listener(nullptr);
  }
};


} // namespace bento::fuzz
