#pragma once
// Node ids and peer addresses: the two strings a node trusts only after checking them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bento::cluster::transport {

/// [A-Za-z0-9._-]{1,64}: safe in logs, file names and metrics labels.
bool valid_node_id(std::string_view id) noexcept;

struct peer_address {
  std::string host; // a host name, an IPv4 address, or an IPv6 address (without brackets)
  uint16_t port = 0;
};

/// "host:port" or "[v6]:port"; host a name (letters, digits, '.', '-') or an IP address, at most 253 characters;
/// port 1-65535. nullopt for anything else.
std::optional<peer_address> parse_address(std::string_view text);

/// The canonical "host:port" ("[v6]:port" for IPv6).
std::string to_string(const peer_address& a);

} // namespace bento::cluster::transport
