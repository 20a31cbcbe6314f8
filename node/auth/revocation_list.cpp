#include "node/auth/revocation_list.hpp"

#include "actors/store/entity_store.hpp"

namespace bento::node {

namespace {
const std::string prefix = "revoked/";
}

domain::outcome<domain::unit_t> revocation_list::load(int64_t now_s) {
  std::unique_lock lock(mutex_);
  store::write_batch expired;
  auto scanned = store_.scan(store::column::meta, prefix, {}, [&](std::string_view key, std::string_view value) {
    int64_t exp = std::strtoll(std::string(value).c_str(), nullptr, 10);
    if (exp > now_s)
      revoked_[std::string(key.substr(prefix.size()))] = exp;
    else
      expired.erase(store::column::meta, key);
    return true;
  });
  if (!scanned)
    return scanned.error();
  if (!expired.empty())
    store_.commit(expired);
  last_prune_s_ = now_s;
  return domain::unit;
}

domain::outcome<domain::unit_t> revocation_list::revoke(const std::string& token_id, int64_t expires_at_s,
                                                        int64_t now_s) {
  store::write_batch batch;
  batch.put(store::column::meta, prefix + token_id, std::to_string(expires_at_s));
  auto done = store_.commit(batch);
  if (!done)
    return done.error();
  std::unique_lock lock(mutex_);
  revoked_[token_id] = expires_at_s;
  if (now_s - last_prune_s_ > 60)
    prune_locked(now_s);
  return domain::unit;
}

void revocation_list::prune_locked(int64_t now_s) {
  store::write_batch batch;
  for (auto it = revoked_.begin(); it != revoked_.end();) {
    if (it->second <= now_s) {
      batch.erase(store::column::meta, prefix + it->first);
      it = revoked_.erase(it);
    } else {
      ++it;
    }
  }
  if (!batch.empty())
    store_.commit(batch);
  last_prune_s_ = now_s;
}

bool revocation_list::is_revoked(const std::string& token_id) const {
  std::shared_lock lock(mutex_);
  return revoked_.count(token_id) > 0;
}

size_t revocation_list::size() const {
  std::shared_lock lock(mutex_);
  return revoked_.size();
}

} // namespace bento::node
