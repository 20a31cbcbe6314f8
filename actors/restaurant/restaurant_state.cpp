#include "actors/restaurant/restaurant_state.hpp"

#include <algorithm>

#include "protocol/domain/calendar.hpp"
#include "protocol/domain/validation.hpp"

namespace bento::actors {

using namespace bento::domain;

int64_t effective_stock(const menu_item& item, const std::string& today, int64_t promised_today) {
  if (item.daily_stock > 0 && item.stock_date < today)
    return std::max<int64_t>(0, item.daily_stock - promised_today);
  return item.stock;
}

int64_t restaurant_state::promised(const std::string& day, const std::string& item_id) const {
  auto d = promised_.find(day);
  if (d == promised_.end())
    return 0;
  auto i = d->second.find(item_id);
  return i == d->second.end() ? 0 : i->second;
}

void restaurant_state::drop_promises(const std::string& item_id, const std::string& last_day,
                                     restaurant_change& change) {
  for (auto d = promised_.begin(); d != promised_.end() && (last_day.empty() || d->first <= last_day);) {
    if (d->second.erase(item_id) > 0)
      change.changed_promises.emplace_back(d->first, item_id);
    d = d->second.empty() ? promised_.erase(d) : std::next(d);
  }
}

bool restaurant_state::refresh(menu_item& item, const std::string& today, restaurant_change& change) {
  if (item.daily_stock > 0 && item.stock_date < today) {
    item.stock = effective_stock(item, today, promised(today, item.id));
    item.stock_date = today;
    drop_promises(item.id, today, change);
    return true;
  }
  return false;
}

int64_t restaurant_state::available(const menu_item& item, const std::string& day, const std::string& today) const {
  if (item.daily_stock <= 0 || day <= today)
    return effective_stock(item, today, promised(today, item.id));
  return std::max<int64_t>(0, item.daily_stock - promised(day, item.id));
}

std::optional<failure> restaurant_state::check_owner(const principal& caller) const {
  if (!info_)
    return fail(errc::not_found, "restaurant not found");
  if (caller.role != role::merchant || caller.user_id != info_->owner_id)
    return fail(errc::forbidden, "only the restaurant's merchant may change it");
  return std::nullopt;
}

outcome<with_change<restaurant>> restaurant_state::create(const create_restaurant& cmd, int64_t now_ms) {
  if (cmd.caller.role != role::merchant)
    return fail(errc::forbidden, "only merchants may create restaurants");
  if (auto f = check_text("name", cmd.name, max_name_length, true))
    return *f;
  if (auto f = check_text("place", cmd.place, max_place_length, true))
    return *f;
  if (info_)
    return fail(errc::already_exists, "restaurant exists");
  restaurant r{cmd.restaurant_id, cmd.name, cmd.place, cmd.caller.user_id, now_ms, 1};
  info_ = r;
  restaurant_change change;
  change.restaurant_changed = true;
  return with_change<restaurant>{std::move(r), std::move(change)};
}

outcome<with_change<upsert_result>> restaurant_state::upsert_item(const upsert_menu_item& cmd,
                                                                  const std::string& today) {
  if (auto f = check_owner(cmd.caller))
    return *f;
  if (auto f = check_id("item id", cmd.item_id))
    return *f;
  if (auto f = check_menu_item(cmd.input))
    return *f;
  auto it = items_.find(cmd.item_id);
  bool created = it == items_.end();
  if (created && items_.size() >= max_menu_items)
    return fail(errc::invalid_argument,
                "a menu holds at most " + std::to_string(max_menu_items) + " items; delete one first");
  menu_item item;
  item.restaurant_id = info_->id;
  item.id = cmd.item_id;
  item.name = cmd.input.name;
  item.description = cmd.input.description;
  item.price_cents = cmd.input.price_cents;
  item.stock = cmd.input.stock;
  item.daily_stock = cmd.input.daily_stock;
  item.stock_date = today;
  item.tags = cmd.input.tags;
  std::sort(item.tags.begin(), item.tags.end());
  item.tags.erase(std::unique(item.tags.begin(), item.tags.end()), item.tags.end());
  item.meals = cmd.input.meals;
  std::sort(item.meals.begin(), item.meals.end());
  item.image_url = cmd.input.image_url;
  item.version = created ? 1 : it->second.version + 1;
  items_[item.id] = item;
  restaurant_change change;
  change.changed_items.push_back(item.id);
  // The merchant states today's stock outright; promises for later days stand.
  drop_promises(item.id, today, change);
  return with_change<upsert_result>{upsert_result{std::move(item), created}, std::move(change)};
}

outcome<restaurant_change> restaurant_state::delete_item(const delete_menu_item& cmd) {
  if (auto f = check_owner(cmd.caller))
    return *f;
  auto it = items_.find(cmd.item_id);
  if (it == items_.end())
    return fail(errc::not_found, "menu item not found");
  items_.erase(it);
  restaurant_change change;
  change.deleted_items.push_back(cmd.item_id);
  drop_promises(cmd.item_id, {}, change);
  return change;
}

menu_view restaurant_state::menu(const std::string& today, const std::string& day) const {
  menu_view view;
  if (info_)
    view.info = *info_;
  auto shown = day > today && is_valid_date(day) ? day : today;
  view.items.reserve(items_.size());
  for (auto& [id, item] : items_) {
    view.items.push_back(item);
    view.items.back().stock = available(item, shown, today);
    if (item.daily_stock > 0)
      view.items.back().stock_date = shown;
  }
  return view;
}

outcome<with_change<reservation_result>> restaurant_state::reserve(const set_reservation& cmd,
                                                                           const std::string& today) {
  if (!info_)
    return fail(errc::not_found, "restaurant not found");
  // Edges check the date; a peer's command is checked again here, since the day keys stored promises.
  if (!cmd.date.empty() && !is_valid_date(cmd.date))
    return fail(errc::invalid_argument, "date must be a real day as YYYY-MM-DD");
  auto old = reservations_.find(cmd.order_id);
  // The day whose stock a resetting item's units come from: the order's. A reservation keeps its day.
  auto day = !cmd.date.empty() ? cmd.date : old != reservations_.end() ? old->second.date : today;
  if (old != reservations_.end() && !old->second.date.empty() && old->second.date != day)
    return fail(errc::invalid_argument, "an order's day cannot change");
  // Wanted quantity per item (duplicate lines add up).
  std::map<std::string, int64_t> wanted;
  for (auto& l : cmd.lines) {
    if (l.qty < 1 || l.qty > max_line_qty)
      return fail(errc::invalid_argument, "qty must be between 1 and " + std::to_string(max_line_qty), l.item_id);
    auto it = items_.find(l.item_id);
    if (it == items_.end()) {
      wanted[l.item_id] += l.qty; // checked below: only what the order already holds may stay
      continue;
    }
    if (cmd.for_meal && !it->second.meals.empty()
        && std::find(it->second.meals.begin(), it->second.meals.end(), *cmd.for_meal) == it->second.meals.end())
      return fail(errc::meal_unavailable, "item is not served at " + std::string(to_string(*cmd.for_meal)),
                  l.item_id);
    wanted[l.item_id] += l.qty;
    if (wanted[l.item_id] > max_line_qty)
      return fail(errc::invalid_argument, "qty must be between 1 and " + std::to_string(max_line_qty), l.item_id);
  }
  // What this order already holds, per item, in the same pool it would draw from now.
  std::map<std::string, int64_t> held;
  if (old != reservations_.end())
    for (auto& l : old->second.lines)
      held[l.item_id] += l.qty;
  // An item deleted from the menu can stay in an order that already holds it, but cannot be added or raised.
  for (auto& [id, qty] : wanted)
    if (!items_.count(id) && qty > held[id])
      return fail(errc::invalid_argument, "unknown menu item", id);
  // Check everything before changing anything.
  std::map<std::string, int64_t> deltas;
  for (auto& [id, qty] : wanted)
    deltas[id] += qty;
  for (auto& [id, qty] : held)
    deltas[id] -= qty;
  for (auto& [id, delta] : deltas) {
    auto found = items_.find(id);
    if (found == items_.end() || delta <= 0)
      continue;
    auto& item = found->second;
    if (item.daily_stock > 0 && day < today)
      return fail(errc::invalid_argument, "the order's day has passed; its items cannot be raised", id);
    if (delta > available(item, day, today))
      return fail(errc::out_of_stock, "not enough stock for " + item.name, id);
  }
  restaurant_change change;
  for (auto& [id, delta] : deltas) {
    auto it = items_.find(id);
    if (it == items_.end())
      continue;
    auto& item = it->second;
    bool refreshed = refresh(item, today, change);
    if (item.daily_stock > 0 && day > today) {
      if (delta != 0) {
        auto& units = promised_[day][id];
        units += delta;
        if (units <= 0)
          promised_[day].erase(id);
        if (promised_[day].empty())
          promised_.erase(day);
        change.changed_promises.emplace_back(day, id);
      }
    } else if (item.daily_stock > 0 && day < today) {
      // That day's stock is gone: releasing gives nothing back to today's.
    } else if (delta != 0) {
      item.stock -= delta;
      refreshed = true;
    }
    if (refreshed)
      change.changed_items.push_back(id);
  }
  reservation_result result;
  result.info = *info_;
  reservation record{cmd.order_id, today, {}, day};
  for (auto& [id, qty] : wanted) {
    order_line line{id, {}, 0, static_cast<int32_t>(qty)};
    if (auto found = items_.find(id); found != items_.end()) {
      line.name = found->second.name;
      line.price_cents = found->second.price_cents;
    } else {
      for (auto& l : old->second.lines)
        if (l.item_id == id) {
          line.name = l.name;
          line.price_cents = l.price_cents;
        }
    }
    result.lines.push_back(line);
    record.lines.push_back(std::move(line));
  }
  if (wanted.empty()) {
    if (old != reservations_.end()) {
      reservations_.erase(old);
      change.reservation_erased = cmd.order_id;
    }
  } else {
    reservations_[cmd.order_id] = std::move(record);
    change.reservation_put = cmd.order_id;
  }
  return with_change<reservation_result>{std::move(result), std::move(change)};
}

restaurant_change restaurant_state::finalize(const std::string& order_id) {
  restaurant_change change;
  if (reservations_.erase(order_id) > 0)
    change.reservation_erased = order_id;
  return change;
}

} // namespace bento::actors
