#pragma once
// Domain error codes: the only error vocabulary actors and edges share. Each code is something a caller can act
// on; edges map them to HTTP statuses (node/http/error_mapping) and later to client-protocol codes.
#include <cstdint>
#include <string>

namespace bento::domain {

enum class errc : uint8_t {
  none = 0,
  invalid_argument = 1,   // malformed or out-of-range input: fix the request
  unauthenticated = 2,    // no or bad credentials
  forbidden = 3,          // authenticated, but not allowed
  not_found = 4,
  already_exists = 5,     // e.g. username taken
  out_of_stock = 6,       // detail names the item
  invalid_transition = 7, // order state machine refused
  throttled = 8,          // too many attempts: retry later
  overloaded = 9,         // a bounded queue is full: retry later
  storage_failure = 10,   // the write did not happen
  outcome_unknown = 11,   // the write may or may not have happened (timeout after dispatch)
  idempotency_mismatch = 12, // same key reused with a different request
  meal_unavailable = 13,  // item not served at the requested meal
  superseded = 14,        // an order's reservation change older than one the restaurant already has
  precondition_failed = 15, // If-Match names a version that is no longer current: read again
  unavailable = 16,       // the entity's shard has no leader this node can reach (no quorum): retry later
};

/// Stable snake_case name used in API error bodies and logs.
const char* to_string(errc code) noexcept;

/// A failure as it travels from a state method to an edge.
struct failure {
  errc code = errc::none;
  std::string message;
  std::string item_id; // set for out_of_stock / meal_unavailable
};

inline failure fail(errc code, std::string message, std::string item_id = {}) {
  return failure{code, std::move(message), std::move(item_id)};
}

/// A restaurant's refusal of a reservation change, given before it changes anything: the change did not happen.
/// The only codes an order keeps as a keyed placement's final answer (order::refused).
inline bool refused_before_any_change(errc code) noexcept {
  return code == errc::out_of_stock || code == errc::invalid_argument || code == errc::meal_unavailable ||
         code == errc::not_found;
}

} // namespace bento::domain
