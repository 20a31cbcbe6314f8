#include "actors/user/user_state.hpp"

#include "protocol/domain/validation.hpp"

namespace bento::actors {

using namespace bento::domain;

domain::outcome<unit_t> user_state::check_register(const register_user& cmd) const {
  if (auto f = check_registration(cmd))
    return *f;
  if (user_)
    return fail(errc::already_exists, "username is taken");
  return unit;
}

domain::user user_state::make_user(const register_user& cmd, std::string password_hash, std::string id,
                                   int64_t now_ms) const {
  domain::user u;
  u.id = std::move(id);
  u.username = cmd.username;
  u.email = cmd.email;
  u.role = cmd.role;
  u.place = cmd.place;
  u.password_hash = std::move(password_hash);
  u.created_at_ms = now_ms;
  u.version = 1;
  return u;
}

user_view view_of(const domain::user& u) {
  return user_view{u.id, u.username, u.email, u.role, u.place, u.created_at_ms};
}

user_view user_state::view() const {
  return user_ ? view_of(*user_) : user_view{};
}

} // namespace bento::actors
