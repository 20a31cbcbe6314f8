#include "protocol/domain/errc.hpp"

namespace bento::domain {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::none: return "none";
    case errc::invalid_argument: return "invalid_argument";
    case errc::unauthenticated: return "unauthorized";
    case errc::forbidden: return "forbidden";
    case errc::not_found: return "not_found";
    case errc::already_exists: return "already_exists";
    case errc::out_of_stock: return "out_of_stock";
    case errc::invalid_transition: return "invalid_transition";
    case errc::throttled: return "too_many_requests";
    case errc::overloaded: return "overloaded";
    case errc::storage_failure: return "storage_failure";
    case errc::outcome_unknown: return "outcome_unknown";
    case errc::idempotency_mismatch: return "idempotency_key_reused";
    case errc::meal_unavailable: return "meal_unavailable";
    case errc::superseded: return "superseded";
    case errc::precondition_failed: return "precondition_failed";
    case errc::unavailable: return "unavailable";
  }
  return "unknown";
}

} // namespace bento::domain
