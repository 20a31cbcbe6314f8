#include "actors/crypto/password_hasher.hpp"

#include <sodium.h>

#include <caf/actor_pool.hpp>
#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/common/domain_error.hpp"

namespace bento::actors {

domain::outcome<std::string> hash_password(const std::string& password, const hash_settings& settings) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), settings.ops_limit, settings.mem_limit_bytes)
      != 0)
    return domain::fail(domain::errc::overloaded, "password hashing ran out of memory");
  return std::string(out);
}

bool verify_password(const std::string& encoded_hash, const std::string& password) {
  if (encoded_hash.empty() || encoded_hash.size() >= crypto_pwhash_STRBYTES)
    return false;
  return crypto_pwhash_str_verify(encoded_hash.c_str(), password.data(), password.size()) == 0;
}

hash_gate::admission hash_gate::try_enter(const std::string& address, const std::string& username) {
  std::lock_guard lock(mutex_);
  if (in_flight_.load() >= limit)
    return admission::overloaded;
  auto a = by_address_.find(address);
  if (a != by_address_.end() && a->second >= per_address_limit)
    return admission::address_busy;
  auto u = by_user_.find(username);
  if (u != by_user_.end() && u->second >= per_user_limit)
    return admission::user_busy;
  ++by_address_[address];
  ++by_user_[username];
  ++in_flight_;
  return admission::admitted;
}

void hash_gate::leave(const std::string& address, const std::string& username) {
  std::lock_guard lock(mutex_);
  if (auto a = by_address_.find(address); a != by_address_.end() && --a->second <= 0)
    by_address_.erase(a);
  if (auto u = by_user_.find(username); u != by_user_.end() && --u->second <= 0)
    by_user_.erase(u);
  --in_flight_;
}

domain::failure refusal(hash_gate::admission why) {
  switch (why) {
    case hash_gate::admission::address_busy:
      return domain::fail(domain::errc::overloaded, "too many password operations from this address; retry");
    case hash_gate::admission::user_busy:
      return domain::fail(domain::errc::overloaded, "too many logins to this account at once; retry");
    default:
      return domain::fail(domain::errc::overloaded, "too many password operations in flight; retry");
  }
}

namespace {

hasher_actor::behavior_type hasher_worker(hasher_actor::pointer, hash_settings settings) {
  return {
    [settings](hash_atom, const std::string& password) -> caf::result<std::string> {
      auto h = hash_password(password, settings);
      if (!h)
        return make_error(h.error());
      return std::move(*h);
    },
    [](verify_atom, const std::string& hash, const std::string& password) -> bool {
      return verify_password(hash, password);
    },
  };
}

} // namespace

hasher_actor spawn_hasher_pool(caf::actor_system& sys, size_t workers, hash_settings settings) {
  auto factory = [&sys, settings] {
    return caf::actor_cast<caf::actor>(sys.spawn<caf::detached>(hasher_worker, settings));
  };
  auto pool = caf::actor_pool::make(sys.dummy_execution_unit(), workers, factory, caf::actor_pool::round_robin());
  return caf::actor_cast<hasher_actor>(pool);
}

} // namespace bento::actors
