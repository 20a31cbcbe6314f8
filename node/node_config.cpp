#include "node/node_config.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <unistd.h>

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

bool plausible_bind_address(const std::string& s) {
  if (s.empty() || s.size() > 253)
    return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == ':' || c == '-'))
      return false;
  return true;
}

} // namespace

const std::vector<option_doc>& option_docs() {
  static const std::vector<option_doc> docs = {
    {"BENTO_BIND", "address the HTTP and client ports bind to", "127.0.0.1"},
    {"BENTO_HTTP_PORT", "HTTP/JSON API port (1-65535)", "8080"},
    {"BENTO_CLIENT_PORT", "binary client protocol port (1-65535)", "7410"},
    {"BENTO_CLUSTER_PORT", "cluster port for peer nodes (1-65535)", "4710"},
    {"BENTO_DATA_DIR", "RocksDB data directory (created if missing)", "./data"},
    {"BENTO_NODE_ID", "node name in logs and cluster membership", "host name"},
    {"BENTO_LOG_LEVEL", "trace|debug|info|warn|error|critical|off", "info"},
    {"BENTO_SECRET", "token signing key, at least 32 characters; unset: generated and kept in the data dir", ""},
    {"BENTO_TZ", "IANA time zone for 'today' and meal slots", "Asia/Taipei"},
    {"BENTO_RATE_LIMIT", "requests/s per client address with equal burst; 0 = off", "0"},
    {"BENTO_SYNC_WRITES", "answer only after the write-ahead log is fsynced (power-loss safety; fsyncs are shared)",
     "0"},
    {"BENTO_HTTP_THREADS", "HTTP I/O threads (1-64)", "2"},
    {"BENTO_SCHEDULER_THREADS", "actor scheduler threads (1-256)", "2"},
    {"BENTO_HASH_WORKERS", "password hashing threads (1-64)", "2"},
    {"BENTO_ARGON2_OPS", "Argon2id passes (1-10)", "2"},
    {"BENTO_ARGON2_MEM_KIB", "Argon2id memory in KiB (8192-1048576)", "65536"},
    {"BENTO_TOKEN_TTL_S", "session token lifetime in seconds (60-2592000)", "86400"},
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
    {"BENTO_MAX_ACTIVE_ENTITIES", "entity actors kept in memory before the least recently used are passivated "
                                  "(100-100000000)", "100000"},
    {"BENTO_LISTING_WORKERS", "threads that run order listings, taken fairly per caller (1-64)", "2"},
    {"BENTO_LISTING_QUEUE", "order listings waiting for a worker before more get 429 (1-100000)", "256"},
    {"BENTO_MAX_RESTAURANTS_PER_MERCHANT", "restaurants one merchant may create (1-10000)", "20"},
  };
  return docs;
}

domain::outcome<node_config> load_config(const env_lookup& getenv) {
  node_config cfg;
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
  r.integer("BENTO_HASH_WORKERS", cfg.hash_workers, 1, 64);
  r.integer("BENTO_ARGON2_OPS", cfg.argon2_ops, 1, 10);
  r.integer("BENTO_ARGON2_MEM_KIB", cfg.argon2_mem_kib, 8192, 1048576);
  r.integer("BENTO_TOKEN_TTL_S", cfg.token_ttl_s, 60, 2592000);
  r.integer("BENTO_REQUEST_TIMEOUT_MS", cfg.request_timeout_ms, 100, 120000);
  r.integer("BENTO_IDLE_PASSIVATE_S", cfg.idle_passivate_s, 1, 86400);
  r.integer("BENTO_MAX_CONNECTIONS", cfg.max_connections, 1, 1000000);
  r.integer("BENTO_MAX_ACTIVE_ENTITIES", cfg.max_active_entities, 100, 100000000);
  r.integer("BENTO_SHARDS", cfg.shards, 1, 4096);
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
  if (!r.errors.empty()) {
    std::string all;
    for (auto& e : r.errors)
      all += (all.empty() ? "" : "; ") + e;
    return fail(errc::invalid_argument, all);
  }
  return cfg;
}

} // namespace bento::node
