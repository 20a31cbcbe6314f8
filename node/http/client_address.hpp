#pragma once
// Who a request comes from: the TCP peer, or behind a trusted proxy the address that proxy saw
// (X-Forwarded-For), and the key per-client limits count by.
#include <optional>
#include <string>
#include <vector>

#include "protocol/domain/outcome.hpp"

namespace bento::node {

/// BENTO_TRUSTED_PROXIES: IPv4 and IPv6 addresses and CIDR ranges.
class trusted_proxies {
public:
  trusted_proxies() = default;

  /// A comma-separated list ("10.0.0.0/8, ::1, 192.0.2.7"); an entry that does not parse is an error.
  static domain::outcome<trusted_proxies> parse(const std::string& list);

  bool empty() const { return ranges_.empty(); }
  bool contains(const std::string& address) const;

  /// The client's address: the peer itself unless the peer is a trusted proxy; then the rightmost
  /// X-Forwarded-For entry that is not itself a trusted proxy. A malformed entry ends the walk and the
  /// proxy's own address is used: garbage is never taken for a client.
  std::string client_address(const std::string& peer, const std::string& forwarded_for) const;

private:
  struct range {
    bool v6 = false;
    unsigned char bytes[16] = {};
    unsigned prefix = 0;
  };
  std::vector<range> ranges_;
};

/// The address in canonical text form (IPv4-mapped IPv6 as IPv4), or nothing when it is not an address.
std::optional<std::string> canonical_address(const std::string& text);

/// The key per-client limits (rate, connections, logins, password hashing) count by: an IPv4 address, or
/// the /64 of an IPv6 address, since one IPv6 client usually holds a whole /64.
std::string address_key(const std::string& address);

} // namespace bento::node
