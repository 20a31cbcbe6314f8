// transport::prepare_actor_system: what CAF must know before the actor system exists.
#include <chrono>

#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include "cluster/transport/peer_frame.hpp"
#include "cluster/transport/transport.hpp"

namespace bento::cluster::transport {

void prepare_actor_system(caf::actor_system_config& caf_cfg, const transport_config& cfg) {
  caf_cfg.load<caf::io::middleman>();
  if (cfg.tls) {
    // With a certificate, key and CA, CAF's OpenSSL module requires and verifies the peer's certificate
    // (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT). Without them it would fall back to anonymous TLS,
    // which is why a partial set is refused by the configuration.
    caf_cfg.openssl_certificate = cfg.tls->certificate;
    caf_cfg.openssl_key = cfg.tls->private_key;
    caf_cfg.openssl_cafile = cfg.tls->ca;
    caf_cfg.load<caf::openssl::manager>();
  }
  caf_cfg.add_message_type<peer_frame>(peer_frame_type_name);
  // Off by default in CAF 0.17. They close a connection whose peer vanished without a RST, and a CAF handshake
  // that never completes (a stopped process still accepts TCP connections into its backlog).
  caf_cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(cfg.caf_heartbeat_ms)});
  caf_cfg.set("middleman.connection-timeout",
              caf::timespan{std::chrono::milliseconds(cfg.caf_connection_timeout_ms)});
  // A CAF application of another kind on this port fails CAF's own handshake instead of reaching ours.
  caf_cfg.set("middleman.app-identifiers", std::vector<std::string>{"bento-cluster-1"});
}

} // namespace bento::cluster::transport
