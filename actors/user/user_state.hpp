#pragma once
// Rules of one user entity (user/<username>), without CAF: registration and the view others may see. Failed
// logins are throttled by the node's login guard (actors/user/login_guard), not here: state in this actor would
// vanish with its passivation or eviction, and sooner for names that do not exist.
#include <cstdint>
#include <optional>
#include <string>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::actors {

class user_state {
public:
  user_state() = default;

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

private:
  std::optional<domain::user> user_;
};

domain::user_view view_of(const domain::user& u);

} // namespace bento::actors
