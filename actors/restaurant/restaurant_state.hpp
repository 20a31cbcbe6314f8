#pragma once
// Rules of one restaurant entity (restaurant/<id>): its menu, its stock, and what it holds for each order.
// It is the single writer of its stock, which is what makes "all items or none" reservation atomic.
//
// The stock model (docs/architecture.md, "Stock rules"):
// - A plain item (daily_stock == 0) has one pool of free units (`stock`), whatever the order's day. Units an
//   order holds came from the pool of the item's current declaration (`generation`) or are frozen: taken
//   under an earlier declaration (before a delete and re-create, or a kind switch). Releasing frozen units
//   gives nothing back, so a re-declared pool is exactly what the merchant said.
// - Every item has a per-day count of used units (held by live orders for that day, or delivered). A daily
//   item (daily_stock > 0) offers daily_stock less that count on each day; the count follows the item id
//   through deletes and kind switches, so no day ever sells more than its daily stock.
// - "Today" never moves backwards: the restaurant keeps the latest day it has seen, so a clock stepped back
//   (NTP, a changed BENTO_TZ) cannot reopen a day that has passed.
// - Each reservation carries the order's change number: a repeated change is answered without changing
//   anything, an older one is refused, and settle() tells an order whether its interrupted change happened.
// - Reservations are not all in memory: a popular restaurant has one per open order, and loading them all made
//   its activation (on the failover path) grow with its history. The actor reads an order's record before a
//   command about it (see restaurant_records.hpp) and evicts records once their writes have landed. Every
//   command below assumes the record of its order is in memory if it exists (reservation_known()).
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::actors {

/// What a command changed, for the actor to persist in one batch and publish as events.
struct restaurant_change {
  bool restaurant_changed = false;
  bool meta_changed = false;
  std::vector<std::string> upserted_items;  // item records changed by the merchant ("menu.item_upserted")
  std::vector<std::string> stock_items;     // items whose free stock orders changed (their stock records)
  std::vector<std::string> deleted_items;
  std::vector<std::string> reservations_put;    // records new or changed (possibly emptied to a tombstone)
  std::vector<std::string> reservations_erased;
  std::vector<std::pair<std::string, std::string>> changed_day_used; // (day, item); 0 units = erase
  std::vector<std::pair<std::string, std::string>> tombstones_put;    // (day, order): index entries
  std::vector<std::pair<std::string, std::string>> tombstones_erased;
  bool clock_regressed = false; // the caller's "today" was behind the latest day seen: log it

  bool empty() const noexcept {
    return !restaurant_changed && !meta_changed && upserted_items.empty() && stock_items.empty()
           && deleted_items.empty() && reservations_put.empty() && reservations_erased.empty()
           && changed_day_used.empty() && tombstones_put.empty() && tombstones_erased.empty();
  }
};

template <class T>
struct with_change {
  T value;
  restaurant_change change;
};

/// Used units per day and item: day -> item -> units.
using day_book = std::map<std::string, std::map<std::string, int64_t>>;

class restaurant_state {
public:
  bool exists() const noexcept { return info_.has_value(); }
  const std::optional<domain::restaurant>& info() const noexcept { return info_; }
  const std::map<std::string, domain::menu_item>& items() const noexcept { return items_; }
  /// The reservations in memory: all of them only after a full load (tests, the upgrade of old records).
  const std::map<std::string, domain::reservation>& reservations() const noexcept { return reservations_; }
  /// Whether the order's reservation is in memory, or known not to exist: a command about the order may run.
  bool reservation_known(const std::string& order_id) const {
    return reservations_.count(order_id) != 0 || absent_.count(order_id) != 0;
  }
  /// Drops the order's record from memory (its writes have landed: the store has it as it is here).
  void forget_reservation(const std::string& order_id) {
    reservations_.erase(order_id);
    absent_.erase(order_id);
  }
  /// Whether every reservation record must be loaded before finish_load() (records of an older layout).
  bool needs_all_reservations() const noexcept {
    return info_.has_value() && (!meta_loaded_ || meta_.records_layout < domain::restaurant_records_layout);
  }
  const day_book& used() const noexcept { return used_; }
  int64_t used(const std::string& day, const std::string& item_id) const;
  const domain::restaurant_meta& meta() const noexcept { return meta_; }
  /// Units of the item the reservations in memory hold under its current declaration (those that go back to
  /// `stock` when released).
  int64_t held_in_pool(const std::string& item_id) const;
  /// The day orders and menus are judged by: the later of the caller's today and the latest day seen.
  std::string effective_today(const std::string& today) const;
  /// Moves the restaurant's day forward to `today` (never back) and forgets the counts of closed days. The
  /// actor persists it before each reservation command, which then judges by effective_today().
  restaurant_change advance_day(const std::string& today);
  /// One entry of the tombstone index whose day has closed: the tombstone goes (if the order's record is still
  /// that tombstone; the order's record must be known), and so does the entry.
  void forget_tombstone(const std::string& day, const std::string& order_id, restaurant_change& change);

  // Loading from the store; call finish_load() after the last record.
  void load(domain::restaurant r) { info_ = std::move(r); }
  void load(domain::menu_item i);
  void load(domain::reservation r);
  void load(domain::restaurant_meta m);
  void load_used(const std::string& day, const std::string& item_id, int64_t units);
  /// An item's stock record (keys::item_stock_record), newer than its item record: loaded after the items.
  void load_stock(const std::string& item_id, int64_t stock, uint64_t version);
  /// Derives what is kept in memory only and upgrades records written by earlier versions; the returned
  /// change (empty for current records) must be persisted before the restaurant serves anything.
  restaurant_change finish_load();

  domain::outcome<with_change<domain::restaurant>> create(const domain::create_restaurant& cmd, int64_t now_ms);

  domain::outcome<with_change<domain::upsert_result>> upsert_item(const domain::upsert_menu_item& cmd);
  domain::outcome<with_change<domain::upsert_result>> patch_item(const domain::patch_menu_item& cmd);
  domain::outcome<restaurant_change> delete_item(const domain::delete_menu_item& cmd);

  /// The menu with each item's stock for `day` (today when empty, malformed or past).
  domain::menu_snapshot menu(const std::string& today, const std::string& day = {}) const;

  /// Sets the reservation for cmd.order_id to exactly cmd.lines, all or none.
  domain::outcome<with_change<domain::reservation_result>> reserve(const domain::set_reservation& cmd,
                                                                   const std::string& today);

  /// Whether the order's change cmd.seq was applied, and what is held; fences it off if it was not.
  with_change<domain::settle_result> settle(const domain::settle_reservation& cmd, const std::string& today);

  /// The order was delivered: its units are consumed (they stay used for their day; no stock comes back).
  restaurant_change finalize(const domain::finalize_reservation& cmd, const std::string& today);

private:
  std::optional<domain::failure> check_owner(const domain::principal& caller) const;
  std::optional<domain::failure> check_version(const std::string& item_id, std::optional<uint64_t> if_match) const;
  /// Units an order for `day` may still take.
  int64_t available(const domain::menu_item& item, const std::string& day) const;
  void add_used(const std::string& day, const std::string& item_id, int64_t delta, restaurant_change& change);
  uint64_t next_version() { return ++version_counter_; }
  /// Sets a new or changed item's pool: the same pool when a plain item stays plain, else a new declaration.
  std::optional<domain::failure> declare(domain::menu_item& item, const domain::menu_item* before,
                                         std::optional<int64_t> stock);
  domain::outcome<with_change<domain::upsert_result>> store_item(domain::menu_item item, bool created);
  /// Of the units a reservation holds of an item, those in the item's current pool.
  int64_t pool_units(const domain::reservation& r, const std::string& item_id, int64_t qty) const;
  /// Stores the order's record and keeps the tombstone index in step with it.
  void put_reservation(domain::reservation record, restaurant_change& change);

  std::optional<domain::restaurant> info_;
  std::map<std::string, domain::menu_item> items_;
  std::map<std::string, domain::reservation> reservations_;
  day_book used_;
  domain::restaurant_meta meta_;
  bool meta_loaded_ = false;
  uint64_t version_counter_ = 0;
  std::set<std::string> absent_; // orders whose records were erased here (until forgotten)
};

} // namespace bento::actors
