#include "actors/restaurant/menu_board.hpp"

#include "actors/store/shard_store.hpp"
#include "protocol/domain/calendar.hpp"

namespace bento::actors {

menu_board::menu_board(std::function<int64_t()> clock, std::function<bool(domain::shard_id)> serves)
  : clock_(std::move(clock)), serves_(std::move(serves)) {}

menu_board::bucket& menu_board::bucket_of(const std::string& restaurant_id) const {
  return buckets_[std::hash<std::string>{}(restaurant_id) % buckets_.size()];
}

void menu_board::pin(const std::string& restaurant_id, const store::shard_store& store, uint64_t epoch,
                     const std::string& today, const std::string& date, const domain::menu_view& menu) {
  auto& b = bucket_of(restaurant_id);
  std::lock_guard lock(b.mutex);
  auto& p = b.by_restaurant[restaurant_id];
  if (p.store != &store || p.epoch != epoch || p.menus.size() >= menus_per_restaurant) {
    p.menus.clear();
    p.store = &store;
    p.epoch = epoch;
  }
  for (auto& [key, m] : p.menus)
    if (key.first == today && key.second == date) {
      m = menu;
      return;
    }
  p.menus.emplace_back(std::make_pair(today, date), menu);
}

void menu_board::unpin(const std::string& restaurant_id) {
  auto& b = bucket_of(restaurant_id);
  std::lock_guard lock(b.mutex);
  b.by_restaurant.erase(restaurant_id);
}

std::optional<domain::menu_view> menu_board::find(const std::string& restaurant_id, const std::string& date) const {
  // The restaurant keys its menus by the caller's today as the clock says it, like this.
  auto today = domain::local_date(clock_ ? clock_() : domain::now_ms());
  auto& b = bucket_of(restaurant_id);
  std::optional<domain::menu_view> found;
  const store::shard_store* store = nullptr;
  uint64_t epoch = 0;
  {
    std::lock_guard lock(b.mutex);
    auto it = b.by_restaurant.find(restaurant_id);
    if (it != b.by_restaurant.end()) {
      for (auto& [key, m] : it->second.menus)
        if (key.first == today && key.second == date) {
          found = m;
          store = it->second.store;
          epoch = it->second.epoch;
          break;
        }
    }
  }
  // Checked after the lookup, so that a lead lost while looking counts against the menu found.
  if (found && (store->epoch() != epoch || (serves_ && !serves_(store->shard()))))
    found.reset();
  (found ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  return found;
}

size_t menu_board::restaurants() const {
  size_t n = 0;
  for (auto& b : buckets_) {
    std::lock_guard lock(b.mutex);
    n += b.by_restaurant.size();
  }
  return n;
}

} // namespace bento::actors
