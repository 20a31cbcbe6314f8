#include "bento/client/errors.hpp"

#include <array>

namespace bento::client {

namespace {

// In enum order: to_string indexes it, errc_from_string searches it.
constexpr std::array<std::string_view, static_cast<size_t>(errc::unknown) + 1> names = {
  "invalid_argument", "unauthorized", "forbidden", "not_found", "already_exists", "out_of_stock",
  "meal_unavailable", "invalid_transition", "idempotency_key_reused", "precondition_failed", "superseded",
  "too_many_requests", "overloaded", "unavailable", "storage_failure", "outcome_unknown", "not_leader",
  "unknown_method", "protocol_error", "frame_too_large", "unsupported_version", "idle_timeout", "slow_client",
  "too_many_connections", "shutting_down", "unreachable", "timeout", "cancelled", "unknown",
};

} // namespace

std::string_view to_string(errc code) noexcept {
  auto i = static_cast<size_t>(code);
  return i < names.size() ? names[i] : "unknown";
}

errc errc_from_string(std::string_view text) noexcept {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == text)
      return static_cast<errc>(i);
  return errc::unknown;
}

error make_error(errc code, std::string message) {
  error e;
  e.code = code;
  e.code_text = std::string(to_string(code));
  e.message = std::move(message);
  return e;
}

std::string describe(const error& e) {
  std::string out = e.code_text.empty() ? std::string(to_string(e.code)) : e.code_text;
  if (!e.message.empty())
    out += ": " + e.message;
  if (!e.item_id.empty())
    out += " (item " + e.item_id + ")";
  if (e.retry_after_ms > 0)
    out += " (retry after " + std::to_string(e.retry_after_ms) + " ms)";
  if (!e.idempotency_key.empty())
    out += " (idempotency key " + e.idempotency_key + ")";
  return out;
}

} // namespace bento::client
