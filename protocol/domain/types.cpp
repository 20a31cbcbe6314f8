#include "protocol/domain/types.hpp"

namespace bento::domain {

const char* to_string(role x) noexcept {
  return x == role::merchant ? "merchant" : "customer";
}

const char* to_string(meal x) noexcept {
  switch (x) {
    case meal::breakfast: return "breakfast";
    case meal::lunch: return "lunch";
    case meal::dinner: return "dinner";
  }
  return "lunch";
}

const char* to_string(order_status x) noexcept {
  switch (x) {
    case order_status::placed: return "placed";
    case order_status::confirmed: return "confirmed";
    case order_status::delivered: return "delivered";
    case order_status::cancelled: return "cancelled";
  }
  return "placed";
}

std::optional<role> parse_role(const std::string& s) noexcept {
  if (s == "customer") return role::customer;
  if (s == "merchant") return role::merchant;
  return std::nullopt;
}

std::optional<meal> parse_meal(const std::string& s) noexcept {
  if (s == "breakfast") return meal::breakfast;
  if (s == "lunch") return meal::lunch;
  if (s == "dinner") return meal::dinner;
  return std::nullopt;
}

std::optional<order_status> parse_order_status(const std::string& s) noexcept {
  if (s == "placed") return order_status::placed;
  if (s == "confirmed") return order_status::confirmed;
  if (s == "delivered") return order_status::delivered;
  if (s == "cancelled") return order_status::cancelled;
  return std::nullopt;
}

} // namespace bento::domain
