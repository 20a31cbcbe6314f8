#pragma once
// Tokens revoked before they expire (logout). Checked on every authenticated request from memory; persisted in
// the store's meta column so that a logout survives a restart. Entries disappear once the token would have
// expired anyway, which bounds the list by the sessions of one token lifetime.
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "protocol/domain/outcome.hpp"

namespace bento::store {
class entity_store;
}

namespace bento::node {

class revocation_list {
public:
  explicit revocation_list(store::entity_store& store) : store_(store) {}

  /// Loads unexpired revocations from the store.
  domain::outcome<domain::unit_t> load(int64_t now_s);

  /// Durable before it returns (a WAL append, microseconds: no network or fsync unless BENTO_SYNC_WRITES).
  domain::outcome<domain::unit_t> revoke(const std::string& token_id, int64_t expires_at_s, int64_t now_s);

  bool is_revoked(const std::string& token_id) const;
  size_t size() const;

private:
  void prune_locked(int64_t now_s);

  store::entity_store& store_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, int64_t> revoked_; // token id -> expiry
  int64_t last_prune_s_ = 0;
};

} // namespace bento::node
