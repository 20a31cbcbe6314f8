#pragma once
// Menus an edge may hand out without asking their restaurant. A menu read is the hottest request there is, and
// through the actors it costs three thread hand-offs (edge -> bridge -> restaurant -> edge) for an answer the
// restaurant already holds, built and encoded. The restaurant pins here each menu it answered while all its
// writes were committed, and takes them all down before its next change is written, when it activates (what an
// earlier activation left) and when it stops. So a pinned menu is always what the restaurant would answer now:
// a reader that finds one may answer with it, one that finds none asks the restaurant as before.
// In a cluster a pinned menu counts only while this node serves the shard (leads it with a lease, as the router
// requires of a read) in the write epoch the restaurant wrote it in: a node that lost the lead, even one that
// has not noticed yet, answers nothing from here.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/shards.hpp"

namespace bento::store {
class shard_store;
}

namespace bento::actors {

class menu_board {
public:
  /// `clock`: the wall clock restaurants judge "today" by (ms; empty: the system's). `serves`: whether this
  /// node may serve a shard's reads now (empty: every shard, a node alone).
  explicit menu_board(std::function<int64_t()> clock = {}, std::function<bool(domain::shard_id)> serves = {});

  /// A menu the restaurant answered for (today, date) with nothing of its shard pending, written in write epoch
  /// `epoch` of `store` (the restaurant's own shard).
  void pin(const std::string& restaurant_id, const store::shard_store& store, uint64_t epoch,
           const std::string& today, const std::string& date, const domain::menu_view& menu);
  /// Takes down everything pinned for the restaurant (before a change is written; activation; exit).
  void unpin(const std::string& restaurant_id);

  /// The menu the restaurant would answer now for `date` (empty: today), if one is pinned and still counts.
  std::optional<domain::menu_view> find(const std::string& restaurant_id, const std::string& date) const;

  size_t restaurants() const;
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

  /// Menus kept per restaurant: a few days are asked for; a reader walking the calendar starts the list over.
  static constexpr size_t menus_per_restaurant = 4;

private:
  struct pinned {
    const store::shard_store* store = nullptr;
    uint64_t epoch = 0;
    std::vector<std::pair<std::pair<std::string, std::string>, domain::menu_view>> menus; // (today, date)
  };
  struct bucket {
    mutable std::mutex mutex;
    std::unordered_map<std::string, pinned> by_restaurant;
  };
  bucket& bucket_of(const std::string& restaurant_id) const;

  std::function<int64_t()> clock_;
  std::function<bool(domain::shard_id)> serves_;
  // Few restaurants are read at once, but every HTTP thread reads and every restaurant pins: locks by hash.
  mutable std::array<bucket, 16> buckets_;
  mutable std::atomic<uint64_t> hits_{0}, misses_{0};
};

} // namespace bento::actors
