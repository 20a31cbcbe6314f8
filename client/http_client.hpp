#pragma once
// A small blocking HTTP/1.1 client for Bento's JSON API (libcurl, one keep-alive connection per instance).
// Used by bentoctl-style tools, the integration tests and the benchmarks' fixtures. Not thread-safe: use one
// instance per thread. The binary-protocol SDK arrives with the client-protocol issue.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bento::client {

struct http_result {
  int status = 0;          // 0 when no HTTP response was received
  std::string body;
  std::map<std::string, std::string> headers; // lower-case names
  std::string transport_error;
};

class http_client {
public:
  explicit http_client(std::string base_url, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  http_result request(const std::string& method, const std::string& path, const std::string& body = {},
                      const std::vector<std::pair<std::string, std::string>>& headers = {});

  http_result get(const std::string& path, const std::string& token = {});
  http_result post(const std::string& path, const std::string& body, const std::string& token = {});

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace bento::client
