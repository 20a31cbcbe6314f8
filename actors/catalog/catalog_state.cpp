#include "actors/catalog/catalog_state.hpp"

#include <algorithm>
#include <cctype>

#include "protocol/domain/calendar.hpp"
#include "protocol/domain/ids.hpp"

namespace bento::actors {

using namespace bento::domain;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

} // namespace

std::string catalog_state::item_key(const std::string& place, const std::string& rid, const std::string& iid) {
  std::string key = place;
  key.push_back('\0');
  key += rid;
  key.push_back('\0');
  key += iid;
  return key;
}

std::string catalog_state::restaurant_key(const restaurant& r) {
  return r.place + '\0' + r.name + '\0' + r.id;
}

void catalog_state::load(const restaurant& r) {
  auto old = restaurants_.find(r.id);
  if (old != restaurants_.end())
    restaurants_by_place_.erase(restaurant_key(old->second));
  restaurants_[r.id] = r;
  restaurants_by_place_[restaurant_key(r)] = r.id;
}

void catalog_state::load(const menu_item& item) {
  put_item(item);
}

namespace {
std::string promise_key(const std::string& rid, const std::string& iid, const std::string& day) {
  return rid + '\0' + iid + '\0' + day;
}
} // namespace

void catalog_state::load_promise(const std::string& rid, const std::string& day, const std::string& iid,
                                 int64_t units) {
  if (units > 0)
    promised_[promise_key(rid, iid, day)] = units;
  else
    promised_.erase(promise_key(rid, iid, day));
}

int64_t catalog_state::promised(const std::string& rid, const std::string& iid, const std::string& day) const {
  auto it = promised_.find(promise_key(rid, iid, day));
  return it == promised_.end() ? 0 : it->second;
}

void catalog_state::put_item(const menu_item& item) {
  auto r = restaurants_.find(item.restaurant_id);
  if (r == restaurants_.end())
    return;
  items_[item_key(r->second.place, item.restaurant_id, item.id)] = item;
}

void catalog_state::erase_item(const std::string& rid, const std::string& iid) {
  auto r = restaurants_.find(rid);
  if (r != restaurants_.end())
    items_.erase(item_key(r->second.place, rid, iid));
}

void catalog_state::apply(const event& ev) {
  if (auto* r = std::get_if<restaurant>(&ev.payload)) {
    load(*r);
  } else if (auto* item = std::get_if<menu_item>(&ev.payload)) {
    if (ev.type == "menu.item_deleted")
      erase_item(item->restaurant_id, item->id);
    else
      put_item(*item);
  } else if (auto* promises = std::get_if<std::vector<stock_level>>(&ev.payload);
             promises && (ev.type == "stock.day_used" || ev.type == "stock.promised")) {
    // Units used on a day (held or delivered); "stock.promised" is what earlier versions wrote.
    for (auto& p : *promises)
      load_promise(ev.restaurant_id, p.stock_date, p.item_id, p.stock);
  } else if (auto* levels = std::get_if<std::vector<stock_level>>(&ev.payload)) {
    auto r = restaurants_.find(ev.restaurant_id);
    if (r == restaurants_.end())
      return;
    for (auto& level : *levels) {
      auto it = items_.find(item_key(r->second.place, ev.restaurant_id, level.item_id));
      if (it != items_.end()) {
        it->second.stock = level.stock;
        if (level.version > 0)
          it->second.version = level.version;
      }
    }
  }
}

outcome<menu_page> catalog_state::query(const menu_query& q, const std::string& today) const {
  menu_page page;
  auto limit = std::clamp<uint32_t>(q.limit, 1, 100); // the edges check it; a peer's query may not have
  std::string start;
  if (!q.cursor.empty() && !from_hex(q.cursor, start))
    return fail(errc::invalid_argument, "cursor is not valid");
  if (!q.place.empty() && !start.empty() && start.rfind(q.place + '\0', 0) != 0)
    return fail(errc::invalid_argument, "cursor does not belong to this query");
  auto it = start.empty() ? items_.lower_bound(q.place.empty() ? std::string() : q.place + '\0')
                          : items_.upper_bound(start);
  auto text = lower(q.text);
  const auto& day = is_valid_date(q.date) ? q.date : today;
  std::string last_key;
  size_t scanned = 0;
  for (; it != items_.end(); ++it) {
    auto& item = it->second;
    auto r = restaurants_.find(item.restaurant_id);
    if (r == restaurants_.end())
      continue;
    if (!q.place.empty() && r->second.place != q.place)
      break; // keys are ordered by place first
    if (++scanned > scan_budget) {
      // A rare filter over a large place: answer with what was found and a cursor past what was looked at,
      // rather than hold the catalog (and every other reader) for a scan of the whole place.
      page.next_cursor = to_hex(std::prev(it)->first);
      break;
    }
    if (!q.tag.empty() && std::find(item.tags.begin(), item.tags.end(), q.tag) == item.tags.end())
      continue;
    if (q.for_meal && !item.meals.empty()
        && std::find(item.meals.begin(), item.meals.end(), *q.for_meal) == item.meals.end())
      continue;
    if (!text.empty() && lower(item.name).find(text) == std::string::npos
        && lower(item.description).find(text) == std::string::npos)
      continue;
    if (page.items.size() == limit) {
      page.next_cursor = to_hex(last_key);
      break;
    }
    page.items.push_back(catalog_entry{r->second.name, item});
    auto& shown = page.items.back().item;
    if (item.daily_stock > 0) {
      // A daily item offers daily_stock on each day, less what orders for that day use.
      auto shown_day = day > today ? day : today;
      shown.stock = std::max<int64_t>(0, item.daily_stock - promised(item.restaurant_id, item.id, shown_day));
      shown.stock_date = shown_day;
    }
    last_key = it->first;
  }
  return page;
}

outcome<restaurant_list> catalog_state::restaurants(const restaurants_query& q) const {
  restaurant_list out;
  std::string start;
  if (!q.cursor.empty() && !from_hex(q.cursor, start))
    return fail(errc::invalid_argument, "cursor is not valid");
  auto prefix = q.place.empty() ? std::string() : q.place + '\0';
  if (!start.empty() && start.rfind(prefix, 0) != 0)
    return fail(errc::invalid_argument, "cursor does not belong to this query");
  auto limit = std::clamp<uint32_t>(q.limit, 1, 500);
  auto it = start.empty() ? restaurants_by_place_.lower_bound(prefix) : restaurants_by_place_.upper_bound(start);
  std::string last_key;
  for (; it != restaurants_by_place_.end() && it->first.rfind(prefix, 0) == 0; ++it) {
    if (out.restaurants.size() == limit) {
      out.next_cursor = to_hex(last_key);
      break;
    }
    out.restaurants.push_back(restaurants_.at(it->second));
    last_key = it->first;
  }
  return out;
}

} // namespace bento::actors
