#pragma once
// Which reservation records a restaurant keeps in memory. A record may leave memory only once the store holds it
// as memory does: in a replicated shard the write that last changed it must have landed here first, or a read
// from the store would bring back an older version. The most recently used records stay, up to `capacity`.
#include <cstddef>
#include <deque>
#include <string>
#include <unordered_map>

#include "actors/store/shard_store.hpp"

namespace bento::actors {

class reservation_cache {
public:
  explicit reservation_cache(size_t capacity) : capacity_(capacity) {}

  /// The order's record was read (an empty mark) or written with the writes up to `mark`.
  void touch(const std::string& order_id, store::write_mark mark) {
    ++uses_[order_id];
    order_.push_back(entry{order_id, mark});
  }

  /// Evicts the least recently used records while more than `capacity` are kept (or the use list is more than
  /// twice that long), stopping at the first whose write has not landed (`landed(mark)`): marks are in order.
  template <class Landed, class Evict>
  void trim(Landed&& landed, Evict&& evict) {
    while ((uses_.size() > capacity_ || order_.size() > 2 * capacity_) && !order_.empty()) {
      auto& oldest = order_.front();
      if (!landed(oldest.mark))
        return;
      auto it = uses_.find(oldest.order_id);
      if (--it->second == 0) { // its last use: nothing newer keeps it
        evict(oldest.order_id);
        uses_.erase(it);
      }
      order_.pop_front();
    }
  }

  size_t size() const noexcept { return uses_.size(); }

private:
  struct entry {
    std::string order_id;
    store::write_mark mark;
  };
  size_t capacity_;
  std::deque<entry> order_;
  std::unordered_map<std::string, size_t> uses_;
};

} // namespace bento::actors
