#include "node/auth/revocation_list.hpp"

#include <algorithm>
#include <sstream>
#include <vector>

#include "actors/common/keys.hpp"
#include "actors/store/entity_store.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/shards.hpp"

namespace bento::node {

namespace {

// Node-local revocations of data dirs from before logouts were shard writes (loaded, then pruned as they expire).
const std::string token_prefix = "revoked/";     // token id -> "<expires> <user id> <issued>"
const std::string user_prefix = "revoked_user/";  // user id -> "<revoked through> <expires>"

} // namespace

domain::outcome<domain::unit_t> revocation_list::load(int64_t now_s) {
  std::unique_lock lock(mutex_);
  store::write_batch expired;
  std::vector<std::pair<std::string, entry>> loaded;
  auto scanned = store_.scan(store::column::meta, token_prefix, {}, [&](std::string_view key, std::string_view value) {
    entry e;
    std::istringstream in{std::string(value)};
    in >> e.expires_at_s >> e.user_id >> e.issued_at_s; // a value from before users were recorded: expiry only
    if (e.expires_at_s > now_s)
      loaded.emplace_back(std::string(key.substr(token_prefix.size())), e);
    else
      expired.erase(store::column::meta, key);
    return true;
  });
  if (!scanned)
    return scanned.error();
  scanned = store_.scan(store::column::meta, user_prefix, {}, [&](std::string_view key, std::string_view value) {
    user_revocations u;
    std::istringstream in{std::string(value)};
    in >> u.revoked_through_s >> u.watermark_expires_s;
    if (u.watermark_expires_s > now_s)
      users_[std::string(key.substr(user_prefix.size()))] = u;
    else
      expired.erase(store::column::meta, key);
    return true;
  });
  if (!scanned)
    return scanned.error();
  // The ended sessions recorded in the shards (every shard is held here, as a voter or a learner).
  for (domain::shard_id shard = 0; shard < store_.shard_count(); ++shard)
    if (auto done = scan_shard(shard, now_s, loaded); !done)
      return done.error();
  lock.unlock();
  revoke_oldest_first(loaded, now_s);
  lock.lock();
  if (!expired.empty())
    store_.commit(expired);
  last_prune_s_ = now_s;
  return domain::unit;
}

void revocation_list::track_locked(const std::string& token_id, const entry& e) {
  revoked_[token_id] = e;
  if (!e.user_id.empty())
    users_[e.user_id].tokens.emplace_back(e.issued_at_s, token_id);
}

void revocation_list::revoke(const token_claims& token, int64_t now_s) {
  std::unique_lock lock(mutex_);
  if (token.expires_at_s <= now_s || revoked_.count(token.token_id))
    return;
  auto u = users_.find(token.user_id);
  if (u != users_.end() && token.issued_at_s <= u->second.revoked_through_s)
    return; // covered by the watermark already
  auto& user = users_[token.user_id];
  // Fold the oldest past the limit into the watermark: memory stays bounded, and it only ever revokes more.
  auto count = user.tokens.size() + 1;
  while (count > per_user_limit_ && !user.tokens.empty()) {
    auto [issued, id] = user.tokens.front();
    user.tokens.pop_front();
    --count;
    user.revoked_through_s = std::max(user.revoked_through_s, issued);
    if (auto it = revoked_.find(id); it != revoked_.end()) {
      user.watermark_expires_s = std::max(user.watermark_expires_s, it->second.expires_at_s);
      revoked_.erase(it);
    }
  }
  track_locked(token.token_id, entry{token.expires_at_s, token.user_id, token.issued_at_s});
  if (now_s - last_prune_s_ > 60)
    prune_locked(now_s);
}

domain::outcome<domain::unit_t> revocation_list::scan_shard(domain::shard_id shard, int64_t now_s,
                                                            std::vector<std::pair<std::string, entry>>& out) const {
  auto prefix = domain::shard_prefix(shard) + actors::keys::ended_sessions_prefix;
  auto from = domain::shard_prefix(shard) + actors::keys::ended_sessions_until(now_s);
  return store_.scan(store::column::indexes, prefix, from, [&](std::string_view, std::string_view value) {
    domain::ended_session s;
    if (codec::decode(value, s) && s.expires_at_s > now_s)
      out.emplace_back(s.token_id, entry{s.expires_at_s, s.user_id, s.issued_at_s});
    return true;
  });
}

domain::outcome<domain::unit_t> revocation_list::load_shard(domain::shard_id shard, int64_t now_s) {
  std::vector<std::pair<std::string, entry>> loaded;
  if (auto done = scan_shard(shard, now_s, loaded); !done)
    return done;
  revoke_oldest_first(loaded, now_s);
  return domain::unit;
}

void revocation_list::revoke_oldest_first(std::vector<std::pair<std::string, entry>>& loaded, int64_t now_s) {
  // Oldest first, so that folding past the per-user limit keeps the newest as entries.
  std::sort(loaded.begin(), loaded.end(),
            [](auto& a, auto& b) { return a.second.issued_at_s < b.second.issued_at_s; });
  for (auto& [id, e] : loaded)
    revoke(token_claims{e.user_id, {}, domain::role::customer, id, e.issued_at_s, e.expires_at_s}, now_s);
}

void revocation_list::revoke(const domain::ended_session& s, int64_t now_s) {
  token_claims t;
  t.user_id = s.user_id;
  t.token_id = s.token_id;
  t.issued_at_s = s.issued_at_s;
  t.expires_at_s = s.expires_at_s;
  revoke(t, now_s);
}

void revocation_list::prune_locked(int64_t now_s) {
  store::write_batch batch;
  for (auto it = revoked_.begin(); it != revoked_.end();) {
    if (it->second.expires_at_s <= now_s) {
      batch.erase(store::column::meta, token_prefix + it->first);
      it = revoked_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = users_.begin(); it != users_.end();) {
    auto& u = it->second;
    while (!u.tokens.empty() && !revoked_.count(u.tokens.front().second))
      u.tokens.pop_front();
    if (u.revoked_through_s >= 0 && u.watermark_expires_s <= now_s) {
      batch.erase(store::column::meta, user_prefix + it->first);
      u.revoked_through_s = -1;
    }
    it = u.tokens.empty() && u.revoked_through_s < 0 ? users_.erase(it) : std::next(it);
  }
  if (!batch.empty())
    store_.commit(batch);
  last_prune_s_ = now_s;
}

bool revocation_list::is_revoked(const token_claims& token) const {
  std::shared_lock lock(mutex_);
  if (revoked_.count(token.token_id))
    return true;
  auto u = users_.find(token.user_id);
  return u != users_.end() && token.issued_at_s <= u->second.revoked_through_s;
}

size_t revocation_list::size() const {
  std::shared_lock lock(mutex_);
  size_t watermarks = 0;
  for (auto& [id, u] : users_)
    watermarks += u.revoked_through_s >= 0 ? 1 : 0;
  return revoked_.size() + watermarks;
}

} // namespace bento::node
