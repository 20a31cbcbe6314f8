#pragma once
// The client protocol's requests to typed calls of api_service and back: the methods table of docs/protocol.md
// (who may call what, which message each takes and gives), routing answers (not_leader, leader hints) and the
// error codes. No business rule: those are api_service's and the domain's.
#include <functional>
#include <memory>
#include <string>

#include "node/cluster_runtime.hpp"

namespace bento::client::v1 {
class Request;
class Response;
} // namespace bento::client::v1

namespace bento::node {

class api_service;
class rate_limiter;

struct client_dispatch_dependencies {
  api_service* service = nullptr;
  std::string node_id;
  std::function<node::cluster_status()> status;
  std::function<client_shard_map()> shard_map;
  std::function<client_route(const std::string& entity_key)> route;
  bool clustered = false;
  rate_limiter* limiter = nullptr; // BENTO_RATE_LIMIT, shared with HTTP: one budget per client address
  std::string metrics_token;       // when set, CLUSTER_STATUS needs it in `token` (as GET /api/v1/cluster does)
};

class client_dispatch {
public:
  using respond = std::function<void(bento::client::v1::Response)>;

  explicit client_dispatch(client_dispatch_dependencies deps);
  ~client_dispatch();

  /// Answers `req` exactly once through `done`, possibly on another thread (the domain's). `client_key` is what
  /// per-client limits count by (the peer's address).
  void handle(const bento::client::v1::Request& req, const std::string& client_key, respond done);

private:
  client_dispatch_dependencies deps_;
};

} // namespace bento::node
