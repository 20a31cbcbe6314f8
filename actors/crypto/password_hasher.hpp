#pragma once
// Argon2id password hashing (libsodium crypto_pwhash_str) on a bounded pool of detached worker actors, so that
// its ~tens of milliseconds and tens of MiB never occupy a scheduler thread that serves orders.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

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

/// Admission control in front of the pool: more waiting work than `limit` is refused as overloaded instead
/// of queueing without bound, and no client address or username may hold more than its share, so one
/// address cycling through many accounts, or a crowd on one account, cannot keep everyone else at 429.
/// Memory is bounded: a key is held only while it has work in flight (at most `limit` keys).
class hash_gate {
public:
  enum class admission { admitted, overloaded, address_busy, user_busy };

  int limit = 64;
  int per_address_limit = 8; // one address (an IPv6 /64): an eighth of the gate
  int per_user_limit = 4;    // one username: a handful of logins at once is plenty for its owner

  /// Admits one operation for (address, username); every admitted one must leave() with the same keys.
  admission try_enter(const std::string& address, const std::string& username);
  void leave(const std::string& address, const std::string& username);

  /// Operations admitted and not finished (queue depth, for metrics).
  int in_flight() const { return in_flight_.load(); }

private:
  std::mutex mutex_;
  std::atomic<int> in_flight_{0};
  std::unordered_map<std::string, int> by_address_;
  std::unordered_map<std::string, int> by_user_;
};

/// The failure a refused admission answers with (overloaded: 429 with Retry-After).
domain::failure refusal(hash_gate::admission why);

hasher_actor spawn_hasher_pool(caf::actor_system& sys, size_t workers, hash_settings settings);

} // namespace bento::actors
