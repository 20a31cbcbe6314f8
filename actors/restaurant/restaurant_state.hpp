#pragma once
// Rules of one restaurant entity (restaurant/<id>): its menu, its stock, and what it holds for each open order.
// It is the single writer of its stock, which is what makes "all items or none" reservation atomic.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::actors {

/// What a command changed, for the actor to persist in one batch and publish as events.
struct restaurant_change {
  bool restaurant_changed = false;
  std::vector<std::string> changed_items;   // ids whose record (stock or fields) changed
  std::vector<std::string> deleted_items;
  std::optional<std::string> reservation_put;   // order id whose reservation record is new or changed
  std::optional<std::string> reservation_erased;
  std::vector<std::pair<std::string, std::string>> changed_promises; // (day, item); gone from promised() = erase
};

template <class T>
struct with_change {
  T value;
  restaurant_change change;
};

/// Stock of an item as seen on `today`: a resetting item (daily_stock > 0) starts each day at daily_stock less
/// what orders for that day promised before it came (`promised_today`).
int64_t effective_stock(const domain::menu_item& item, const std::string& today, int64_t promised_today = 0);

/// Units of resetting items promised to orders for later days: day -> item -> units.
using promise_book = std::map<std::string, std::map<std::string, int64_t>>;

class restaurant_state {
public:
  bool exists() const noexcept { return info_.has_value(); }
  const std::optional<domain::restaurant>& info() const noexcept { return info_; }
  const std::map<std::string, domain::menu_item>& items() const noexcept { return items_; }
  const std::map<std::string, domain::reservation>& reservations() const noexcept { return reservations_; }

  void load(domain::restaurant r) { info_ = std::move(r); }
  void load(domain::menu_item i) { auto id = i.id; items_[id] = std::move(i); }
  void load(domain::reservation r) { auto id = r.order_id; reservations_[id] = std::move(r); }
  void load_promise(const std::string& day, const std::string& item_id, int64_t units) {
    promised_[day][item_id] = units;
  }
  const promise_book& promised() const noexcept { return promised_; }
  int64_t promised(const std::string& day, const std::string& item_id) const;

  domain::outcome<with_change<domain::restaurant>> create(const domain::create_restaurant& cmd, int64_t now_ms);

  domain::outcome<with_change<domain::upsert_result>> upsert_item(const domain::upsert_menu_item& cmd,
                                                                  const std::string& today);

  domain::outcome<restaurant_change> delete_item(const domain::delete_menu_item& cmd);

  /// The menu with each item's stock for `day` (today when empty or past).
  domain::menu_view menu(const std::string& today, const std::string& day = {}) const;

  /// Sets the reservation for cmd.order_id to exactly cmd.lines, all or none.
  domain::outcome<with_change<domain::reservation_result>> reserve(const domain::set_reservation& cmd,
                                                                           const std::string& today);

  restaurant_change finalize(const std::string& order_id);

private:
  std::optional<domain::failure> check_owner(const domain::principal& caller) const;
  /// Applies the daily reset to an item before it is read or changed; true when it changed the item. Promises
  /// for today are folded into the fresh stock, and promises for days gone by are dropped.
  bool refresh(domain::menu_item& item, const std::string& today, restaurant_change& change);
  /// Forgets the item's promises up to `last_day` (inclusive; every day when empty).
  void drop_promises(const std::string& item_id, const std::string& last_day, restaurant_change& change);
  /// Units an order for `day` (today or later) may still take: one pool for a plain item, the day's own for a
  /// resetting one.
  int64_t available(const domain::menu_item& item, const std::string& day, const std::string& today) const;

  std::optional<domain::restaurant> info_;
  std::map<std::string, domain::menu_item> items_;
  std::map<std::string, domain::reservation> reservations_;
  promise_book promised_;
};

} // namespace bento::actors
