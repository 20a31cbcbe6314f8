#include "node/node_config.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "cluster/transport/node_address.hpp"
#include "node/http/client_address.hpp"

namespace bento::node {

namespace {

using domain::errc;
using domain::fail;

struct reader {
  const env_lookup& getenv;
  std::vector<std::string> errors;

  const char* raw(const char* name) {
    auto v = getenv(name);
    return v && *v ? v : nullptr;
  }

  void text(const char* name, std::string& out, size_t max_len) {
    if (auto v = raw(name)) {
      std::string s(v);
      if (s.size() > max_len)
        errors.push_back(std::string(name) + " is longer than " + std::to_string(max_len) + " characters");
      else
        out = s;
    }
  }

  template <class Int>
  void integer(const char* name, Int& out, long long min, long long max) {
    auto v = raw(name);
    if (!v)
      return;
    char* end = nullptr;
    errno = 0;
    long long parsed = std::strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || parsed < min || parsed > max) {
      errors.push_back(std::string(name) + "='" + v + "' must be an integer in [" + std::to_string(min) + ", "
                       + std::to_string(max) + "]");
      return;
    }
    out = static_cast<Int>(parsed);
  }

  void boolean(const char* name, bool& out) {
    auto v = raw(name);
    if (!v)
      return;
    std::string s(v);
    if (s == "1" || s == "true" || s == "yes" || s == "on")
      out = true;
    else if (s == "0" || s == "false" || s == "no" || s == "off")
      out = false;
    else
      errors.push_back(std::string(name) + "='" + s + "' must be 1/0, true/false, yes/no or on/off");
  }
};

bool wildcard_address(const std::string& s) {
  return s == "0.0.0.0" || s == "::" || s == "[::]";
}

// "a:1, b:2" -> {"a:1", "b:2"}; each must be host:port.
void parse_seeds(const std::string& text, std::vector<std::string>& out, std::vector<std::string>& errors) {
  size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto first = item.find_first_not_of(" \t");
    auto last = item.find_last_not_of(" \t");
    item = first == std::string::npos ? std::string{} : item.substr(first, last - first + 1);
    if (item.empty())
      errors.push_back("BENTO_SEEDS has an empty entry (write host:port,host:port)");
    else if (!cluster::transport::parse_address(item))
      errors.push_back("BENTO_SEEDS entry '" + item + "' is not host:port");
    else if (std::find(out.begin(), out.end(), item) == out.end())
      out.push_back(item);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  if (out.size() > 64)
    errors.push_back("BENTO_SEEDS names more than 64 nodes");
}

bool plausible_bind_address(const std::string& s) {
  if (s.empty() || s.size() > 253)
    return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == ':' || c == '-'))
      return false;
  return true;
}

void load_cluster(reader& r, node_config& cfg) {
  std::string seeds;
  r.text("BENTO_SEEDS", seeds, 16384);
  if (!seeds.empty())
    parse_seeds(seeds, cfg.seeds, r.errors);
  r.text("BENTO_CLUSTER_SECRET", cfg.cluster_secret, 4096);
  if (!cfg.cluster_secret.empty() && cfg.cluster_secret.size() < 16)
    r.errors.push_back("BENTO_CLUSTER_SECRET must be at least 16 characters");
  if (!cfg.cluster_secret.empty() && cfg.cluster_secret == cfg.secret)
    r.errors.push_back("BENTO_CLUSTER_SECRET must differ from BENTO_SECRET (one leaked key must not open both)");
  if (!cfg.seeds.empty() && cfg.cluster_secret.empty())
    r.errors.push_back("BENTO_SEEDS is set: BENTO_CLUSTER_SECRET is required (the same on every node)");

  r.text("BENTO_CLUSTER_ADVERTISE", cfg.cluster_advertise, 300);
  if (!cfg.cluster_advertise.empty() && !cluster::transport::parse_address(cfg.cluster_advertise))
    r.errors.push_back("BENTO_CLUSTER_ADVERTISE='" + cfg.cluster_advertise + "' is not host:port");
  if (cfg.cluster_advertise.empty()) {
    if (!wildcard_address(cfg.bind)) {
      cfg.cluster_advertise = cluster::transport::to_string({cfg.bind, cfg.cluster_port});
    } else if (!cfg.seeds.empty()) {
      r.errors.push_back("BENTO_BIND is " + cfg.bind + ": set BENTO_CLUSTER_ADVERTISE to the host:port other nodes "
                         "dial to reach this one");
    } else {
      char host[HOST_NAME_MAX + 1] = {0};
      ::gethostname(host, sizeof host - 1);
      cfg.cluster_advertise = std::string(host) + ":" + std::to_string(cfg.cluster_port);
      if (!cluster::transport::parse_address(cfg.cluster_advertise))
        cfg.cluster_advertise.clear();
    }
  }

  // What clients dial for this node's client port: told to SDKs in shard maps, so it must be reachable by them.
  r.text("BENTO_CLIENT_ADVERTISE", cfg.client_advertise, 300);
  if (!cfg.client_advertise.empty() && !cluster::transport::parse_address(cfg.client_advertise))
    r.errors.push_back("BENTO_CLIENT_ADVERTISE='" + cfg.client_advertise + "' is not host:port");
  if (cfg.client_advertise.empty() && !cfg.cluster_advertise.empty())
    if (auto a = cluster::transport::parse_address(cfg.cluster_advertise))
      cfg.client_advertise = cluster::transport::to_string({a->host, cfg.client_port});

  r.text("BENTO_TLS_CERT", cfg.tls_cert, 4096);
  r.text("BENTO_TLS_KEY", cfg.tls_key, 4096);
  r.text("BENTO_TLS_CA", cfg.tls_ca, 4096);
  int tls_set = !cfg.tls_cert.empty() + !cfg.tls_key.empty() + !cfg.tls_ca.empty();
  if (tls_set != 0 && tls_set != 3) {
    std::string missing;
    for (auto [name, value] : {std::pair{"BENTO_TLS_CERT", &cfg.tls_cert}, std::pair{"BENTO_TLS_KEY", &cfg.tls_key},
                               std::pair{"BENTO_TLS_CA", &cfg.tls_ca}})
      if (value->empty())
        missing += (missing.empty() ? "" : ", ") + std::string(name);
    // Never a silent downgrade: with only some of them CAF would run anonymous, unauthenticated TLS.
    r.errors.push_back("BENTO_TLS_CERT, BENTO_TLS_KEY and BENTO_TLS_CA go together; missing: " + missing);
  }

  r.integer("BENTO_HEARTBEAT_MS", cfg.heartbeat_ms, 10, 10000);
  r.integer("BENTO_SUSPECT_MS", cfg.suspect_ms, 20, 600000);
  r.integer("BENTO_DOWN_MS", cfg.down_ms, 30, 3600000);
  if (cfg.suspect_ms < 2 * cfg.heartbeat_ms)
    r.errors.push_back("BENTO_SUSPECT_MS (" + std::to_string(cfg.suspect_ms) + ") must be at least twice "
                       "BENTO_HEARTBEAT_MS (" + std::to_string(cfg.heartbeat_ms) + "): one late heartbeat must not "
                       "make a peer suspect");
  if (cfg.down_ms <= cfg.suspect_ms)
    r.errors.push_back("BENTO_DOWN_MS (" + std::to_string(cfg.down_ms) + ") must be more than BENTO_SUSPECT_MS ("
                       + std::to_string(cfg.suspect_ms) + ")");
  r.integer("BENTO_PEER_FRAME_MAX_BYTES", cfg.peer_frame_max_bytes, 65536, 268435456);
}

} // namespace

const std::vector<option_doc>& option_docs() {
  static const std::vector<option_doc> docs = {
    {"BENTO_BIND", "address the HTTP, client and cluster ports bind to", "127.0.0.1"},
    {"BENTO_HTTP_PORT", "HTTP/JSON API port (1-65535)", "8080"},
    {"BENTO_CLIENT_PORT", "binary client protocol port (1-65535)", "7410"},
    {"BENTO_CLUSTER_PORT", "cluster port for peer nodes (1-65535)", "4710"},
    {"BENTO_DATA_DIR", "RocksDB data directory (created if missing)", "./data"},
    {"BENTO_NODE_ID", "node name in logs and cluster membership", "host name"},
    {"BENTO_LOG_LEVEL", "trace|debug|info|warn|error|critical|off", "info"},
    {"BENTO_SECRET", "token signing key, at least 32 characters; unset: derived from BENTO_CLUSTER_SECRET in a "
                     "cluster (every node verifies every token), else generated and kept in the data dir", ""},
    {"BENTO_TZ", "IANA time zone for 'today' and meal slots", "Asia/Taipei"},
    {"BENTO_RATE_LIMIT", "requests/s per client address with equal burst; 0 = off", "0"},
    {"BENTO_SYNC_WRITES", "answer only after the write-ahead log is fsynced (power-loss safety; fsyncs are shared)",
     "0"},
    {"BENTO_HTTP_THREADS", "HTTP I/O threads (1-64)", "a quarter of the usable CPUs, at least 1"},
    {"BENTO_SCHEDULER_THREADS", "actor scheduler threads (1-256)", "half the usable CPUs, at least 1"},
    {"BENTO_SCHEDULER_POLICY", "actor scheduler: sharing (one shared queue; idle workers block) or stealing (work "
                               "stealing; idle workers poll)", "sharing"},
    {"BENTO_HASH_WORKERS", "password hashing threads (1-64)", "2"},
    {"BENTO_ARGON2_OPS", "Argon2id passes (1-10)", "2"},
    {"BENTO_ARGON2_MEM_KIB", "Argon2id memory in KiB (8192-1048576)", "65536"},
    {"BENTO_TOKEN_TTL_S", "session token lifetime in seconds (60-2592000)", "86400"},
    {"BENTO_LOGIN_LOCKOUT_MS", "first lockout after repeated failed logins (doubles per further failure)", "1000"},
    {"BENTO_REQUEST_TIMEOUT_MS", "time an edge waits for the domain (100-120000)", "10000"},
    {"BENTO_IDLE_PASSIVATE_S", "idle seconds before an entity actor is passivated (1-86400)", "300"},
    {"BENTO_MAX_CONNECTIONS", "concurrent HTTP connections (1-1000000)", "10000"},
    {"BENTO_MAX_CONNECTIONS_PER_ADDRESS", "concurrent HTTP connections from one client address, an IPv6 /64 "
                                          "counting as one (1-1000000; trusted proxies are exempt); at the total "
                                          "cap the longest-idle connection is closed for a new one",
     "BENTO_MAX_CONNECTIONS / 10"},
    {"BENTO_TRUSTED_PROXIES", "comma-separated IPv4/IPv6 addresses or CIDR ranges of reverse proxies: only for "
                              "these peers is the client address taken from X-Forwarded-For (rightmost "
                              "address that is not a trusted proxy)", ""},
    {"BENTO_METRICS_TOKEN", "when set (16-4096 characters), GET /metrics requires 'Authorization: Bearer <token>'",
     ""},
    {"BENTO_SHARDS", "shards the key space is split into (1-4096); fixed when the data dir is formed", "64"},
    {"BENTO_REPLICAS", "replicas of each shard (1-7), capped by the number of members when the cluster forms", "3"},
    {"BENTO_CLIENT_ADVERTISE", "host:port clients reach this node's client port at (in shard maps)",
     "host of BENTO_CLUSTER_ADVERTISE, BENTO_CLIENT_PORT"},
    {"BENTO_CLIENT_FRAME_MAX_BYTES", "largest client-protocol frame (4096-67108864)", "1048576"},
    {"BENTO_CLIENT_MAX_IN_FLIGHT", "unanswered client requests per connection before it is not read (1-65536)",
     "128"},
    {"BENTO_CLIENT_BUFFER_MIB", "MiB of answers all client connections may hold or expect before the node stops "
                                "reading requests (16-65536)", "256"},
    {"BENTO_CLIENT_IDLE_S", "idle client connections are closed after this (1-86400)", "300"},
    {"BENTO_CLIENT_IO_TIMEOUT_MS", "a client frame must arrive, and a reply be written, within this (100-600000)",
     "10000"},
    {"BENTO_EVENT_RETENTION_S", "seconds the change feed (events column) keeps an event once this node's read "
                                "models applied it (0 = forever; disk then grows with every write)", "3600"},
    {"BENTO_REPLACE_AFTER_S", "a member down this long has its shard seats moved to live members (0 = never)", "300"},
    {"BENTO_ADMIN_TOKEN", "bearer token for /api/v1/admin calls (at least 16 characters); unset: admin calls refused", ""},
    {"BENTO_TICK_MS", "consensus tick (10-1000): a shard elects a new leader 10-20 ticks after its leader went "
                      "silent", "100"},
    {"BENTO_RAFT_KEEP_ENTRIES", "most log entries a shard keeps behind its applied index for a member behind "
                                "(16-100000000; 256 while every member holds the log); a replica further behind "
                                "gets a snapshot of the shard", "10000"},
    {"BENTO_MAX_ACTIVE_ENTITIES", "entity actors kept in memory before the least recently used are passivated "
                                  "(100-100000000)", "100000"},
    {"BENTO_LISTING_WORKERS", "threads that run order listings, taken fairly per caller (1-64)", "2"},
    {"BENTO_LISTING_QUEUE", "order listings waiting for a worker before more get 429 (1-100000)", "256"},
    {"BENTO_MAX_RESTAURANTS_PER_MERCHANT", "restaurants one merchant may create (1-10000)", "20"},
    {"BENTO_SEEDS", "comma-separated host:port cluster ports of other nodes to join through (up to 64); unset: a "
                    "one-node cluster", ""},
    {"BENTO_CLUSTER_SECRET", "secret every node of the cluster shares, 16-4096 characters, different from "
                             "BENTO_SECRET; required with BENTO_SEEDS. Nodes prove they know it by a "
                             "challenge-response (it is never sent); use a random one (openssl rand -base64 32)", ""},
    {"BENTO_CLUSTER_ADVERTISE", "host:port other nodes dial to reach this node's cluster port; required with "
                                "BENTO_SEEDS when BENTO_BIND is 0.0.0.0 or ::",
     "BENTO_BIND:BENTO_CLUSTER_PORT (host name:BENTO_CLUSTER_PORT when BENTO_BIND is a wildcard)"},
    {"BENTO_TLS_CERT", "PEM certificate (chain) of this node for cluster links; with BENTO_TLS_KEY and BENTO_TLS_CA "
                       "every link is TLS and each peer must present a certificate signed by BENTO_TLS_CA; all "
                       "three or none", ""},
    {"BENTO_TLS_KEY", "PEM private key of BENTO_TLS_CERT", ""},
    {"BENTO_TLS_CA", "PEM bundle of the CA(s) that sign the nodes' certificates", ""},
    {"BENTO_HEARTBEAT_MS", "interval of the heartbeat each node sends each peer (10-10000)", "100"},
    {"BENTO_SUSPECT_MS", "a peer not heard from for this long is suspect (at least 2 x BENTO_HEARTBEAT_MS, "
                         "at most 600000)", "500"},
    {"BENTO_DOWN_MS", "a peer not heard from for this long is down (more than BENTO_SUSPECT_MS, at most "
                      "3600000)", "1000"},
    {"BENTO_PEER_FRAME_MAX_BYTES", "largest message between nodes; bigger ones are dropped and counted "
                                   "(65536-268435456)", "8388608"},
  };
  return docs;
}

uint32_t default_scheduler_threads(uint32_t cpus) {
  return std::clamp<uint32_t>(cpus / 2, 1, 256);
}

uint32_t default_http_threads(uint32_t cpus) {
  return std::clamp<uint32_t>(cpus / 4, 1, 64);
}

uint32_t usable_cpus() {
  uint32_t cpus = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    cpus = static_cast<uint32_t>(CPU_COUNT(&set));
  // A cgroup v2 CPU quota ("200000 100000": two CPUs' worth; a container's --cpus) narrows it further.
  if (std::ifstream max("/sys/fs/cgroup/cpu.max"); max) {
    std::string quota;
    uint64_t period = 0;
    if (max >> quota >> period && quota != "max" && period > 0) {
      char* end = nullptr;
      auto q = std::strtoull(quota.c_str(), &end, 10);
      if (end && *end == '\0' && q > 0)
        cpus = std::min<uint32_t>(cpus, static_cast<uint32_t>(std::max<uint64_t>(1, (q + period - 1) / period)));
    }
  }
  return cpus;
}

domain::outcome<node_config> load_config(const env_lookup& getenv) {
  node_config cfg;
  auto cpus = usable_cpus();
  cfg.scheduler_threads = default_scheduler_threads(cpus);
  cfg.http_threads = default_http_threads(cpus);
  reader r{getenv, {}};
  r.text("BENTO_BIND", cfg.bind, 253);
  if (!plausible_bind_address(cfg.bind))
    r.errors.push_back("BENTO_BIND='" + cfg.bind + "' is not an address or host name");
  r.integer("BENTO_HTTP_PORT", cfg.http_port, 1, 65535);
  r.integer("BENTO_CLIENT_PORT", cfg.client_port, 1, 65535);
  r.integer("BENTO_CLUSTER_PORT", cfg.cluster_port, 1, 65535);
  if (cfg.http_port == cfg.client_port || cfg.http_port == cfg.cluster_port || cfg.client_port == cfg.cluster_port)
    r.errors.push_back("BENTO_HTTP_PORT, BENTO_CLIENT_PORT and BENTO_CLUSTER_PORT must differ");
  r.text("BENTO_DATA_DIR", cfg.data_dir, 4096);
  char host[HOST_NAME_MAX + 1] = {0};
  if (::gethostname(host, sizeof host - 1) == 0)
    cfg.node_id = host;
  cfg.node_id_given = r.raw("BENTO_NODE_ID") != nullptr;
  r.text("BENTO_NODE_ID", cfg.node_id, 64);
  for (char c : cfg.node_id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      r.errors.push_back("BENTO_NODE_ID may contain only letters, digits, '-', '_', '.'");
      break;
    }
  if (cfg.node_id.empty())
    cfg.node_id = "bento";
  r.text("BENTO_LOG_LEVEL", cfg.log_level, 16);
  static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  bool level_ok = false;
  for (auto* l : levels)
    level_ok = level_ok || cfg.log_level == l;
  if (!level_ok)
    r.errors.push_back("BENTO_LOG_LEVEL='" + cfg.log_level + "' must be one of trace, debug, info, warn, error, "
                       "critical, off");
  r.text("BENTO_SECRET", cfg.secret, 4096);
  if (!cfg.secret.empty() && cfg.secret.size() < 32)
    r.errors.push_back("BENTO_SECRET must be at least 32 characters");
  r.text("BENTO_TZ", cfg.time_zone, 64);
  r.integer("BENTO_RATE_LIMIT", cfg.rate_limit, 0, 1000000);
  r.boolean("BENTO_SYNC_WRITES", cfg.sync_writes);
  r.integer("BENTO_HTTP_THREADS", cfg.http_threads, 1, 64);
  r.integer("BENTO_SCHEDULER_THREADS", cfg.scheduler_threads, 1, 256);
  r.text("BENTO_SCHEDULER_POLICY", cfg.scheduler_policy, 16);
  if (cfg.scheduler_policy != "stealing" && cfg.scheduler_policy != "sharing")
    r.errors.push_back("BENTO_SCHEDULER_POLICY='" + cfg.scheduler_policy + "' must be stealing or sharing");
  r.integer("BENTO_HASH_WORKERS", cfg.hash_workers, 1, 64);
  r.integer("BENTO_ARGON2_OPS", cfg.argon2_ops, 1, 10);
  r.integer("BENTO_ARGON2_MEM_KIB", cfg.argon2_mem_kib, 8192, 1048576);
  r.integer("BENTO_TOKEN_TTL_S", cfg.token_ttl_s, 60, 2592000);
  r.integer("BENTO_LOGIN_LOCKOUT_MS", cfg.login_lockout_ms, 100, 600000);
  r.integer("BENTO_REQUEST_TIMEOUT_MS", cfg.request_timeout_ms, 100, 120000);
  r.integer("BENTO_IDLE_PASSIVATE_S", cfg.idle_passivate_s, 1, 86400);
  r.integer("BENTO_MAX_CONNECTIONS", cfg.max_connections, 1, 1000000);
  r.integer("BENTO_MAX_ACTIVE_ENTITIES", cfg.max_active_entities, 100, 100000000);
  r.integer("BENTO_SHARDS", cfg.shards, 1, 4096);
  r.integer("BENTO_REPLICAS", cfg.replicas, 1, 7);
  r.integer("BENTO_REPLACE_AFTER_S", cfg.replace_after_s, 0, 31536000);
  r.integer("BENTO_EVENT_RETENTION_S", cfg.event_retention_s, 0, 315360000);
  r.integer("BENTO_CLIENT_FRAME_MAX_BYTES", cfg.client_frame_max_bytes, 4096, 67108864);
  r.integer("BENTO_CLIENT_MAX_IN_FLIGHT", cfg.client_max_in_flight, 1, 65536);
  r.integer("BENTO_CLIENT_BUFFER_MIB", cfg.client_buffer_mib, 16, 65536);
  r.integer("BENTO_CLIENT_IDLE_S", cfg.client_idle_s, 1, 86400);
  r.integer("BENTO_CLIENT_IO_TIMEOUT_MS", cfg.client_io_timeout_ms, 100, 600000);
  r.text("BENTO_ADMIN_TOKEN", cfg.admin_token, 4096);
  if (!cfg.admin_token.empty() && cfg.admin_token.size() < 16)
    r.errors.push_back("BENTO_ADMIN_TOKEN must be at least 16 characters");
  r.integer("BENTO_TICK_MS", cfg.tick_ms, 10, 1000);
  r.integer("BENTO_RAFT_KEEP_ENTRIES", cfg.raft_keep_entries, 16, 100000000);
  r.integer("BENTO_LISTING_WORKERS", cfg.listing_workers, 1, 64);
  r.integer("BENTO_LISTING_QUEUE", cfg.listing_queue, 1, 100000);
  r.integer("BENTO_MAX_RESTAURANTS_PER_MERCHANT", cfg.max_restaurants_per_merchant, 1, 10000);
  cfg.max_connections_per_address = std::max<uint32_t>(1, cfg.max_connections / 10);
  r.integer("BENTO_MAX_CONNECTIONS_PER_ADDRESS", cfg.max_connections_per_address, 1, 1000000);
  r.text("BENTO_TRUSTED_PROXIES", cfg.trusted_proxies, 4096);
  if (auto parsed = trusted_proxies::parse(cfg.trusted_proxies); !parsed)
    r.errors.push_back(parsed.error().message);
  r.text("BENTO_METRICS_TOKEN", cfg.metrics_token, 4096);
  if (!cfg.metrics_token.empty() && cfg.metrics_token.size() < 16)
    r.errors.push_back("BENTO_METRICS_TOKEN must be at least 16 characters");
  for (char c : cfg.metrics_token)
    if (c <= ' ' || c == 0x7f) {
      r.errors.push_back("BENTO_METRICS_TOKEN must be printable without spaces");
      break;
    }
  load_cluster(r, cfg);
  if (!r.errors.empty()) {
    std::string all;
    for (auto& e : r.errors)
      all += (all.empty() ? "" : "; ") + e;
    return fail(errc::invalid_argument, all);
  }
  return cfg;
}

} // namespace bento::node
