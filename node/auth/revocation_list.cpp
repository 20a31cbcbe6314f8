#include "node/auth/revocation_list.hpp"

#include <algorithm>
#include <sstream>
#include <vector>

#include "actors/store/entity_store.hpp"

namespace bento::node {

namespace {

const std::string token_prefix = "revoked/";     // token id -> "<expires> <user id> <issued>"
const std::string user_prefix = "revoked_user/";  // user id -> "<revoked through> <expires>"

std::string token_value(int64_t expires, const std::string& user_id, int64_t issued) {
  return std::to_string(expires) + " " + user_id + " " + std::to_string(issued);
}

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
  std::sort(loaded.begin(), loaded.end(),
            [](auto& a, auto& b) { return a.second.issued_at_s < b.second.issued_at_s; });
  for (auto& [id, e] : loaded)
    track_locked(id, e);
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

domain::outcome<domain::unit_t> revocation_list::revoke(const token_claims& token, int64_t now_s) {
  std::unique_lock lock(mutex_);
  store::write_batch batch;
  batch.put(store::column::meta, token_prefix + token.token_id,
            token_value(token.expires_at_s, token.user_id, token.issued_at_s));
  auto& user = users_[token.user_id];
  // Fold the oldest past the limit into the watermark (written in the same batch).
  std::vector<std::string> folded;
  auto count = user.tokens.size() + 1;
  for (size_t i = 0; count > per_user_limit_ && i < user.tokens.size(); ++i, --count) {
    auto& [issued, id] = user.tokens[i];
    user.revoked_through_s = std::max(user.revoked_through_s, issued);
    if (auto it = revoked_.find(id); it != revoked_.end())
      user.watermark_expires_s = std::max(user.watermark_expires_s, it->second.expires_at_s);
    folded.push_back(id);
    batch.erase(store::column::meta, token_prefix + id);
  }
  if (!folded.empty())
    batch.put(store::column::meta, user_prefix + token.user_id,
              std::to_string(user.revoked_through_s) + " " + std::to_string(user.watermark_expires_s));
  auto done = store_.commit(batch);
  if (!done)
    return done.error();
  for (auto& id : folded) {
    revoked_.erase(id);
    user.tokens.pop_front();
  }
  track_locked(token.token_id, entry{token.expires_at_s, token.user_id, token.issued_at_s});
  if (now_s - last_prune_s_ > 60)
    prune_locked(now_s);
  return domain::unit;
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
