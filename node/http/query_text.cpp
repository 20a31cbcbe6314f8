#include "node/http/query_text.hpp"

#include "protocol/domain/validation.hpp"

namespace bento::node {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

} // namespace

bool url_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (in.size() - i < 3)
        return false;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
    if (control(static_cast<unsigned char>(out.back())))
      return false;
  }
  return domain::utf8_length(out) >= 0;
}

bool parse_query(std::string_view raw, std::map<std::string, std::string>& out) {
  while (!raw.empty()) {
    auto amp = raw.find('&');
    auto part = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (part.empty())
      continue;
    auto eq = part.find('=');
    std::string key, value;
    if (!url_decode(part.substr(0, eq), key)
        || !url_decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), value))
      return false;
    auto [it, fresh] = out.emplace(std::move(key), value);
    // Which of two different values counts would be a guess (and a proxy may guess otherwise).
    if (!fresh && it->second != value)
      return false;
  }
  return true;
}

std::optional<uint32_t> parse_decimal(std::string_view text, uint32_t max) {
  if (text.empty() || text.size() > 9)
    return std::nullopt;
  uint32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > max)
    return std::nullopt;
  return v;
}

bool json_depth_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

} // namespace bento::node
