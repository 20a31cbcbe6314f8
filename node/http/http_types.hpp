#pragma once
// A parsed request and the response to send, free of Beast types so that the API layer compiles without it.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace bento::node {

struct http_request {
  std::string method;        // GET, POST, ...
  std::string path;          // percent-decoding is left to the router (ids never need it)
  std::string raw_query;
  std::string authorization;
  std::string idempotency_key;
  std::string if_match;      // If-Match (a quoted version)
  std::string if_none_match; // If-None-Match
  std::string content_type;
  std::string body;
  std::string client_address;
  std::string request_id;
};

struct http_response {
  int status = 200;
  std::string body;
  // Sent instead of `body` when set: an encoding many responses share (a restaurant's menu), not copied.
  std::shared_ptr<const std::string> shared_body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

using http_responder = std::function<void(http_response)>;
/// Must call the responder exactly once, from any thread.
using http_handler = std::function<void(http_request, http_responder)>;

} // namespace bento::node
