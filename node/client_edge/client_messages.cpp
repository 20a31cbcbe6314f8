#include "node/client_edge/client_messages.hpp"

namespace bento::node::client_messages {

using namespace bento::domain;

namespace {

pb::Role to_pb(role r) {
  return r == role::merchant ? pb::MERCHANT : pb::CUSTOMER;
}

pb::Meal to_pb(meal m) {
  switch (m) {
    case meal::breakfast: return pb::BREAKFAST;
    case meal::lunch: return pb::LUNCH;
    case meal::dinner: return pb::DINNER;
  }
  return pb::MEAL_UNSPECIFIED;
}

pb::OrderStatus to_pb(order_status s) {
  switch (s) {
    case order_status::placed: return pb::PLACED;
    case order_status::confirmed: return pb::CONFIRMED;
    case order_status::delivered: return pb::DELIVERED;
    case order_status::cancelled: return pb::CANCELLED;
  }
  return pb::STATUS_UNSPECIFIED;
}

} // namespace

void to_pb(const user_view& in, pb::User& out) {
  out.set_id(in.id);
  out.set_username(in.username);
  out.set_email(in.email);
  out.set_role(to_pb(in.role));
  out.set_place(in.place);
  out.set_created_at_ms(in.created_at_ms);
}

void to_pb(const restaurant& in, pb::Restaurant& out) {
  out.set_id(in.id);
  out.set_name(in.name);
  out.set_place(in.place);
  out.set_owner_id(in.owner_id);
  out.set_created_at_ms(in.created_at_ms);
}

void to_pb(const menu_item& in, pb::MenuItem& out) {
  out.set_id(in.id);
  out.set_name(in.name);
  out.set_description(in.description);
  out.set_price_cents(in.price_cents);
  out.set_stock(in.stock);
  out.set_daily_stock(in.daily_stock);
  for (auto& t : in.tags)
    out.add_tags(t);
  for (auto m : in.meals)
    out.add_meals(to_pb(m));
  out.set_image_url(in.image_url);
  out.set_version(in.version);
  if (in.daily_stock > 0)
    out.set_stock_date(in.stock_date);
}

void to_pb(const order& in, pb::Order& out) {
  out.set_id(in.id);
  out.set_status(to_pb(in.status));
  out.set_customer_id(in.customer_id);
  out.set_restaurant_id(in.restaurant_id);
  out.set_restaurant_name(in.restaurant_name);
  for (auto& l : in.lines) {
    auto* x = out.add_items();
    x->set_item_id(l.item_id);
    x->set_name(l.name);
    x->set_price_cents(l.price_cents);
    x->set_qty(l.qty);
  }
  out.set_total_cents(in.total_cents);
  out.set_meal(to_pb(in.meal));
  out.set_date(in.date);
  out.set_note(in.note);
  out.set_merchant_note(in.merchant_note);
  out.set_created_at_ms(in.created_at_ms);
  out.set_updated_at_ms(in.updated_at_ms);
}

std::optional<role> role_of(pb::Role r) {
  if (r == pb::CUSTOMER)
    return role::customer;
  if (r == pb::MERCHANT)
    return role::merchant;
  return std::nullopt;
}

std::optional<meal> meal_of(pb::Meal m) {
  switch (m) {
    case pb::BREAKFAST: return meal::breakfast;
    case pb::LUNCH: return meal::lunch;
    case pb::DINNER: return meal::dinner;
    default: return std::nullopt;
  }
}

std::optional<order_status> status_of(pb::OrderStatus s) {
  switch (s) {
    case pb::PLACED: return order_status::placed;
    case pb::CONFIRMED: return order_status::confirmed;
    case pb::DELIVERED: return order_status::delivered;
    case pb::CANCELLED: return order_status::cancelled;
    default: return std::nullopt;
  }
}

bool meals_of(const google::protobuf::RepeatedField<int>& in, std::vector<meal>& out) {
  out.clear();
  for (int m : in) {
    auto parsed = pb::Meal_IsValid(m) ? meal_of(static_cast<pb::Meal>(m)) : std::nullopt;
    if (!parsed)
      return false;
    out.push_back(*parsed);
  }
  return true;
}

std::vector<line_request> lines_of(const google::protobuf::RepeatedPtrField<pb::LineRequest>& in) {
  std::vector<line_request> out;
  out.reserve(static_cast<size_t>(in.size()));
  for (auto& l : in)
    out.push_back(line_request{l.item_id(), l.qty()});
  return out;
}

} // namespace bento::node::client_messages
