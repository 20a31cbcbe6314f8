#pragma once
// The binary client protocol's server (docs/protocol.md) on Boost.Asio: handshake, framing, pipelined requests
// answered out of order, a frame limit, an in-flight cap per connection that stops reading (back-pressure, no
// unbounded queue), handshake/idle/slow-client timeouts and a connection cap. Every malformed input ends that
// connection with a Goodbye; no input reaches another connection. Requests go to client_dispatch.
#include <cstdint>
#include <memory>
#include <string>

#include "protocol/domain/outcome.hpp"

namespace bento::node {

class client_dispatch;

struct client_server_options {
  std::string bind = "127.0.0.1";
  uint16_t port = 7410;
  uint32_t threads = 1;
  uint32_t max_connections = 10000;
  uint32_t max_connections_per_address = 1000; // an IPv6 /64 counts as one address
  uint64_t buffer_bytes = 256u << 20; // answers held or expected across connections before reading stops
  uint32_t max_frame_bytes = 1u << 20;
  uint32_t max_in_flight = 128;
  uint32_t handshake_timeout_ms = 5000;
  uint32_t idle_timeout_ms = 300000;
  uint32_t io_timeout_ms = 10000; // a frame's body must arrive, and a reply be written, within this
  std::string node_id;
};

struct client_server_stats {
  uint64_t open_connections = 0;
  uint64_t requests = 0;
  uint64_t requests_in_flight = 0;
  uint64_t protocol_errors = 0;     // connections ended for a malformed or out-of-order frame
  uint64_t timeouts = 0;            // connections ended for idleness or slowness
  uint64_t refused_connections = 0; // over the connection cap
};

class client_server {
public:
  client_server(client_server_options options, client_dispatch& dispatch);
  ~client_server();

  /// Binds and starts the I/O threads; fails (address in use) without throwing.
  domain::outcome<domain::unit_t> start();
  /// Stops accepting, waits up to `grace_ms` for answers in flight, then says Goodbye and closes everything.
  void stop(uint32_t grace_ms);
  uint16_t port() const;
  client_server_stats stats() const;

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace bento::node
