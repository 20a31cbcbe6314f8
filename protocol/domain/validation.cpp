#include "protocol/domain/validation.hpp"

#include <set>

namespace bento::domain {

namespace {

failure invalid(std::string message) {
  return fail(errc::invalid_argument, std::move(message));
}

} // namespace

long utf8_length(const std::string& s) {
  long count = 0;
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size())
      return -1;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80)
        return -1;
    // Reject overlong encodings of ASCII and surrogates in the common cases.
    if (len == 2 && c < 0xc2)
      return -1;
    i += len;
    ++count;
  }
  return count;
}

std::optional<failure> check_username(const std::string& s) {
  if (s.size() < 3 || s.size() > 32)
    return invalid("username must be 3-32 characters");
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
      return invalid("username may contain only a-z, 0-9, '_', '.', '-'");
  return std::nullopt;
}

std::optional<failure> check_password(const std::string& s) {
  auto n = utf8_length(s);
  if (n < 0)
    return invalid("password must be valid UTF-8");
  if (n < 8 || n > 128)
    return invalid("password must be 8-128 characters");
  return std::nullopt;
}

std::optional<failure> check_email(const std::string& s) {
  if (s.size() < 3 || s.size() > 254)
    return invalid("email is not a plausible address");
  auto at = s.find('@');
  if (at == std::string::npos || at == 0 || s.find('@', at + 1) != std::string::npos)
    return invalid("email is not a plausible address");
  auto domain_part = s.substr(at + 1);
  auto dot = domain_part.find('.');
  if (dot == std::string::npos || dot == 0 || domain_part.back() == '.' || at > 64)
    return invalid("email is not a plausible address");
  for (char c : s)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';')
      return invalid("email is not a plausible address");
  return std::nullopt;
}

std::optional<failure> check_text(const char* field, const std::string& s, size_t max, bool required,
                                  bool multiline) {
  auto n = utf8_length(s);
  if (n < 0)
    return invalid(std::string(field) + " must be valid UTF-8");
  if (required && n == 0)
    return invalid(std::string(field) + " is required");
  if (static_cast<size_t>(n) > max)
    return invalid(std::string(field) + " must be at most " + std::to_string(max) + " characters");
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && !(multiline && (c == '\n' || c == '\t' || c == '\r'))) || u == 0x7f)
      return invalid(std::string(field) + " must not contain control characters");
  }
  if (required && s.find_first_not_of(" \t\r\n") == std::string::npos)
    return invalid(std::string(field) + " is required");
  return std::nullopt;
}

std::optional<failure> check_id(const char* field, const std::string& s) {
  if (s.empty() || s.size() > 64)
    return invalid(std::string(field) + " must be 1-64 characters");
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return invalid(std::string(field) + " may contain only A-Z, a-z, 0-9, '_', '-'");
  return std::nullopt;
}

std::optional<failure> check_menu_item(const menu_item_input& in) {
  if (auto f = check_text("name", in.name, max_name_length, true))
    return f;
  if (auto f = check_text("description", in.description, max_description_length, false, true))
    return f;
  if (in.price_cents < 0 || in.price_cents > max_price_cents)
    return invalid("price_cents must be between 0 and " + std::to_string(max_price_cents));
  if (in.stock < 0 || in.stock > max_stock)
    return invalid("stock must be between 0 and " + std::to_string(max_stock));
  if (in.daily_stock < 0 || in.daily_stock > max_stock)
    return invalid("daily_stock must be between 0 and " + std::to_string(max_stock));
  if (in.tags.size() > max_tags)
    return invalid("at most " + std::to_string(max_tags) + " tags");
  for (auto& t : in.tags) {
    if (t.empty() || t.size() > max_tag_length)
      return invalid("each tag must be 1-" + std::to_string(max_tag_length) + " characters");
    for (char c : t)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        return invalid("tags may contain only a-z, 0-9, '_', '-'");
  }
  if (in.meals.size() > 3)
    return invalid("meals lists each of breakfast, lunch, dinner at most once");
  std::set<meal> seen(in.meals.begin(), in.meals.end());
  if (seen.size() != in.meals.size())
    return invalid("meals lists each of breakfast, lunch, dinner at most once");
  if (!in.image_url.empty()) {
    if (in.image_url.size() > max_url_length)
      return invalid("image_url is too long");
    if (in.image_url.rfind("https://", 0) != 0 && in.image_url.rfind("http://", 0) != 0)
      return invalid("image_url must be an http(s) URL");
    for (char c : in.image_url)
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '"' || c == '<' || c == '>')
        return invalid("image_url must be an http(s) URL");
  }
  return std::nullopt;
}

std::optional<failure> check_lines(const std::vector<line_request>& lines) {
  if (lines.empty())
    return invalid("items must not be empty");
  if (lines.size() > max_order_lines)
    return invalid("at most " + std::to_string(max_order_lines) + " items per order");
  for (auto& l : lines) {
    if (auto f = check_id("item_id", l.item_id))
      return f;
    if (l.qty < 1 || l.qty > max_line_qty)
      return fail(errc::invalid_argument, "qty must be between 1 and " + std::to_string(max_line_qty),
                  l.item_id);
  }
  return std::nullopt;
}

std::optional<failure> check_registration(const register_user& cmd) {
  if (auto f = check_username(cmd.username))
    return f;
  if (auto f = check_password(cmd.password))
    return f;
  if (auto f = check_email(cmd.email))
    return f;
  return check_text("place", cmd.place, max_place_length, true);
}

} // namespace bento::domain
