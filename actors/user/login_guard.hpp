#pragma once
// The node's one throttle on failed logins. It lives at the node, not in the user actor: an actor's memory
// goes with its passivation or eviction, sooner for names that do not exist (whose lockout length then told
// whether an account exists). The user actor consults and feeds it, so in a cluster the counts of a username
// are kept by the node that leads the user's shard, whichever node the login came through; the edge checks
// its own node's guard first and counts malformed names there. Two counts, the same for known and unknown
// names:
// - per (username, address): a few free failures, then a lockout that doubles per failure. Keyed by the
//   address too, so that knowing a username does not let anyone lock its owner out;
// - per address, across usernames: more free failures, then the same progressive lockout, so spraying one
//   password over many names is slow. A success clears its own (username, address) count only; it never
//   wipes the address's failures (19 failures and one good login must not reset the count).
// The address count of a cluster is kept per node that leads usernames' shards: spraying names spread over
// N leaders meets N such counts. A change of a shard's leader starts its usernames' counts afresh.
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace bento::actors {

class login_guard {
public:
  virtual ~login_guard() = default;
  /// 0 when this username may be tried from this address now, else milliseconds to wait.
  virtual int64_t retry_after_ms(const std::string& username, const std::string& address, int64_t now_ms) = 0;
  virtual void record_failure(const std::string& username, const std::string& address, int64_t now_ms) = 0;
  virtual void record_success(const std::string& username, const std::string& address, int64_t now_ms) = 0;
};

struct login_guard_policy {
  int pair_free_failures = 5;     // per (username, address) before lockouts start
  int address_free_failures = 20; // per address, all usernames together
  int64_t base_lockout_ms = 1000; // first lockout; doubles per further failure
  int64_t max_lockout_ms = 15 * 60 * 1000;
  int64_t forget_after_ms = 15 * 60 * 1000; // a quiet period (and no lockout) forgets a count
  size_t max_entries = 200000;              // per table; memory stays bounded whatever clients send
};

/// One node's guard: in memory, swept, bounded.
class local_login_guard final : public login_guard {
public:
  explicit local_login_guard(login_guard_policy policy = {}) : policy_(policy) {}

  int64_t retry_after_ms(const std::string& username, const std::string& address, int64_t now_ms) override;
  void record_failure(const std::string& username, const std::string& address, int64_t now_ms) override;
  void record_success(const std::string& username, const std::string& address, int64_t now_ms) override;

  /// Entries held (for metrics and tests).
  size_t size();

private:
  struct entry {
    int failures = 0;
    int64_t last_ms = 0;
    int64_t locked_until_ms = 0;
  };
  using table = std::unordered_map<std::string, entry>;

  void sweep(int64_t now_ms);
  void count_failure(table& t, const std::string& key, int free_failures, int64_t now_ms);
  bool stale(const entry& e, int64_t now_ms) const;

  login_guard_policy policy_;
  std::mutex mutex_;
  table pairs_;
  table addresses_;
  int64_t last_sweep_ms_ = 0;
};

} // namespace bento::actors
