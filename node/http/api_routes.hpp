#pragma once
// The HTTP API: routes a parsed request to a handler that authenticates, validates, builds a domain command,
// calls the domain and maps the reply to JSON. No business rule lives here.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "node/http/http_types.hpp"

namespace bento::store {
class entity_store;
}

namespace bento::actors {
class login_guard;
}

namespace bento::node {

class domain_client;
class token_signer;
class revocation_list;
class rate_limiter;
class node_metrics;

struct api_dependencies {
  domain_client* domain = nullptr;
  const token_signer* tokens = nullptr;
  revocation_list* revocations = nullptr;
  rate_limiter* limiter = nullptr;
  actors::login_guard* logins = nullptr;
  node_metrics* metrics = nullptr;
  store::entity_store* store = nullptr;
  std::function<uint64_t()> open_connections;
  std::function<uint64_t()> requests_in_flight;
  std::function<uint64_t()> password_ops_in_flight; // Argon2id work admitted and not finished (queue depth)
  /// More bento_edge gauges by name (fixed names: label values never come from clients).
  std::vector<std::pair<std::string, std::function<uint64_t()>>> extra_gauges;
  /// The cluster as this node sees it, as a JSON text (members, shards); with an entity key ("order/<id>") also
  /// where that entity lives.
  std::function<std::string(const std::string& entity)> cluster_view;
  /// bento_cluster gauges by name (fixed names).
  std::function<std::vector<std::pair<std::string, double>>()> cluster_gauges;
  const std::atomic<bool>* ready = nullptr;
  uint32_t token_ttl_s = 86400;
  std::string metrics_token; // non-empty: GET /metrics needs "Authorization: Bearer <metrics_token>"
  std::string admin_token;   // non-empty: admin calls need "Authorization: Bearer <admin_token>"; empty: refused
  int64_t metrics_cache_ms = 1000; // a scrape within this of the last render gets the same text
};

class api_router {
public:
  explicit api_router(api_dependencies deps);
  ~api_router();

  void handle(http_request req, http_responder done);

  /// "METHOD /path" of every route, "{}" standing for a path parameter (checked against docs/openapi.yaml).
  static std::vector<std::string> route_table();

  struct impl; // public so that handlers in the .cpp can name it

private:
  std::shared_ptr<impl> impl_;
};

} // namespace bento::node
