#include "actors/user/login_guard.hpp"

#include <algorithm>

namespace bento::actors {

namespace {

std::string pair_key(const std::string& username, const std::string& address) {
  // NUL never occurs in an address; a username with one cannot collide with another pair either way.
  return address + '\0' + username;
}

int64_t wait_of(int64_t locked_until, int64_t now) {
  return locked_until > now ? locked_until - now : 0;
}

} // namespace

bool local_login_guard::stale(const entry& e, int64_t now_ms) const {
  return e.locked_until_ms <= now_ms && now_ms - e.last_ms > policy_.forget_after_ms;
}

void local_login_guard::sweep(int64_t now_ms) {
  if (now_ms - last_sweep_ms_ < 60'000)
    return;
  last_sweep_ms_ = now_ms;
  for (auto* t : {&pairs_, &addresses_})
    for (auto it = t->begin(); it != t->end();)
      it = stale(it->second, now_ms) ? t->erase(it) : std::next(it);
}

int64_t local_login_guard::retry_after_ms(const std::string& username, const std::string& address, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  int64_t wait = 0;
  if (auto a = addresses_.find(address); a != addresses_.end())
    wait = std::max(wait, wait_of(a->second.locked_until_ms, now_ms));
  if (auto p = pairs_.find(pair_key(username, address)); p != pairs_.end())
    wait = std::max(wait, wait_of(p->second.locked_until_ms, now_ms));
  return wait;
}

void local_login_guard::count_failure(table& t, const std::string& key, int free_failures, int64_t now_ms) {
  auto it = t.find(key);
  if (it == t.end()) {
    if (t.size() >= policy_.max_entries) {
      // Full even after sweeping: drop one entry that holds no lockout, so that memory stays bounded and no
      // lockout in force can be flushed out by filling the table.
      for (auto victim = t.begin(); victim != t.end(); ++victim)
        if (victim->second.locked_until_ms <= now_ms) {
          t.erase(victim);
          break;
        }
      if (t.size() >= policy_.max_entries)
        return;
    }
    it = t.emplace(key, entry{}).first;
  }
  auto& e = it->second;
  if (e.failures > 0 && now_ms - e.last_ms > policy_.forget_after_ms && e.locked_until_ms <= now_ms)
    e.failures = 0;
  ++e.failures;
  e.last_ms = now_ms;
  if (e.failures >= free_failures) {
    auto doublings = std::min(e.failures - free_failures, 20);
    e.locked_until_ms = now_ms + std::min(policy_.base_lockout_ms << doublings, policy_.max_lockout_ms);
  }
}

void local_login_guard::record_failure(const std::string& username, const std::string& address, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  sweep(now_ms);
  count_failure(pairs_, pair_key(username, address), policy_.pair_free_failures, now_ms);
  count_failure(addresses_, address, policy_.address_free_failures, now_ms);
}

void local_login_guard::record_success(const std::string& username, const std::string& address, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  sweep(now_ms);
  // Only this user's own count from this address: the address's failures on other names stand.
  pairs_.erase(pair_key(username, address));
}

size_t local_login_guard::size() {
  std::lock_guard lock(mutex_);
  return pairs_.size() + addresses_.size();
}

} // namespace bento::actors
