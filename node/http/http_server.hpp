#pragma once
// HTTP/1.1 server on Boost.Beast: keep-alive, bounded headers and bodies, timeouts, a connection cap, and a
// graceful stop that lets in-flight requests finish. I/O runs on its own threads; the handler hands each
// request to the domain and the response is written back on the connection's strand.
#include <cstdint>
#include <memory>
#include <string>

#include "node/http/client_address.hpp"
#include "node/http/http_types.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::node {

struct http_server_options {
  std::string bind = "127.0.0.1";
  uint16_t port = 8080;
  uint32_t threads = 2;
  uint32_t max_connections = 10000;
  /// Connections one client address (an IPv6 /64) may hold; 0: a tenth of max_connections. Trusted proxies
  /// are exempt (they carry many clients).
  uint32_t max_connections_per_address = 0;
  size_t max_body_bytes = 1u << 20;
  size_t max_header_bytes = 16u << 10;
  uint32_t read_timeout_ms = 30000; // a whole request must arrive within this (slowloris)
  uint32_t idle_timeout_ms = 60000; // keep-alive connection with no request
  /// Peers whose X-Forwarded-For names the client (BENTO_TRUSTED_PROXIES).
  trusted_proxies proxies;
};

class http_server {
public:
  http_server(http_server_options options, http_handler handler);
  ~http_server();

  /// Binds and starts the I/O threads. Fails (address in use, bad address) without throwing.
  domain::outcome<domain::unit_t> start();

  /// Stops accepting, waits up to `grace_ms` for in-flight requests to be answered, then stops all I/O.
  void stop(uint32_t grace_ms);

  uint64_t open_connections() const;
  /// Idle connections closed to make room for new ones, and connections refused at accept (429).
  uint64_t shed_connections() const;
  uint64_t refused_connections() const;
  /// Requests read and not yet answered.
  uint64_t requests_in_flight() const;

  struct impl; // public so that the connection code in the .cpp can name it

private:
  std::unique_ptr<impl> impl_;
};

} // namespace bento::node
