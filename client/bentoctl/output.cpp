#include "client/bentoctl/output.hpp"

#include <cstdio>
#include <ctime>

namespace bentoctl {

std::string iso8601(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

std::string to_string(bc::role r) {
  return r == bc::role::merchant ? "merchant" : r == bc::role::customer ? "customer" : "";
}

std::string to_string(bc::meal m) {
  switch (m) {
    case bc::meal::breakfast: return "breakfast";
    case bc::meal::lunch: return "lunch";
    case bc::meal::dinner: return "dinner";
    default: return "";
  }
}

std::string to_string(bc::order_status s) {
  switch (s) {
    case bc::order_status::placed: return "placed";
    case bc::order_status::confirmed: return "confirmed";
    case bc::order_status::delivered: return "delivered";
    case bc::order_status::cancelled: return "cancelled";
    default: return "";
  }
}

namespace {

json cursor(const std::string& c) {
  return c.empty() ? json() : json(c);
}

} // namespace

json to_json(const bc::user& u) {
  return {{"id", u.id}, {"username", u.username}, {"email", u.email}, {"role", to_string(u.role)},
          {"place", u.place}, {"created_at", iso8601(u.created_at_ms)}};
}

json to_json(const bc::session& s) {
  return {{"token", s.token}, {"expires_at", iso8601(s.expires_at_ms)}, {"user", to_json(s.user)}};
}

json to_json(const bc::restaurant& r) {
  return {{"id", r.id}, {"name", r.name}, {"place", r.place}, {"owner_id", r.owner_id},
          {"created_at", iso8601(r.created_at_ms)}};
}

json to_json(const bc::menu_item& i, bool with_restaurant) {
  json meals = json::array();
  for (auto m : i.meals)
    meals.push_back(to_string(m));
  json j = {{"id", i.id},           {"name", i.name},           {"description", i.description},
            {"price_cents", i.price_cents}, {"stock", i.stock}, {"daily_stock", i.daily_stock},
            {"tags", i.tags},       {"meals", meals},           {"image_url", i.image_url},
            {"version", i.version}};
  if (i.daily_stock > 0 && !i.stock_date.empty())
    j["stock_date"] = i.stock_date;
  if (with_restaurant) {
    j["restaurant_id"] = i.restaurant_id;
    j["restaurant_name"] = i.restaurant_name;
  }
  return j;
}

json to_json(const bc::order& o) {
  json items = json::array();
  for (auto& l : o.lines)
    items.push_back({{"item_id", l.item_id}, {"name", l.name}, {"price_cents", l.price_cents}, {"qty", l.qty}});
  return {{"id", o.id},
          {"status", to_string(o.status)},
          {"customer_id", o.customer_id},
          {"restaurant_id", o.restaurant_id},
          {"restaurant_name", o.restaurant_name},
          {"items", items},
          {"total_cents", o.total_cents},
          {"meal", to_string(o.meal)},
          {"date", o.date},
          {"note", o.note},
          {"merchant_note", o.merchant_note},
          {"created_at", iso8601(o.created_at_ms)},
          {"updated_at", iso8601(o.updated_at_ms)}};
}

json to_json(const bc::restaurant_list& l) {
  json out = json::array();
  for (auto& r : l.restaurants)
    out.push_back(to_json(r));
  return {{"restaurants", out}, {"next_cursor", cursor(l.next_cursor)}};
}

json to_json(const bc::menu& m) {
  json items = json::array();
  for (auto& i : m.items)
    items.push_back(to_json(i));
  return {{"restaurant", to_json(m.restaurant)}, {"items", items}};
}

json to_json(const bc::menu_page& p) {
  json items = json::array();
  for (auto& i : p.items)
    items.push_back(to_json(i, true));
  return {{"items", items}, {"next_cursor", cursor(p.next_cursor)}};
}

json to_json(const bc::order_list& l) {
  json out = json::array();
  for (auto& o : l.orders)
    out.push_back(to_json(o));
  return {{"orders", out}, {"next_cursor", cursor(l.next_cursor)}};
}

json to_json(const bc::cluster_status& s) {
  json members = json::array();
  for (auto& m : s.members)
    members.push_back({{"id", m.id},
                       {"address", m.address},
                       {"client_address", m.client_address},
                       {"state", m.state},
                       {"incarnation", m.incarnation},
                       {"shards_led", m.shards_led},
                       {"shards_replicated", m.shards_replicated}});
  return {{"clustered", s.clustered}, {"node", s.node_id}, {"shards", s.shards}, {"replicas", s.replicas},
          {"members", members}};
}

std::string table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(headers.size());
  for (size_t c = 0; c < headers.size(); ++c)
    width[c] = headers[c].size();
  for (auto& r : rows)
    for (size_t c = 0; c < r.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], r[c].size());
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < width.size(); ++c) {
      auto cell = c < cells.size() ? cells[c] : std::string();
      out += cell;
      if (c + 1 < width.size())
        out += std::string(width[c] - cell.size() + 2, ' ');
    }
    out += '\n';
  };
  line(headers);
  for (auto& r : rows)
    line(r);
  return out;
}

std::string money(int64_t cents) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%lld.%02lld", cents < 0 ? "-" : "", static_cast<long long>(std::llabs(cents) / 100),
                static_cast<long long>(std::llabs(cents) % 100));
  return buf;
}

} // namespace bentoctl
