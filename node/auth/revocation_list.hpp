#pragma once
// Tokens revoked before they expire (logout). Checked on every authenticated request from memory. A logout is
// a write of the user's actor (`end_session`): its record lives in the user's shard, replicated like any state,
// and its event reaches every node's list as the shard's entries are applied there (every node holds every
// shard, as a voter or a learner), so a logout through one node holds on all of them. A start loads the
// unexpired records of every shard (and, from data dirs of before, the node-local ones in `meta`). Entries
// disappear once the token would have expired anyway.
//
// Bounded per user: a user who logs in and out in a loop would otherwise add an entry per logout for a whole
// token lifetime. Past `per_user_limit` live revocations, the oldest is folded into a per-user watermark
// ("every token of this user issued up to then is revoked"), so memory is at most that many entries and one
// watermark per user, whatever one account does. Folding only ever revokes more, never less.
#include <cstdint>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "node/auth/token.hpp"
#include "protocol/domain/shards.hpp"
#include "protocol/domain/types.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::store {
class entity_store;
}

namespace bento::node {

class revocation_list {
public:
  explicit revocation_list(store::entity_store& store, size_t per_user_limit = 64)
    : store_(store), per_user_limit_(per_user_limit) {}

  /// Loads unexpired revocations from the store.
  domain::outcome<domain::unit_t> load(int64_t now_s);

  /// In memory (the durable record is the user actor's): a session ended here or announced by its shard.
  void revoke(const token_claims& token, int64_t now_s);
  void revoke(const domain::ended_session& session, int64_t now_s);
  /// Adds the live ended sessions recorded in one shard (after a snapshot of it was installed here: its records
  /// came without their events).
  domain::outcome<domain::unit_t> load_shard(domain::shard_id shard, int64_t now_s);

  bool is_revoked(const token_claims& token) const;
  /// Revocations held (entries plus watermarks).
  size_t size() const;

private:
  struct entry {
    int64_t expires_at_s = 0;
    std::string user_id;
    int64_t issued_at_s = 0;
  };
  struct user_revocations {
    std::deque<std::pair<int64_t, std::string>> tokens; // (issued_at, token id), oldest first
    int64_t revoked_through_s = -1; // tokens issued at or before this are revoked
    int64_t watermark_expires_s = 0;
  };

  domain::outcome<domain::unit_t> scan_shard(domain::shard_id shard, int64_t now_s,
                                             std::vector<std::pair<std::string, entry>>& out) const;
  void revoke_oldest_first(std::vector<std::pair<std::string, entry>>& loaded, int64_t now_s);
  void prune_locked(int64_t now_s);
  void track_locked(const std::string& token_id, const entry& e);

  store::entity_store& store_;
  size_t per_user_limit_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, entry> revoked_; // token id -> entry
  std::unordered_map<std::string, user_revocations> users_;
  int64_t last_prune_s_ = 0;
};

} // namespace bento::node
