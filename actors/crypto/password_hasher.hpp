#pragma once
// Argon2id password hashing (libsodium crypto_pwhash_str) on a bounded pool of detached worker actors, so that
// its ~tens of milliseconds and tens of MiB never occupy a scheduler thread that serves orders.
#include <atomic>
#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::actors {

struct hash_settings {
  unsigned long long ops_limit = 2;     // crypto_pwhash_OPSLIMIT_INTERACTIVE
  size_t mem_limit_bytes = 64u << 20;   // crypto_pwhash_MEMLIMIT_INTERACTIVE
};

/// hash -> encoded Argon2id string (or an error); verify -> match.
using hasher_actor = caf::typed_actor<caf::replies_to<hash_atom, std::string>::with<std::string>,
                                      caf::replies_to<verify_atom, std::string, std::string>::with<bool>>;

/// Plain functions, also used to make the dummy hash that unknown-user logins verify against.
domain::outcome<std::string> hash_password(const std::string& password, const hash_settings& settings);
bool verify_password(const std::string& encoded_hash, const std::string& password);

/// Admission control in front of the pool: more waiting work than this is refused as overloaded instead of
/// queueing without bound.
struct hash_gate {
  std::atomic<int> in_flight{0};
  int limit = 64;
  bool try_enter() {
    if (in_flight.fetch_add(1) >= limit) {
      in_flight.fetch_sub(1);
      return false;
    }
    return true;
  }
  void leave() { in_flight.fetch_sub(1); }
};

hasher_actor spawn_hasher_pool(caf::actor_system& sys, size_t workers, hash_settings settings);

} // namespace bento::actors
