// bento-node: one member of a Bento deployment (for now: a single node). The one place that reads the
// configuration, opens the store, spawns and wires the actors and starts the edges.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "actors/catalog/catalog_actor.hpp"
#include "actors/catalog/catalog_state.hpp"
#include "actors/common/actor_scheduler.hpp"
#include "actors/common/entity_context.hpp"
#include "actors/catalog/page_board.hpp"
#include "actors/restaurant/menu_board.hpp"
#include "node/allocator.hpp"
#include "actors/order/order_recovery.hpp"
#include "actors/order_index/order_index_actor.hpp"
#include "actors/order_index/order_index_writes.hpp"
#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"
#include "actors/store/store_layout.hpp"
#include "cluster/local_router.hpp"
#include "actors/user/login_guard.hpp"
#include "cluster/cluster_meta.hpp"
#include "node/auth/revocation_list.hpp"
#include "node/auth/throttles.hpp"
#include "node/auth/token.hpp"
#include "node/domain_client.hpp"
#include "node/http/api_routes.hpp"
#include "node/api/api_service.hpp"
#include "node/client_edge/client_dispatch.hpp"
#include "node/client_edge/client_server.hpp"
#include "node/http/http_server.hpp"
#include "node/logging.hpp"
#include "node/metrics/node_metrics.hpp"
#include "node/node_config.hpp"
#include "node/runtime.hpp"
#include "node/cluster_runtime.hpp"
#include "node/node_identity.hpp"
#include "node/secret_file.hpp"
#include "node/data_dir.hpp"
#include "protocol/domain/calendar.hpp"

namespace {

using namespace bento;

constexpr int exit_config = 2;
constexpr int exit_runtime = 1;

/// Connections and RocksDB files share the descriptor limit, whose soft value is often 1024: use the hard one.
uint64_t raise_file_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    auto wanted = rl;
    wanted.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &wanted) == 0)
      rl = wanted;
  }
  return static_cast<uint64_t>(rl.rlim_cur);
}

void print_help() {
  std::printf("bento-node: a Bento node. Configuration comes only from the environment:\n\n");
  for (auto& o : node::option_docs())
    std::printf("  %-26s %s (default: %s)\n", o.name.c_str(), o.description.c_str(),
                o.default_value.empty() ? "-" : o.default_value.c_str());
}

int run(const node::node_config& cfg, sigset_t signals) {
  auto file_limit = raise_file_limit();
  // Password hashes, e-mails and orders: everything the node creates is readable by its owner only.
  if (auto prepared = node::prepare_data_dir(cfg.data_dir); !prepared) {
    spdlog::critical("node.start_failed reason=data_dir path={} error={}", cfg.data_dir, prepared.error().message);
    return exit_runtime;
  }
  auto secret = cfg.secret;
  if (secret.empty() && !cfg.cluster_secret.empty()) {
    secret = node::derive_token_secret(cfg.cluster_secret);
  } else if (secret.empty()) {
    auto loaded = node::load_or_create_secret(cfg.data_dir);
    if (!loaded) {
      spdlog::critical("node.start_failed reason=secret error={}", loaded.error().message);
      return exit_runtime;
    }
    secret = *loaded;
  }

  store::store_options so;
  so.path = cfg.data_dir + "/db";
  so.sync_writes = cfg.sync_writes;
  so.shards = cfg.shards;
  auto opened = store::entity_store::open(so);
  if (!opened) {
    spdlog::critical("node.start_failed reason=store path={} error={}", so.path, opened.error().message);
    return exit_runtime;
  }
  auto store = std::move(*opened);
  if (auto layout = actors::ensure_store_layout(*store); !layout) {
    spdlog::critical("node.start_failed reason=store_layout error={}", layout.error().message);
    return layout.error().code == domain::errc::invalid_argument ? exit_config : exit_runtime;
  }
  // The node's id is part of every replication group it founded: it is fixed with the data dir.
  auto node_id = node::settle_node_id(*store, cfg.node_id, cfg.node_id_given);
  if (!node_id) {
    spdlog::critical("node.start_failed reason=node_id error={}", node_id.error().message);
    return exit_config;
  }
  store::shard_set shards(*store);
  node::revocation_list revocations(*store);
  if (auto loaded = revocations.load(domain::now_ms() / 1000); !loaded) {
    spdlog::critical("node.start_failed reason=revocations error={}", loaded.error().message);
    return exit_runtime;
  }

  if (auto indexed = actors::ensure_status_index(shards); !indexed) {
    spdlog::critical("node.start_failed reason=order_index error={}", indexed.error().message);
    return exit_runtime;
  }

  auto interrupted = actors::interrupted_orders(*store);
  if (!interrupted) {
    spdlog::critical("node.start_failed reason=recovery_sweep error={}", interrupted.error().message);
    return exit_runtime;
  }

  actors::hash_settings hs;
  hs.ops_limit = cfg.argon2_ops;
  hs.mem_limit_bytes = static_cast<size_t>(cfg.argon2_mem_kib) * 1024;
  // Before any actor exists: returning from inside the actor system's scope would wait for actors forever.
  auto dummy = actors::hash_password("bento dummy password for unknown users", hs);
  if (!dummy) {
    spdlog::critical("node.start_failed reason=argon2 error={}", dummy.error().message);
    return exit_runtime;
  }

  caf::actor_system_config caf_cfg;
  caf_cfg.set("scheduler.max-threads", static_cast<size_t>(cfg.scheduler_threads));
  // Work sharing by default: CAF's work-stealing workers poll (50 us sleeps) after every burst of work, which on
  // a small machine costs the CPU the requests need: an idle 3-node cluster took 31 % of a core (8.6 % sharing),
  // and the lunch rush ran faster on sharing (bench/lunch_rush.py; figures in bench/README.md).
  // CAF's coordinator with a clock that does not wake its thread for every request timeout (actor_scheduler.hpp).
  actors::use_node_scheduler(caf_cfg, cfg.scheduler_policy);
  caf_cfg.set("logger.verbosity", caf::atom("quiet"));
  // Every shard is a replication group: alone, one voter (this node) per shard; with BENTO_SEEDS, the groups
  // placed over the members. Entities commit through their shard's replica.
  node::cluster_runtime cluster_rt(cfg, *node_id);
  if (auto prepared = cluster_rt.prepare(caf_cfg); !prepared) {
    spdlog::critical("node.start_failed reason=cluster error={}", prepared.error().message);
    return exit_runtime;
  }
  int exit_code = 0;
  // Failed-login counts: consulted by the edge and by user actors, so it outlives the actor system.
  actors::login_guard_policy login_policy;
  login_policy.base_lockout_ms = cfg.login_lockout_ms;
  actors::local_login_guard logins(login_policy);
  {
    caf::actor_system sys{caf_cfg};
    // Formation may wait for seeds for a long time: a stop signal ends that wait (and the node) cleanly.
    bool stopped_forming = false;
    auto stop_asked = [&signals, &stopped_forming] {
      timespec now{0, 0};
      return stopped_forming = sigtimedwait(&signals, nullptr, &now) > 0;
    };
    if (auto started = cluster_rt.start(sys, shards, stop_asked); !started) {
      cluster_rt.stop();
      if (stopped_forming) {
        spdlog::info("node.stopped during=cluster_formation");
        return 0;
      }
      spdlog::critical("node.start_failed reason=cluster error={}", started.error().message);
      return started.error().code == domain::errc::invalid_argument ? exit_config : exit_runtime;
    }

    actors::entity_context ctx;
    ctx.shards = &shards;
    ctx.hasher = actors::spawn_hasher_pool(sys, cfg.hash_workers, hs);
    ctx.idle_ticker = actors::spawn_idle_ticker(sys);
    ctx.gate = std::make_shared<actors::hash_gate>();
    ctx.logins = &logins;
    ctx.gate->limit = static_cast<int>(cfg.hash_workers) * 32;
    ctx.gate->per_address_limit = std::max(1, ctx.gate->limit / 8);
    ctx.gate->per_user_limit = std::max(1, std::min(4, ctx.gate->limit / 16));
    ctx.dummy_hash = *dummy;
    ctx.idle_timeout = std::chrono::seconds(cfg.idle_passivate_s);
    ctx.empty_idle_timeout = std::min(ctx.idle_timeout, std::chrono::milliseconds(10'000));
    ctx.call_timeout = std::chrono::milliseconds(cfg.request_timeout_ms / 2);
    ctx.max_active_entities = cfg.max_active_entities;
    ctx.max_restaurants_per_merchant = cfg.max_restaurants_per_merchant;
    ctx.serves = cluster_rt.serves();
    ctx.menus = std::make_shared<actors::menu_board>(std::function<int64_t()>{}, ctx.serves);
    ctx.router = cluster_rt.front(sys); // entities reach other entities through it (null alone: the local router)
    // The cluster's member-state record: written where its shard is led, read everywhere.
    auto meta_shard = cluster_rt.metadata_shard();
    ctx.cluster_meta = cluster::spawn_cluster_meta(
      sys, cluster::cluster_meta_options{&shards.of(meta_shard), [serves = ctx.serves, meta_shard] { return serves(meta_shard); },
                                         cluster_rt.members(), cluster_rt.replicas()});

    node::node_runtime rt;
    rt.system = &sys;
    rt.store = store.get();
    rt.menus = ctx.menus;
    rt.shard_count = shards.count();
    // The catalog reads new events from the store itself; an event sent to it is only an announcement, and
    // one outstanding announcement is enough (every order sends stock events: one message each was measurable).
    auto announced = std::make_shared<std::atomic<bool>>(false);
    actors::catalog_options catalog_opts;
    catalog_opts.event_retention_s = cfg.event_retention_s;
    // Often enough that what goes is a small batch, rarely enough to cost nothing (one seek per shard).
    catalog_opts.prune_every_ms = static_cast<uint32_t>(std::clamp<uint64_t>(uint64_t{cfg.event_retention_s} * 100, 1000, 60000));
    catalog_opts.board = std::make_shared<actors::page_board>(announced);
    rt.pages = catalog_opts.board;
    rt.catalog = actors::spawn_catalog_actor(sys, store.get(), announced, catalog_opts);
    auto catalog = rt.catalog;
    // Ended sessions reach the revocation list as their shard's entries are applied here (leader, follower or
    // learner alike), so a logout through any node holds on this one.
    store->set_event_listener([catalog, announced, &revocations, &cluster_rt, meta_shard](const domain::event& ev) {
      if (actors::catalog_event(ev.type)) {
        if (!announced->exchange(true))
          caf::anon_send(catalog, domain::event{ev.seq, ev.type, {}, ev.at_ms, {}, {}, ev.shard});
      } else if (auto* ended = std::get_if<domain::ended_session>(&ev.payload)) {
        revocations.revoke(*ended, domain::now_ms() / 1000);
      }
      if (ev.type == "restaurant.snapshot_installed") {
        // A snapshot brings a shard's records without their events: read its ended sessions.
        if (auto loaded = revocations.load_shard(ev.shard, domain::now_ms() / 1000); !loaded)
          spdlog::error("revocations.load_failed shard={} error={}", ev.shard, loaded.error().message);
      }
      if (ev.shard == meta_shard && (ev.type == "cluster.members_changed" || ev.type == "restaurant.snapshot_installed"))
        cluster_rt.reload_member_states();
    });
    cluster_rt.run_metadata(ctx.cluster_meta);
    auto local_router = cluster::spawn_local_router(sys, ctx);
    rt.router = cluster_rt.attach(local_router);
    rt.local_router = local_router;
    rt.serves = ctx.serves;
    // A node joining a running cluster serves once the cluster has admitted it.
    bool admitted = true;
    if (auto joined = cluster_rt.join(sys, stop_asked); !joined) {
      admitted = false;
      spdlog::info("node.stopped during=cluster_join reason={}", joined.error().message);
    }
    // Alone, every shard is served from the start: wake the orders a crash interrupted. In a cluster the
    // router does it for each shard as this node starts serving it.
    if (!cluster_rt.clustered()) {
      for (auto& id : *interrupted)
        caf::anon_send(rt.router, actors::wake_atom::value, id);
      if (!interrupted->empty())
        spdlog::warn("node.recovering_orders count={}", interrupted->size());
    }
    actors::order_index_options listing;
    listing.workers = cfg.listing_workers;
    listing.queue.max_queued = cfg.listing_queue;
    rt.order_index = actors::spawn_order_index_actor(sys, store.get(), listing);

    node::domain_client domain(rt, std::chrono::milliseconds(cfg.request_timeout_ms));
    node::token_signer tokens(secret);
    node::rate_limiter limiter(cfg.rate_limit);
    node::node_metrics metrics;
    std::atomic<bool> ready{false};

    node::http_server_options ho;
    ho.bind = cfg.bind;
    ho.port = cfg.http_port;
    ho.threads = cfg.http_threads;
    ho.max_connections = cfg.max_connections;
    ho.max_connections_per_address = cfg.max_connections_per_address;
    ho.proxies = *node::trusted_proxies::parse(cfg.trusted_proxies); // validated by load_config
    node::http_server* server_ptr = nullptr;
    node::client_server* client_ptr = nullptr;
    node::api_dependencies deps;
    deps.domain = &domain;
    deps.tokens = &tokens;
    deps.revocations = &revocations;
    deps.limiter = &limiter;
    deps.logins = &logins;
    deps.metrics = &metrics;
    deps.store = store.get();
    deps.open_connections = [&server_ptr] { return server_ptr ? server_ptr->open_connections() : 0; };
    deps.requests_in_flight = [&server_ptr] { return server_ptr ? server_ptr->requests_in_flight() : 0; };
    deps.password_ops_in_flight = [gate = ctx.gate] { return static_cast<uint64_t>(std::max(0, gate->in_flight())); };
    deps.extra_gauges = {
      {"shed_idle_connections", [&server_ptr] { return server_ptr ? server_ptr->shed_connections() : 0; }},
      {"refused_connections", [&server_ptr] { return server_ptr ? server_ptr->refused_connections() : 0; }},
      {"login_guard_entries", [&logins] { return static_cast<uint64_t>(logins.size()); }},
      {"menu_board_hits", [menus = ctx.menus] { return menus->hits(); }},
      {"page_board_hits", [pages = rt.pages] { return pages->hits(); }},
      // The allocator's view of the heap: RSS less this is what the allocator holds unused or the store maps.
      {"allocator_allocated_bytes", [] { return static_cast<uint64_t>(node::allocator_stats()["allocated_bytes"]); }},
      {"allocator_resident_bytes", [] { return static_cast<uint64_t>(node::allocator_stats()["resident_bytes"]); }},
      {"menu_board_misses", [menus = ctx.menus] { return menus->misses(); }},
      {"menu_board_restaurants", [menus = ctx.menus] { return static_cast<uint64_t>(menus->restaurants()); }},
      {"client_connections", [&client_ptr] { return client_ptr ? client_ptr->stats().open_connections : 0; }},
      {"client_requests_in_flight", [&client_ptr] { return client_ptr ? client_ptr->stats().requests_in_flight : 0; }},
      {"client_requests", [&client_ptr] { return client_ptr ? client_ptr->stats().requests : 0; }},
      {"client_protocol_errors", [&client_ptr] { return client_ptr ? client_ptr->stats().protocol_errors : 0; }},
      {"client_timeouts", [&client_ptr] { return client_ptr ? client_ptr->stats().timeouts : 0; }},
      {"client_refused_connections", [&client_ptr] { return client_ptr ? client_ptr->stats().refused_connections : 0; }},
    };
    deps.cluster_view = [&cluster_rt](const std::string& entity) { return cluster_rt.status_json(entity); };
    deps.cluster_gauges = [&cluster_rt] { return cluster_rt.gauges(); };
    deps.metrics_token = cfg.metrics_token;
    deps.admin_token = cfg.admin_token;
    deps.ready = &ready;
    deps.token_ttl_s = cfg.token_ttl_s;
    node::api_router api(deps);
    node::http_server server(ho, [&api](node::http_request req, node::http_responder done) {
      api.handle(std::move(req), std::move(done));
    });
    server_ptr = &server;
    // The binary client protocol: the same service and door as HTTP, another encoding.
    node::api_service client_service({&domain, &tokens, &revocations, &logins, cfg.token_ttl_s, cfg.admin_token});
    node::client_dispatch_dependencies cdeps;
    cdeps.service = &client_service;
    cdeps.node_id = *node_id;
    cdeps.clustered = cluster_rt.clustered();
    cdeps.status = [&cluster_rt] { return cluster_rt.status(); };
    cdeps.shard_map = [&cluster_rt] { return cluster_rt.shard_map(); };
    cdeps.route = [&cluster_rt](const std::string& key) { return cluster_rt.route_of(key); };
    cdeps.limiter = &limiter;
    cdeps.metrics_token = cfg.metrics_token;
    node::client_dispatch client_dispatch(cdeps);
    node::client_server_options co;
    co.bind = cfg.bind;
    co.port = cfg.client_port;
    co.max_connections = cfg.max_connections;
    co.max_connections_per_address = cfg.max_connections_per_address;
    co.buffer_bytes = uint64_t{cfg.client_buffer_mib} << 20;
    co.max_frame_bytes = cfg.client_frame_max_bytes;
    co.max_in_flight = cfg.client_max_in_flight;
    co.idle_timeout_ms = cfg.client_idle_s * 1000;
    co.io_timeout_ms = cfg.client_io_timeout_ms;
    co.node_id = *node_id;
    node::client_server client_edge(co, client_dispatch);
    client_ptr = &client_edge;
    // Ready before the first connection is accepted: the domain is up, and a probe that arrives between the
    // listener opening and this line must not be told "starting" (a flaky readiness check under load).
    ready = admitted;
    if (!admitted) {
      // Stopped while waiting to be admitted: nothing was served; shut down below.
    } else if (auto client_started = client_edge.start(); !client_started) {
      // Before HTTP: whoever sees /healthz answer may use the client port at once.
      ready = false;
      spdlog::critical("node.start_failed reason=client_port error={}", client_started.error().message);
      exit_code = exit_runtime;
    } else if (auto started = server.start(); !started) {
      ready = false;
      spdlog::critical("node.start_failed reason=http error={}", started.error().message);
      client_edge.stop(0);
      exit_code = exit_runtime;
    } else {
      spdlog::info("node.started http=http://{}:{} client_port={} data_dir={} tz={} rate_limit={} sync_writes={} "
                   "file_limit={} allocator={}",
                   cfg.bind, cfg.http_port, cfg.client_port, cfg.data_dir, cfg.time_zone, cfg.rate_limit,
                   cfg.sync_writes, file_limit, node::allocator_name());
      int sig = 0;
      sigwait(&signals, &sig);
      spdlog::info("node.stopping signal={}", sig);
      ready = false;
      // Stop accepting, let in-flight requests finish (the domain answers within its request timeout).
      // Both edges drain at once: each stops taking requests now and answers what it took.
      std::thread client_drain([&client_edge] { client_edge.stop(8000); });
      server.stop(8000);
      client_drain.join();
    }
    domain.stop();
    // Links, heartbeats and the replicas' driver first (their actors and threads end here), then the routers.
    cluster_rt.stop();
    if (rt.router != local_router)
      caf::anon_send_exit(rt.router, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(local_router, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(rt.catalog, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(rt.order_index, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx.hasher, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx.idle_ticker, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx.cluster_meta, caf::exit_reason::user_shutdown);
    // The router stops the entities it knows. Until every actor is done, entities may still commit and so
    // call the store's event listener: replacing it before then raced with those calls (a rare abort at exit).
    sys.await_all_actors_done();
    store->set_event_listener(nullptr);
    ctx = actors::entity_context{};
  }
  store->close();
  spdlog::info("node.stopped");
  return exit_code;
}

} // namespace

int main(int argc, char** argv) {
  // Before anything is created: files and directories the node (and RocksDB) makes are owner-only.
  ::umask(077);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      print_help();
      return 0;
    }
    std::fprintf(stderr, "bento-node takes no arguments (configuration is BENTO_* environment variables); "
                         "see --help\n");
    return exit_config;
  }
  auto cfg = node::load_config([](const char* name) { return std::getenv(name); });
  if (!cfg) {
    std::fprintf(stderr, "bento-node: invalid configuration: %s\n", cfg.error().message.c_str());
    return exit_config;
  }
  if (!domain::set_time_zone(cfg->time_zone)) {
    std::fprintf(stderr, "bento-node: invalid configuration: BENTO_TZ='%s' is not a known time zone\n",
                 cfg->time_zone.c_str());
    return exit_config;
  }
  node::init_logging(cfg->node_id, cfg->log_level);
  if (sodium_init() < 0) {
    spdlog::critical("node.start_failed reason=libsodium");
    return exit_runtime;
  }
  // Block the stop signals before any thread starts so that only sigwait() sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return run(*cfg, signals);
}
