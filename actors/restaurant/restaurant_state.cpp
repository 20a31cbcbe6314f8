#include "actors/restaurant/restaurant_state.hpp"

#include <algorithm>

#include "protocol/domain/calendar.hpp"
#include "protocol/domain/validation.hpp"

namespace bento::actors {

using namespace bento::domain;

namespace {

const reservation_hold* hold_of(const reservation& r, const std::string& item_id) {
  for (auto& h : r.holds)
    if (h.item_id == item_id)
      return &h;
  return nullptr;
}

std::map<std::string, int64_t> quantities(const std::vector<order_line>& lines) {
  std::map<std::string, int64_t> out;
  for (auto& l : lines)
    out[l.item_id] += l.qty;
  return out;
}

bool is_plain(const menu_item& item) {
  return item.daily_stock <= 0;
}

/// An item's descriptive fields from validated input, tags and meals sorted and unique.
void describe(menu_item& item, const menu_item_input& in) {
  item.name = in.name;
  item.description = in.description;
  item.price_cents = in.price_cents;
  item.daily_stock = in.daily_stock;
  item.tags = in.tags;
  std::sort(item.tags.begin(), item.tags.end());
  item.tags.erase(std::unique(item.tags.begin(), item.tags.end()), item.tags.end());
  item.meals = in.meals;
  std::sort(item.meals.begin(), item.meals.end());
  item.meals.erase(std::unique(item.meals.begin(), item.meals.end()), item.meals.end());
  item.image_url = in.image_url;
}

} // namespace

// --- reading ------------------------------------------------------------------------------------------------

int64_t restaurant_state::used(const std::string& day, const std::string& item_id) const {
  auto d = used_.find(day);
  if (d == used_.end())
    return 0;
  auto i = d->second.find(item_id);
  return i == d->second.end() ? 0 : i->second;
}

int64_t restaurant_state::held_in_pool(const std::string& item_id) const {
  int64_t units = 0;
  for (auto& [oid, r] : reservations_)
    for (auto& l : r.lines)
      if (l.item_id == item_id)
        units += pool_units(r, item_id, l.qty);
  return units;
}

int64_t restaurant_state::pool_units(const reservation& r, const std::string& item_id, int64_t qty) const {
  auto it = items_.find(item_id);
  if (it == items_.end() || !is_plain(it->second))
    return 0;
  auto* h = hold_of(r, item_id);
  // A record without holds was written before holds existed: its units belong to the item's first pool.
  uint64_t generation = h ? h->generation : 0;
  int64_t frozen = h ? h->frozen : 0;
  if (generation != it->second.generation)
    return 0;
  return std::clamp<int64_t>(qty - frozen, 0, qty);
}

std::string restaurant_state::effective_today(const std::string& today) const {
  return std::max(today, meta_.last_today);
}

int64_t restaurant_state::available(const menu_item& item, const std::string& day) const {
  if (is_plain(item))
    return item.stock;
  return std::max<int64_t>(0, item.daily_stock - used(day, item.id));
}

menu_snapshot restaurant_state::menu(const std::string& today_in, const std::string& day) const {
  menu_snapshot view;
  if (info_)
    view.info = *info_;
  auto today = effective_today(today_in);
  auto shown = day > today && is_valid_date(day) ? day : today;
  view.items.reserve(items_.size());
  for (auto& [id, item] : items_) {
    view.items.push_back(item);
    auto& shown_item = view.items.back();
    shown_item.stock = available(item, shown);
    shown_item.stock_date = is_plain(item) ? std::string() : shown;
  }
  return view;
}

// --- loading ------------------------------------------------------------------------------------------------

void restaurant_state::load(menu_item i) {
  version_counter_ = std::max(version_counter_, i.version);
  auto id = i.id;
  items_[id] = std::move(i);
}

void restaurant_state::load_stock(const std::string& item_id, int64_t stock, uint64_t version) {
  auto it = items_.find(item_id);
  if (it == items_.end())
    return; // written and erased with its item record: none is left without one
  it->second.stock = stock;
  it->second.version = version;
  version_counter_ = std::max(version_counter_, version);
}

void restaurant_state::load(reservation r) {
  auto id = r.order_id;
  absent_.erase(id);
  reservations_[id] = std::move(r);
}

void restaurant_state::load(restaurant_meta m) {
  meta_ = std::move(m);
  meta_loaded_ = true;
  version_counter_ = std::max(version_counter_, meta_.last_version);
}

void restaurant_state::load_used(const std::string& day, const std::string& item_id, int64_t units) {
  if (units > 0)
    used_[day][item_id] = units;
}

restaurant_change restaurant_state::finish_load() {
  restaurant_change change;
  if (!info_)
    return change;
  if (meta_.records_layout < restaurant_records_layout) {
    // Records of a layout without the tombstone index: every reservation was loaded; index its tombstones.
    for (auto& [oid, r] : reservations_)
      if (r.lines.empty())
        change.tombstones_put.emplace_back(r.date, oid);
    meta_.records_layout = restaurant_records_layout;
    meta_.last_version = std::max(meta_.last_version, version_counter_);
    change.meta_changed = true;
  }
  if (meta_loaded_)
    return change;
  // Written by a version that kept a daily item's stock of one day in its record and counted only promises
  // for later days (and nothing for plain items): rebuild the per-day counts that version implied.
  for (auto& [id, item] : items_) {
    if (!is_plain(item) && !item.stock_date.empty()) {
      auto units = std::max<int64_t>(0, item.daily_stock - item.stock);
      if (units != used(item.stock_date, id)) {
        add_used(item.stock_date, id, units - used(item.stock_date, id), change);
      }
    }
  }
  for (auto& [oid, r] : reservations_) {
    for (auto& l : r.lines) {
      auto it = items_.find(l.item_id);
      if (it != items_.end() && is_plain(it->second) && !r.date.empty())
        add_used(r.date, l.item_id, l.qty, change);
    }
  }
  meta_.last_version = version_counter_;
  change.meta_changed = true;
  meta_loaded_ = true;
  return change;
}

// --- the merchant's side ---------------------------------------------------------------------------------------

std::optional<failure> restaurant_state::check_owner(const principal& caller) const {
  if (!info_)
    return fail(errc::not_found, "restaurant not found");
  if (caller.role != role::merchant || caller.user_id != info_->owner_id)
    return fail(errc::forbidden, "only the restaurant's merchant may change it");
  return std::nullopt;
}

std::optional<failure> restaurant_state::check_version(const std::string& item_id,
                                                       std::optional<uint64_t> if_match) const {
  if (!if_match)
    return std::nullopt;
  auto it = items_.find(item_id);
  if (it == items_.end() || it->second.version != *if_match)
    return fail(errc::precondition_failed, "the item changed since version " + std::to_string(*if_match)
                                             + " was read; read it again");
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
  meta_loaded_ = true;
  meta_.records_layout = restaurant_records_layout;
  restaurant_change change;
  change.restaurant_changed = true;
  change.meta_changed = true; // its presence marks the records as this version's
  return with_change<restaurant>{std::move(r), std::move(change)};
}

std::optional<failure> restaurant_state::declare(menu_item& item, const menu_item* before,
                                                 std::optional<int64_t> stock) {
  if (!is_plain(item)) {
    item.stock = 0;
    item.stock_date.clear();
    item.generation = before ? before->generation : 0;
    return std::nullopt;
  }
  item.stock_date.clear();
  if (before && is_plain(*before)) {
    // The same pool: the merchant may restate its free units (If-Match guards against a stale read).
    item.generation = before->generation;
    item.stock = stock.value_or(before->stock);
    return std::nullopt;
  }
  if (!stock)
    return fail(errc::invalid_argument, "stock is required when an item becomes plain (daily_stock 0)");
  // A new declaration: units orders hold from before it are frozen and give nothing back to this pool.
  item.generation = item.version;
  item.stock = *stock;
  return std::nullopt;
}

outcome<with_change<upsert_result>> restaurant_state::store_item(menu_item item, bool created) {
  restaurant_change change;
  change.upserted_items.push_back(item.id);
  items_[item.id] = item;
  return with_change<upsert_result>{upsert_result{std::move(item), created}, std::move(change)};
}

outcome<with_change<upsert_result>> restaurant_state::upsert_item(const upsert_menu_item& cmd) {
  if (auto f = check_owner(cmd.caller))
    return *f;
  if (auto f = check_id("item id", cmd.item_id))
    return *f;
  if (auto f = check_menu_item(cmd.input))
    return *f;
  auto it = items_.find(cmd.item_id);
  bool created = it == items_.end();
  if (cmd.if_none_match && !created)
    return fail(errc::precondition_failed, "the item exists (If-None-Match: *)");
  if (auto f = check_version(cmd.item_id, cmd.if_match))
    return *f;
  if (created && items_.size() >= max_menu_items)
    return fail(errc::invalid_argument,
                "a menu holds at most " + std::to_string(max_menu_items) + " items; delete one first");
  menu_item item;
  item.restaurant_id = info_->id;
  item.id = cmd.item_id;
  describe(item, cmd.input);
  item.version = next_version();
  // PUT states the whole item; for a daily item the stock it read back is computed, so it is not restated.
  if (auto f = declare(item, created ? nullptr : &it->second, cmd.input.stock))
    return *f;
  return store_item(std::move(item), created);
}

outcome<with_change<upsert_result>> restaurant_state::patch_item(const patch_menu_item& cmd) {
  if (auto f = check_owner(cmd.caller))
    return *f;
  auto it = items_.find(cmd.item_id);
  if (it == items_.end())
    return fail(errc::not_found, "menu item not found");
  if (auto f = check_version(cmd.item_id, cmd.if_match))
    return *f;
  const auto& before = it->second;
  menu_item_input in{before.name,  before.description, before.price_cents, before.stock, before.daily_stock,
                     before.tags,  before.meals,       before.image_url};
  if (cmd.name)
    in.name = *cmd.name;
  if (cmd.description)
    in.description = *cmd.description;
  if (cmd.price_cents)
    in.price_cents = *cmd.price_cents;
  if (cmd.stock)
    in.stock = *cmd.stock;
  if (cmd.daily_stock)
    in.daily_stock = *cmd.daily_stock;
  if (cmd.tags)
    in.tags = *cmd.tags;
  if (cmd.meals)
    in.meals = *cmd.meals;
  if (cmd.image_url)
    in.image_url = *cmd.image_url;
  if (auto f = check_menu_item(in))
    return *f;
  if (cmd.stock && in.daily_stock > 0)
    return fail(errc::invalid_argument,
                "a daily item's stock is daily_stock less what orders for the day use; change daily_stock");
  menu_item item = before;
  describe(item, in);
  item.version = next_version();
  if (auto f = declare(item, &before, cmd.stock))
    return *f;
  return store_item(std::move(item), false);
}

outcome<restaurant_change> restaurant_state::delete_item(const delete_menu_item& cmd) {
  if (auto f = check_owner(cmd.caller))
    return *f;
  auto it = items_.find(cmd.item_id);
  if (it == items_.end())
    return fail(errc::not_found, "menu item not found");
  if (auto f = check_version(cmd.item_id, cmd.if_match))
    return *f;
  // Orders holding the item keep it (frozen): they may shrink or drop it but not raise it, and its per-day
  // counts stay, so an item re-created under the same id cannot sell a day twice. Its version is kept so a
  // re-created item never reuses a version someone read before.
  items_.erase(it);
  restaurant_change change;
  change.deleted_items.push_back(cmd.item_id);
  meta_.last_version = version_counter_;
  change.meta_changed = true;
  return change;
}

// --- orders' side ---------------------------------------------------------------------------------------------

void restaurant_state::add_used(const std::string& day, const std::string& item_id, int64_t delta,
                                restaurant_change& change) {
  if (delta == 0 || day.empty())
    return;
  auto units = used(day, item_id) + delta;
  if (units > 0) {
    used_[day][item_id] = units;
  } else {
    // Below zero only for a day already forgotten (released after it closed): nothing left to count.
    auto d = used_.find(day);
    if (d != used_.end()) {
      d->second.erase(item_id);
      if (d->second.empty())
        used_.erase(d);
    }
  }
  change.changed_day_used.emplace_back(day, item_id);
}

restaurant_change restaurant_state::advance_day(const std::string& today_in) {
  restaurant_change change;
  if (!info_ || !is_valid_date(today_in))
    return change;
  if (today_in < meta_.last_today)
    change.clock_regressed = true;
  if (today_in <= meta_.last_today)
    return change;
  meta_.last_today = today_in;
  meta_.last_version = std::max(meta_.last_version, version_counter_);
  change.meta_changed = true;
  // Closed days cannot be ordered for again, so their counts and their tombstones can go.
  for (auto d = used_.begin(); d != used_.end() && d->first < today_in;) {
    for (auto& [item, units] : d->second)
      change.changed_day_used.emplace_back(d->first, item);
    d = used_.erase(d);
  }
  return change;
}

void restaurant_state::forget_tombstone(const std::string& day, const std::string& order_id,
                                        restaurant_change& change) {
  change.tombstones_erased.emplace_back(day, order_id);
  auto r = reservations_.find(order_id);
  // The entry may be stale (the order held units again after it was written: its record says so, and the
  // write that changed it erased the entry too), or the day may not have closed yet.
  if (r == reservations_.end() || !r->second.lines.empty() || r->second.date != day || day >= meta_.last_today)
    return;
  reservations_.erase(r);
  absent_.insert(order_id);
  change.reservations_erased.push_back(order_id);
}

void restaurant_state::put_reservation(reservation record, restaurant_change& change) {
  auto id = record.order_id;
  auto old = reservations_.find(id);
  std::optional<std::string> old_tomb, new_tomb;
  if (old != reservations_.end() && old->second.lines.empty())
    old_tomb = old->second.date;
  if (record.lines.empty())
    new_tomb = record.date;
  if (old_tomb != new_tomb) {
    if (old_tomb)
      change.tombstones_erased.emplace_back(*old_tomb, id);
    if (new_tomb)
      change.tombstones_put.emplace_back(*new_tomb, id);
  }
  absent_.erase(id);
  reservations_[id] = std::move(record);
  change.reservations_put.push_back(id);
}

outcome<with_change<reservation_result>> restaurant_state::reserve(const set_reservation& cmd,
                                                                   const std::string& today_in) {
  if (!info_)
    return fail(errc::not_found, "restaurant not found");
  // Edges check the date; a peer's command is checked again here, since the day keys stored counts.
  if (!cmd.date.empty() && !is_valid_date(cmd.date))
    return fail(errc::invalid_argument, "date must be a real day as YYYY-MM-DD");
  restaurant_change change;
  auto today = effective_today(today_in);
  auto old = reservations_.find(cmd.order_id);
  bool has_old = old != reservations_.end();
  if (has_old && cmd.seq != 0 && old->second.seq > cmd.seq)
    return fail(errc::superseded, "a later change of this order was applied already");
  if (has_old && cmd.seq != 0 && old->second.seq == cmd.seq) {
    // The change this order applied last, sent again (a retry): answer what is held. Another change under
    // the same number (it was fenced off empty, say) must not pass for it.
    if (old->second.fenced || quantities(cmd.lines) != quantities(old->second.lines))
      return fail(errc::superseded, "this change number was settled differently already");
    reservation_result same{*info_, old->second.lines};
    return with_change<reservation_result>{std::move(same), std::move(change)};
  }
  // The day whose stock a daily item's units come from: the order's. A reservation keeps its day.
  auto day = !cmd.date.empty() ? cmd.date : has_old && !old->second.date.empty() ? old->second.date : today;
  if (has_old && !old->second.lines.empty() && !old->second.date.empty() && old->second.date != day)
    return fail(errc::invalid_argument, "an order's day cannot change");
  std::map<std::string, int64_t> wanted;
  for (auto& l : cmd.lines) {
    if (l.qty < 1 || l.qty > max_line_qty)
      return fail(errc::invalid_argument, "qty must be between 1 and " + std::to_string(max_line_qty), l.item_id);
    if (auto f = check_id("item_id", l.item_id))
      return *f;
    wanted[l.item_id] += l.qty;
    if (wanted[l.item_id] > max_line_qty)
      return fail(errc::invalid_argument, "qty must be between 1 and " + std::to_string(max_line_qty), l.item_id);
  }
  if (wanted.size() > max_order_lines)
    return fail(errc::invalid_argument, "at most " + std::to_string(max_order_lines) + " items per order");
  auto before = has_old ? quantities(old->second.lines) : std::map<std::string, int64_t>{};
  std::map<std::string, int64_t> deltas;
  for (auto& [id, qty] : wanted)
    deltas[id] += qty;
  for (auto& [id, qty] : before)
    deltas[id] -= qty;
  // Check everything before changing anything. Only growth is checked: giving units back is always granted,
  // whatever happened to the item or the day since.
  std::optional<bool> too_far; // the day past the last one orders may be for (computed once, when needed)
  for (auto& [id, delta] : deltas) {
    if (delta <= 0)
      continue;
    auto found = items_.find(id);
    if (found == items_.end())
      return fail(errc::invalid_argument, "unknown menu item", id);
    auto& item = found->second;
    if (day < today)
      return fail(errc::invalid_argument, "the order's day has passed; its items cannot be raised", id);
    if (!too_far)
      too_far = day > add_days(today, max_days_ahead);
    if (*too_far)
      return fail(errc::invalid_argument, "date must be within " + std::to_string(max_days_ahead) + " days", id);
    if (cmd.for_meal && !item.meals.empty()
        && std::find(item.meals.begin(), item.meals.end(), *cmd.for_meal) == item.meals.end())
      return fail(errc::meal_unavailable, "item is not served at " + std::string(to_string(*cmd.for_meal)), id);
    if (delta > available(item, day))
      return fail(errc::out_of_stock, "not enough stock for " + item.name, id);
  }
  std::map<std::string, int64_t> stock_before;
  for (auto& [id, delta] : deltas)
    if (auto it = items_.find(id); it != items_.end())
      stock_before[id] = it->second.stock;
  reservation record;
  record.order_id = cmd.order_id;
  record.date = day;
  record.seq = std::max(cmd.seq, has_old ? old->second.seq : 0);
  for (auto& [id, qty] : wanted) {
    auto delta = deltas[id];
    int64_t held_before = before.count(id) ? before[id] : 0;
    int64_t pool = has_old ? pool_units(old->second, id, held_before) : 0;
    int64_t frozen = held_before - pool;
    auto it = items_.find(id);
    order_line line{id, {}, 0, static_cast<int32_t>(qty)};
    if (it != items_.end()) {
      line.name = it->second.name;
      line.price_cents = it->second.price_cents;
    } else {
      for (auto& l : old->second.lines)
        if (l.item_id == id) {
          line.name = l.name;
          line.price_cents = l.price_cents;
        }
    }
    record.lines.push_back(std::move(line));
    if (delta > 0 && it != items_.end() && is_plain(it->second)) {
      it->second.stock -= delta;
      pool += delta;
    } else if (delta < 0) {
      // Frozen units go first: they never return to the pool; what is left comes out of the pool's share.
      auto release = -delta;
      auto from_frozen = std::min(frozen, release);
      frozen -= from_frozen;
      auto from_pool = release - from_frozen;
      pool -= from_pool;
      if (from_pool > 0 && it != items_.end() && is_plain(it->second))
        it->second.stock += from_pool;
    }
    bool in_pool = it != items_.end() && is_plain(it->second);
    record.holds.push_back(reservation_hold{id, in_pool ? it->second.generation : 0, qty - (in_pool ? pool : 0)});
  }
  // Lines dropped entirely: their units go back like any other release.
  for (auto& [id, qty] : before) {
    if (wanted.count(id))
      continue;
    auto it = items_.find(id);
    auto pool = pool_units(old->second, id, qty);
    if (pool > 0 && it != items_.end())
      it->second.stock += pool;
  }
  for (auto& [id, delta] : deltas)
    if (delta != 0)
      add_used(day, id, delta, change);
  for (auto& [id, stock] : stock_before) {
    auto& item = items_.at(id);
    if (item.stock != stock) {
      item.version = next_version();
      change.stock_items.push_back(id);
    }
  }
  reservation_result result{*info_, record.lines};
  bool unchanged = has_old && record.lines.empty() && old->second.lines.empty() && record.seq == old->second.seq;
  if (!unchanged)
    put_reservation(std::move(record), change);
  return with_change<reservation_result>{std::move(result), std::move(change)};
}

with_change<settle_result> restaurant_state::settle(const settle_reservation& cmd, const std::string& today_in) {
  with_change<settle_result> out;
  if (!info_) {
    out.value.restaurant_exists = false;
    return out;
  }
  auto today = effective_today(today_in);
  out.value.held.info = *info_;
  auto it = reservations_.find(cmd.order_id);
  if (it != reservations_.end()) {
    out.value.held.lines = it->second.lines;
    if (cmd.seq == 0)
      return out; // an intent written before change numbers: the order compares lines itself
    if (it->second.seq >= cmd.seq) {
      // A fence under this very number says "not applied" again: settling twice must not read it as done
      // (an order would roll forward to the fence's empty lines and show as placed with nothing in it).
      out.value.applied = it->second.seq == cmd.seq && !it->second.fenced;
      return out;
    }
  } else if (cmd.seq == 0) {
    return out;
  }
  // Not applied. Fence it: a copy of that change still on its way is refused from now on (superseded).
  // The fence must outlive the change it stops: a change for day D can apply only until D has passed, and
  // records are forgotten after their day, so it keeps the latest day involved.
  reservation record = it != reservations_.end() ? it->second : reservation{};
  record.order_id = cmd.order_id;
  record.seq = cmd.seq;
  record.fenced = true;
  auto day = !cmd.date.empty() && is_valid_date(cmd.date) ? cmd.date : today;
  if (record.lines.empty())
    record.date = std::max(record.date, day);
  put_reservation(std::move(record), out.change);
  return out;
}

restaurant_change restaurant_state::finalize(const finalize_reservation& cmd, const std::string& today_in) {
  restaurant_change change;
  if (!info_)
    return change;
  auto today = effective_today(today_in);
  auto it = reservations_.find(cmd.order_id);
  if (it == reservations_.end()) {
    if (cmd.seq == 0)
      return change;
    reservation record;
    record.order_id = cmd.order_id;
    record.seq = cmd.seq;
    record.date = today;
    put_reservation(std::move(record), change);
    return change;
  }
  if (it->second.lines.empty() && it->second.seq >= cmd.seq)
    return change; // already consumed (or fenced): nothing to do
  // Consumed: the units leave the held total but stay counted for their day, and no pool gets them back.
  auto record = it->second;
  record.lines.clear();
  record.holds.clear();
  record.seq = std::max(record.seq, cmd.seq);
  record.fenced = false;
  if (record.date.empty())
    record.date = today;
  put_reservation(std::move(record), change);
  return change;
}

} // namespace bento::actors
