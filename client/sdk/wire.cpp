#include "client/sdk/wire.hpp"

#include "bento/client/v1/client.pb.h"

namespace bento::client::detail {

namespace pb = bento::client::v1;

namespace {

// --- enums (proto3 enums are open: a value this SDK does not know reads as "unspecified") ---

pb::Role to_pb(role r) {
  switch (r) {
  case role::customer: return pb::CUSTOMER;
  case role::merchant: return pb::MERCHANT;
  case role::unspecified: break;
  }
  return pb::ROLE_UNSPECIFIED;
}

role from_pb(pb::Role r) {
  switch (r) {
  case pb::CUSTOMER: return role::customer;
  case pb::MERCHANT: return role::merchant;
  default: return role::unspecified;
  }
}

pb::Meal to_pb(meal m) {
  switch (m) {
  case meal::breakfast: return pb::BREAKFAST;
  case meal::lunch: return pb::LUNCH;
  case meal::dinner: return pb::DINNER;
  case meal::unspecified: break;
  }
  return pb::MEAL_UNSPECIFIED;
}

meal meal_from_pb(int m) {
  switch (m) {
  case pb::BREAKFAST: return meal::breakfast;
  case pb::LUNCH: return meal::lunch;
  case pb::DINNER: return meal::dinner;
  default: return meal::unspecified;
  }
}

pb::OrderStatus to_pb(order_status s) {
  switch (s) {
  case order_status::placed: return pb::PLACED;
  case order_status::confirmed: return pb::CONFIRMED;
  case order_status::delivered: return pb::DELIVERED;
  case order_status::cancelled: return pb::CANCELLED;
  case order_status::any: break;
  }
  return pb::STATUS_UNSPECIFIED;
}

order_status from_pb(pb::OrderStatus s) {
  switch (s) {
  case pb::PLACED: return order_status::placed;
  case pb::CONFIRMED: return order_status::confirmed;
  case pb::DELIVERED: return order_status::delivered;
  case pb::CANCELLED: return order_status::cancelled;
  default: return order_status::any;
  }
}

template <class RepeatedMeals>
std::vector<meal> meals_from_pb(const RepeatedMeals& in) {
  std::vector<meal> out;
  out.reserve(static_cast<size_t>(in.size()));
  for (int m : in)
    out.push_back(meal_from_pb(m));
  return out;
}

template <class RepeatedMeals>
void meals_to_pb(const std::vector<meal>& in, RepeatedMeals* out) {
  for (auto m : in)
    out->Add(to_pb(m));
}

// --- replies ---

user from_pb(const pb::User& u) {
  return {u.id(), u.username(), u.email(), from_pb(u.role()), u.place(), u.created_at_ms()};
}

restaurant from_pb(const pb::Restaurant& r) {
  return {r.id(), r.name(), r.place(), r.owner_id(), r.created_at_ms()};
}

menu_item from_pb(const pb::MenuItem& i) {
  menu_item out;
  out.id = i.id();
  out.name = i.name();
  out.description = i.description();
  out.price_cents = i.price_cents();
  out.stock = i.stock();
  out.daily_stock = i.daily_stock();
  out.tags.assign(i.tags().begin(), i.tags().end());
  out.meals = meals_from_pb(i.meals());
  out.image_url = i.image_url();
  out.version = i.version();
  out.stock_date = i.stock_date();
  out.restaurant_id = i.restaurant_id();
  out.restaurant_name = i.restaurant_name();
  return out;
}

order from_pb(const pb::Order& o) {
  order out;
  out.id = o.id();
  out.status = from_pb(o.status());
  out.customer_id = o.customer_id();
  out.restaurant_id = o.restaurant_id();
  out.restaurant_name = o.restaurant_name();
  for (auto& l : o.items())
    out.lines.push_back({l.item_id(), l.name(), l.price_cents(), l.qty()});
  out.total_cents = o.total_cents();
  out.meal = meal_from_pb(o.meal());
  out.date = o.date();
  out.note = o.note();
  out.merchant_note = o.merchant_note();
  out.created_at_ms = o.created_at_ms();
  out.updated_at_ms = o.updated_at_ms();
  return out;
}

session from_pb(const pb::Session& s) { return {s.token(), s.expires_at_ms(), from_pb(s.user())}; }

restaurant_list from_pb(const pb::RestaurantList& l) {
  restaurant_list out;
  for (auto& r : l.restaurants())
    out.restaurants.push_back(from_pb(r));
  out.next_cursor = l.next_cursor();
  return out;
}

menu from_pb(const pb::Menu& m) {
  menu out;
  out.restaurant = from_pb(m.restaurant());
  for (auto& i : m.items())
    out.items.push_back(from_pb(i));
  return out;
}

item_written from_pb(const pb::ItemWritten& w) { return {from_pb(w.item()), w.created()}; }

menu_page from_pb(const pb::MenuPage& p) {
  menu_page out;
  for (auto& i : p.items())
    out.items.push_back(from_pb(i));
  out.next_cursor = p.next_cursor();
  return out;
}

order_list from_pb(const pb::OrderList& l) {
  order_list out;
  for (auto& o : l.orders())
    out.orders.push_back(from_pb(o));
  out.next_cursor = l.next_cursor();
  return out;
}

cluster_status from_pb(const pb::ClusterStatus& s) {
  cluster_status out;
  out.clustered = s.clustered();
  out.node_id = s.node_id();
  out.shards = s.shards();
  out.replicas = s.replicas();
  for (auto& m : s.members())
    out.members.push_back({m.id(), m.address(), m.state(), m.incarnation(), m.shards_led(),
                           m.shards_replicated(), m.client_address()});
  return out;
}

shard_map from_pb(const pb::ShardMap& m) {
  shard_map out;
  out.epoch = m.epoch();
  out.shards = m.shards();
  out.leaders.assign(m.leaders().begin(), m.leaders().end());
  out.nodes.assign(m.nodes().begin(), m.nodes().end());
  return out;
}

template <class Pb, class T>
bool parse_as(const std::string& bytes, T& out) {
  Pb msg;
  if (!msg.ParseFromString(bytes))
    return false;
  out = from_pb(msg);
  return true;
}

template <class Pb>
std::string serialized(const Pb& msg) {
  return msg.SerializeAsString();
}

void lines_to_pb(const std::vector<line_request>& lines,
                 google::protobuf::RepeatedPtrField<pb::LineRequest>* out) {
  for (auto& l : lines) {
    auto* line = out->Add();
    line->set_item_id(l.item_id);
    line->set_qty(l.qty);
  }
}

} // namespace

// --- requests ---

std::string payload_of(const register_request& r) {
  pb::RegisterUserRequest m;
  m.set_username(r.username);
  m.set_password(r.password);
  m.set_email(r.email);
  m.set_role(to_pb(r.role));
  m.set_place(r.place);
  return serialized(m);
}

std::string login_payload(const std::string& username, const std::string& password) {
  pb::LoginRequest m;
  m.set_username(username);
  m.set_password(password);
  return serialized(m);
}

std::string payload_of(const create_restaurant_request& r) {
  pb::CreateRestaurantRequest m;
  m.set_name(r.name);
  m.set_place(r.place);
  return serialized(m);
}

std::string payload_of(const list_restaurants_request& r) {
  pb::ListRestaurantsRequest m;
  m.set_place(r.place);
  m.set_limit(r.limit);
  m.set_cursor(r.cursor);
  return serialized(m);
}

std::string payload_of(const get_menu_request& r) {
  pb::GetMenuRequest m;
  m.set_restaurant_id(r.restaurant_id);
  m.set_date(r.date);
  return serialized(m);
}

std::string payload_of(const get_item_request& r) {
  pb::ItemRequest m;
  m.set_restaurant_id(r.restaurant_id);
  m.set_item_id(r.item_id);
  m.set_date(r.date);
  return serialized(m);
}

std::string payload_of(const put_item_request& r) {
  pb::PutItemRequest m;
  m.set_restaurant_id(r.restaurant_id);
  m.set_item_id(r.item_id);
  m.set_name(r.name);
  m.set_description(r.description);
  m.set_price_cents(r.price_cents);
  m.set_stock(r.stock);
  m.set_daily_stock(r.daily_stock);
  for (auto& t : r.tags)
    m.add_tags(t);
  meals_to_pb(r.meals, m.mutable_meals());
  m.set_image_url(r.image_url);
  m.set_has_if_match(r.if_match.has_value());
  m.set_if_match(r.if_match.value_or(0));
  m.set_create_only(r.create_only);
  return serialized(m);
}

std::string payload_of(const patch_item_request& r) {
  pb::PatchItemRequest m;
  m.set_restaurant_id(r.restaurant_id);
  m.set_item_id(r.item_id);
  if (r.name)
    m.set_name(*r.name);
  if (r.description)
    m.set_description(*r.description);
  if (r.price_cents)
    m.set_price_cents(*r.price_cents);
  if (r.stock)
    m.set_stock(*r.stock);
  if (r.daily_stock)
    m.set_daily_stock(*r.daily_stock);
  if (r.tags) {
    auto* tags = m.mutable_tags(); // present even when empty: "no tags"
    for (auto& t : *r.tags)
      tags->add_values(t);
  }
  if (r.meals)
    meals_to_pb(*r.meals, m.mutable_meals()->mutable_values());
  if (r.image_url)
    m.set_image_url(*r.image_url);
  m.set_has_if_match(r.if_match.has_value());
  m.set_if_match(r.if_match.value_or(0));
  return serialized(m);
}

std::string payload_of(const delete_item_request& r) {
  pb::ItemRequest m;
  m.set_restaurant_id(r.restaurant_id);
  m.set_item_id(r.item_id);
  m.set_has_if_match(r.if_match.has_value());
  m.set_if_match(r.if_match.value_or(0));
  return serialized(m);
}

std::string payload_of(const search_menu_request& r) {
  pb::SearchMenuRequest m;
  m.set_place(r.place);
  m.set_tag(r.tag);
  m.set_meal(to_pb(r.meal));
  m.set_query(r.query);
  m.set_limit(r.limit);
  m.set_cursor(r.cursor);
  m.set_date(r.date);
  return serialized(m);
}

std::string payload_of(const place_order_request& r) {
  pb::PlaceOrderRequest m;
  m.set_restaurant_id(r.restaurant_id);
  lines_to_pb(r.lines, m.mutable_items());
  m.set_meal(to_pb(r.meal));
  m.set_date(r.date);
  m.set_note(r.note);
  return serialized(m);
}

std::string payload_of(const list_orders_request& r) {
  pb::ListOrdersRequest m;
  m.set_status(to_pb(r.status));
  m.set_month(r.month);
  m.set_limit(r.limit);
  m.set_cursor(r.cursor);
  return serialized(m);
}

std::string payload_of(const edit_order_request& r) {
  pb::EditOrderRequest m;
  m.set_order_id(r.order_id);
  m.set_has_items(r.lines.has_value());
  if (r.lines)
    lines_to_pb(*r.lines, m.mutable_items());
  if (r.merchant_note)
    m.set_merchant_note(*r.merchant_note);
  return serialized(m);
}

std::string order_payload(const std::string& order_id) {
  pb::OrderRequest m;
  m.set_order_id(order_id);
  return serialized(m);
}

std::string decommission_payload(const std::string& node_id) {
  pb::DecommissionRequest m;
  m.set_node_id(node_id);
  return serialized(m);
}

std::string empty_payload() { return {}; }

// --- replies ---

bool parse_reply(const std::string& b, user& out) { return parse_as<pb::User>(b, out); }
bool parse_reply(const std::string& b, session& out) { return parse_as<pb::Session>(b, out); }
bool parse_reply(const std::string& b, restaurant& out) { return parse_as<pb::Restaurant>(b, out); }
bool parse_reply(const std::string& b, restaurant_list& out) { return parse_as<pb::RestaurantList>(b, out); }
bool parse_reply(const std::string& b, menu& out) { return parse_as<pb::Menu>(b, out); }
bool parse_reply(const std::string& b, menu_item& out) { return parse_as<pb::MenuItem>(b, out); }
bool parse_reply(const std::string& b, item_written& out) { return parse_as<pb::ItemWritten>(b, out); }
bool parse_reply(const std::string& b, menu_page& out) { return parse_as<pb::MenuPage>(b, out); }
bool parse_reply(const std::string& b, order& out) { return parse_as<pb::Order>(b, out); }
bool parse_reply(const std::string& b, order_list& out) { return parse_as<pb::OrderList>(b, out); }
bool parse_reply(const std::string& b, cluster_status& out) { return parse_as<pb::ClusterStatus>(b, out); }
bool parse_reply(const std::string& b, shard_map& out) { return parse_as<pb::ShardMap>(b, out); }

} // namespace bento::client::detail
