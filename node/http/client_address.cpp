#include "node/http/client_address.hpp"

#include <cstring>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace bento::node {

namespace {

namespace ip = boost::asio::ip;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// Parses an address strictly (no host names, no ports, no zone ids), IPv4-mapped IPv6 folded to IPv4.
std::optional<ip::address> parse_address(std::string_view text) {
  if (text.empty() || text.size() > 45 || text.find('%') != std::string_view::npos)
    return std::nullopt;
  boost::system::error_code ec;
  auto a = ip::make_address(std::string(text), ec);
  if (ec)
    return std::nullopt;
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return ip::address(ip::make_address_v4(ip::v4_mapped, a.to_v6()));
  return a;
}

bool prefix_matches(const unsigned char* a, const unsigned char* b, unsigned bits) {
  auto whole = bits / 8;
  if (std::memcmp(a, b, whole) != 0)
    return false;
  auto rest = bits % 8;
  if (rest == 0)
    return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

} // namespace

domain::outcome<trusted_proxies> trusted_proxies::parse(const std::string& list) {
  trusted_proxies out;
  std::string_view rest = list;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto entry = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (entry.empty())
      continue;
    auto slash = entry.find('/');
    auto a = parse_address(entry.substr(0, slash));
    range r;
    bool ok = a.has_value();
    if (ok) {
      r.v6 = a->is_v6();
      unsigned max_bits = r.v6 ? 128 : 32;
      r.prefix = max_bits;
      if (slash != std::string_view::npos) {
        auto bits = entry.substr(slash + 1);
        ok = !bits.empty() && bits.size() <= 3;
        unsigned v = 0;
        for (char c : bits) {
          ok = ok && c >= '0' && c <= '9';
          v = v * 10 + static_cast<unsigned>(c - '0');
        }
        ok = ok && v <= max_bits;
        r.prefix = v;
      }
      if (r.v6) {
        auto b = a->to_v6().to_bytes();
        std::memcpy(r.bytes, b.data(), 16);
      } else {
        auto b = a->to_v4().to_bytes();
        std::memcpy(r.bytes, b.data(), 4);
      }
    }
    if (!ok)
      return domain::fail(domain::errc::invalid_argument,
                          "BENTO_TRUSTED_PROXIES entry '" + std::string(entry).substr(0, 64)
                            + "' is not an IP address or CIDR range");
    out.ranges_.push_back(r);
  }
  return out;
}

bool trusted_proxies::contains(const std::string& address) const {
  if (ranges_.empty())
    return false;
  auto a = parse_address(address);
  if (!a)
    return false;
  unsigned char bytes[16] = {};
  if (a->is_v6()) {
    auto b = a->to_v6().to_bytes();
    std::memcpy(bytes, b.data(), 16);
  } else {
    auto b = a->to_v4().to_bytes();
    std::memcpy(bytes, b.data(), 4);
  }
  for (auto& r : ranges_)
    if (r.v6 == a->is_v6() && prefix_matches(bytes, r.bytes, r.prefix))
      return true;
  return false;
}

std::string trusted_proxies::client_address(const std::string& peer, const std::string& forwarded_for) const {
  if (!contains(peer))
    return peer;
  std::string_view rest = forwarded_for;
  // Bounded: the header is bounded, and so is this walk.
  for (int hops = 0; !rest.empty() && hops < 64; ++hops) {
    auto comma = rest.rfind(',');
    auto entry = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    auto a = parse_address(entry);
    if (!a)
      return peer;
    auto text = a->to_string();
    if (!contains(text))
      return text;
  }
  return peer;
}

std::optional<std::string> canonical_address(const std::string& text) {
  auto a = parse_address(text);
  if (!a)
    return std::nullopt;
  return a->to_string();
}

std::string address_key(const std::string& address) {
  auto a = parse_address(address);
  if (!a)
    return address;
  if (a->is_v4())
    return a->to_string();
  auto b = a->to_v6().to_bytes();
  for (size_t i = 8; i < 16; ++i)
    b[i] = 0;
  return ip::make_address_v6(b).to_string() + "/64";
}

} // namespace bento::node
