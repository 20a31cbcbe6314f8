#pragma once
// Checks the TLS files before CAF gets them: CAF 0.17's OpenSSL module raises an error (throws) from the
// connection it is setting up when a file does not load, which would take the node down at its first link
// instead of at start with a message naming the file.
#include <string>

#include "cluster/transport/transport_config.hpp"

namespace bento::cluster::transport {

/// Empty when the certificate chain, the private key (matching the certificate) and the CA bundle all load and
/// the certificate verifies against the CA; else what is wrong, naming the file.
std::string check_tls_files(const tls_files& files);

} // namespace bento::cluster::transport
