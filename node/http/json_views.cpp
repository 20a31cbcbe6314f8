#include "node/http/json_views.hpp"

#include <cstdio>
#include <ctime>

namespace bento::node::json_views {

using namespace bento::domain;

std::string iso8601(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

json to_json(const user_view& u) {
  return {{"id", u.id}, {"username", u.username}, {"email", u.email}, {"role", to_string(u.role)},
          {"place", u.place}, {"created_at", iso8601(u.created_at_ms)}};
}

json to_json(const restaurant& r) {
  return {{"id", r.id}, {"name", r.name}, {"place", r.place}, {"owner_id", r.owner_id},
          {"created_at", iso8601(r.created_at_ms)}};
}

json to_json(const menu_item& i) {
  json meals = json::array();
  for (auto m : i.meals)
    meals.push_back(to_string(m));
  json j = {{"id", i.id},
            {"name", i.name},
            {"description", i.description},
            {"price_cents", i.price_cents},
            {"stock", i.stock},
            {"daily_stock", i.daily_stock},
            {"tags", i.tags},
            {"meals", meals},
            {"image_url", i.image_url},
            {"version", i.version}};
  if (i.daily_stock > 0 && !i.stock_date.empty())
    j["stock_date"] = i.stock_date; // the day whose stock `stock` is
  return j;
}

json to_json(const order& o) {
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

// Keys in sorted order below: nlohmann's object is a std::map, and the writer's output matches its dump.

void write(json_writer& w, const restaurant& r) {
  w.begin_object()
    .field("created_at", iso8601(r.created_at_ms))
    .field("id", r.id)
    .field("name", r.name)
    .field("owner_id", r.owner_id)
    .field("place", r.place)
    .end_object();
}

void write(json_writer& w, const menu_item& i, const std::string* restaurant_name) {
  w.begin_object()
    .field("daily_stock", i.daily_stock)
    .field("description", i.description)
    .field("id", i.id)
    .field("image_url", i.image_url)
    .key("meals")
    .begin_array();
  for (auto m : i.meals)
    w.value(to_string(m));
  w.end_array().field("name", i.name).field("price_cents", i.price_cents);
  if (restaurant_name)
    w.field("restaurant_id", i.restaurant_id).field("restaurant_name", *restaurant_name);
  w.field("stock", i.stock);
  if (i.daily_stock > 0 && !i.stock_date.empty())
    w.field("stock_date", i.stock_date);
  w.key("tags").strings(i.tags).field("version", i.version).end_object();
}

void write(json_writer& w, const order& o) {
  w.begin_object()
    .field("created_at", iso8601(o.created_at_ms))
    .field("customer_id", o.customer_id)
    .field("date", o.date)
    .field("id", o.id)
    .key("items")
    .begin_array();
  for (auto& l : o.lines)
    w.begin_object()
      .field("item_id", l.item_id)
      .field("name", l.name)
      .field("price_cents", l.price_cents)
      .field("qty", l.qty)
      .end_object();
  w.end_array()
    .field("meal", to_string(o.meal))
    .field("merchant_note", o.merchant_note)
    .field("note", o.note)
    .field("restaurant_id", o.restaurant_id)
    .field("restaurant_name", o.restaurant_name)
    .field("status", to_string(o.status))
    .field("total_cents", o.total_cents)
    .field("updated_at", iso8601(o.updated_at_ms))
    .end_object();
}

json error_body(const failure& f) {
  json j = {{"error", to_string(f.code)}, {"message", f.message}};
  if (!f.item_id.empty() && (f.code == errc::out_of_stock || f.code == errc::meal_unavailable
                             || f.code == errc::invalid_argument))
    j["item_id"] = f.item_id;
  return j;
}

void reader::fail(std::string message) {
  if (!error_)
    error_ = domain::fail(errc::invalid_argument, std::move(message));
}

const json* reader::field(const char* name, bool required) {
  auto it = j_.find(name);
  if (it == j_.end() || it->is_null()) {
    if (required)
      fail(std::string(name) + " is required");
    return nullptr;
  }
  return &*it;
}

std::optional<std::string> reader::string(const char* name, bool required) {
  auto* f = field(name, required);
  if (!f)
    return std::nullopt;
  if (!f->is_string()) {
    fail(std::string(name) + " must be a string");
    return std::nullopt;
  }
  return f->get<std::string>();
}

std::optional<int64_t> reader::integer(const char* name, bool required, int64_t min, int64_t max) {
  auto* f = field(name, required);
  if (!f)
    return std::nullopt;
  if (!f->is_number_integer()) {
    fail(std::string(name) + " must be an integer");
    return std::nullopt;
  }
  if (f->is_number_unsigned() && f->get<uint64_t>() > static_cast<uint64_t>(max)) {
    fail(std::string(name) + " must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  auto v = f->get<int64_t>();
  if (v < min || v > max) {
    fail(std::string(name) + " must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<std::vector<std::string>> reader::strings(const char* name, bool required, size_t max_items) {
  auto* f = field(name, required);
  if (!f)
    return std::nullopt;
  if (!f->is_array() || f->size() > max_items) {
    fail(std::string(name) + " must be an array of at most " + std::to_string(max_items) + " strings");
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (auto& e : *f) {
    if (!e.is_string()) {
      fail(std::string(name) + " must contain only strings");
      return std::nullopt;
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::optional<std::vector<line_request>> reader::lines(const char* name, bool required) {
  auto* f = field(name, required);
  if (!f)
    return std::nullopt;
  if (!f->is_array()) {
    fail(std::string(name) + " must be an array of {item_id, qty}");
    return std::nullopt;
  }
  if (f->size() > 1000) {
    fail(std::string(name) + " has too many entries");
    return std::nullopt;
  }
  std::vector<line_request> out;
  for (auto& e : *f) {
    if (!e.is_object()) {
      fail(std::string(name) + " must be an array of {item_id, qty}");
      return std::nullopt;
    }
    reader r(e);
    auto id = r.string("item_id", true);
    auto qty = r.integer("qty", true, INT32_MIN, INT32_MAX);
    if (!r.ok()) {
      fail(std::string(name) + ": " + r.error().message);
      return std::nullopt;
    }
    out.push_back(line_request{*id, static_cast<int32_t>(*qty)});
  }
  return out;
}

} // namespace bento::node::json_views
