#pragma once
// The menu read model: every restaurant and item of this node, indexed by place, fed by menu and stock events.
// GET /menu reads it instead of asking every restaurant actor.
#include <map>
#include <string>
#include <unordered_map>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::actors {

class catalog_state {
public:
  void apply(const domain::event& ev);
  void load(const domain::restaurant& r);
  void load(const domain::menu_item& item);
  /// Units of a resetting item promised to orders for `day` (from "stock.promised"): taken off that day's stock.
  void load_promise(const std::string& rid, const std::string& day, const std::string& iid, int64_t units);

  /// Items looked at by one query at most; a page may then hold fewer than `limit` items and still a cursor.
  static constexpr size_t scan_budget = 5000;

  /// Items ordered by (place, restaurant id, item id); the cursor is the last key looked at, hex-encoded.
  domain::outcome<domain::menu_page> query(const domain::menu_query& q, const std::string& today) const;
  /// Restaurants ordered by (place, name, id), from an index, so one page costs O(page); same cursor scheme.
  domain::outcome<domain::restaurant_list> restaurants(const domain::restaurants_query& q) const;

  size_t item_count() const noexcept { return items_.size(); }
  size_t restaurant_count() const noexcept { return restaurants_.size(); }

private:
  static std::string item_key(const std::string& place, const std::string& rid, const std::string& iid);
  void put_item(const domain::menu_item& item);
  void erase_item(const std::string& rid, const std::string& iid);

  static std::string restaurant_key(const domain::restaurant& r);

  std::unordered_map<std::string, domain::restaurant> restaurants_;
  std::map<std::string, std::string> restaurants_by_place_; // restaurant_key -> id
  std::unordered_map<std::string, int64_t> promised_;        // rid \0 iid \0 day -> units
  int64_t promised(const std::string& rid, const std::string& iid, const std::string& day) const;
  std::map<std::string, domain::menu_item> items_; // item_key -> item
};

} // namespace bento::actors
