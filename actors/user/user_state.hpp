#pragma once
// Rules of one user entity (user/<username>), without CAF: registration, the view others may see, and a
// per-username throttle on failed logins (it lives with the user so that it is global once users are sharded).
#include <cstdint>
#include <optional>
#include <string>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::actors {

struct login_throttle_policy {
  int free_failures = 5;            // failures allowed before lock-outs start
  int64_t base_lockout_ms = 1000;   // first lock-out; doubles per further failure
  int64_t max_lockout_ms = 15 * 60 * 1000;
  int64_t forget_after_ms = 15 * 60 * 1000; // a quiet period resets the count
};

class user_state {
public:
  explicit user_state(login_throttle_policy policy = {}) : policy_(policy) {}

  bool exists() const noexcept { return user_.has_value(); }
  const std::optional<domain::user>& user() const noexcept { return user_; }
  void load(domain::user u) { user_ = std::move(u); }

  /// Validates a registration for this (so far unused) username. The hash is computed elsewhere.
  domain::outcome<domain::unit_t> check_register(const domain::register_user& cmd) const;

  /// The new user record after hashing succeeded.
  domain::user make_user(const domain::register_user& cmd, std::string password_hash, std::string id,
                         int64_t now_ms) const;

  void commit(domain::user u) { user_ = std::move(u); }

  domain::user_view view() const;

  /// 0 when a login attempt may proceed, else milliseconds until it may.
  int64_t retry_after_ms(int64_t now_ms) const;
  void record_failure(int64_t now_ms);
  void record_success() { failures_ = 0; locked_until_ms_ = 0; }

private:
  login_throttle_policy policy_;
  std::optional<domain::user> user_;
  int failures_ = 0;
  int64_t last_failure_ms_ = 0;
  int64_t locked_until_ms_ = 0;
};

domain::user_view view_of(const domain::user& u);

} // namespace bento::actors
