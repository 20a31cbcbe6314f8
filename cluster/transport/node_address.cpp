#include "cluster/transport/node_address.hpp"

#include <cctype>

namespace bento::cluster::transport {

bool valid_node_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 64)
    return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

namespace {

bool valid_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253)
    return false;
  for (char c : h)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'))
      return false;
  return true;
}

bool valid_ipv6(std::string_view h) {
  if (h.size() < 2 || h.size() > 45)
    return false;
  for (char c : h)
    if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.'))
      return false;
  return h.find(':') != std::string_view::npos;
}

std::optional<uint16_t> parse_port(std::string_view p) {
  if (p.empty() || p.size() > 5)
    return std::nullopt;
  uint32_t v = 0;
  for (char c : p) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v == 0 || v > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(v);
}

} // namespace

std::optional<peer_address> parse_address(std::string_view text) {
  if (text.empty() || text.size() > 300)
    return std::nullopt;
  std::string_view host;
  std::string_view port;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!valid_ipv6(host))
      return std::nullopt;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (!valid_host_name(host))
      return std::nullopt;
  }
  auto p = parse_port(port);
  if (!p)
    return std::nullopt;
  return peer_address{std::string(host), *p};
}

std::string to_string(const peer_address& a) {
  if (a.host.find(':') != std::string::npos)
    return "[" + a.host + "]:" + std::to_string(a.port);
  return a.host + ":" + std::to_string(a.port);
}

} // namespace bento::cluster::transport
