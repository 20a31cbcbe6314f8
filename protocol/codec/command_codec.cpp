#include "protocol/codec/command_codec.hpp"

#include "protocol/codec/pb_convert.hpp"

namespace bento::codec {

using namespace detail;
using namespace bento::domain;
namespace pb = bento::v1;

namespace {

// Overloads below add to, not hide, the entity conversions.
using detail::from_pb;
using detail::to_pb;

void to_pb(const principal& x, pb::Principal& m) {
  m.set_user_id(x.user_id);
  m.set_username(x.username);
  m.set_role(static_cast<pb::Role>(x.role));
}

principal from_pb(const pb::Principal& m) {
  return principal{m.user_id(), m.username(), clamp_enum(m.role(), role::merchant)};
}

template <class Repeated>
void lines_to_pb(const std::vector<line_request>& lines, Repeated& out) {
  for (auto& l : lines) {
    auto* p = out.Add();
    p->set_item_id(l.item_id);
    p->set_qty(l.qty);
  }
}

template <class Repeated>
std::vector<line_request> line_requests_from_pb(const Repeated& r) {
  std::vector<line_request> out;
  for (auto& l : r)
    out.push_back(line_request{l.item_id(), l.qty()});
  return out;
}

template <class Repeated>
void order_lines_to_pb(const std::vector<order_line>& lines, Repeated& out) {
  for (auto& l : lines)
    to_pb(l, *out.Add());
}

/// Encodes through a filler, decodes through a reader: the pair of lambdas each overload supplies.
template <class Pb, class Fill>
std::string encode_with(Fill fill) {
  Pb m;
  fill(m);
  return serialize(m);
}

template <class Pb, class Read>
bool decode_with(std::string_view bytes, Read read) {
  Pb m;
  if (!parse(bytes, m))
    return false;
  read(m);
  return true;
}

} // namespace

std::string encode(const failure& x) {
  return encode_with<pb::Failure>([&](pb::Failure& m) {
    m.set_code(static_cast<uint32_t>(x.code));
    m.set_message(x.message);
    m.set_item_id(x.item_id);
  });
}
bool decode(std::string_view bytes, failure& out) {
  return decode_with<pb::Failure>(bytes, [&](const pb::Failure& m) {
    out.code = m.code() <= static_cast<uint32_t>(errc::unavailable) ? static_cast<errc>(m.code())
                                                                          : errc::outcome_unknown;
    out.message = m.message();
    out.item_id = m.item_id();
  });
}

std::string encode(const register_user& x) {
  return encode_with<pb::RegisterUser>([&](pb::RegisterUser& m) {
    m.set_username(x.username);
    m.set_password(x.password);
    m.set_email(x.email);
    m.set_role(static_cast<pb::Role>(x.role));
    m.set_place(x.place);
    m.set_client_address(x.client_address);
  });
}
bool decode(std::string_view bytes, register_user& out) {
  return decode_with<pb::RegisterUser>(bytes, [&](const pb::RegisterUser& m) {
    out = register_user{m.username(), m.password(), m.email(), clamp_enum(m.role(), role::merchant), m.place(),
                        m.client_address()};
  });
}

std::string encode(const verify_login& x) {
  return encode_with<pb::VerifyLogin>([&](pb::VerifyLogin& m) {
    m.set_username(x.username);
    m.set_password(x.password);
    m.set_client_address(x.client_address);
  });
}
bool decode(std::string_view bytes, verify_login& out) {
  return decode_with<pb::VerifyLogin>(bytes, [&](const pb::VerifyLogin& m) {
    out = verify_login{m.username(), m.password(), m.client_address()};
  });
}

std::string encode(const get_user& x) {
  return encode_with<pb::GetUser>([&](pb::GetUser& m) { m.set_username(x.username); });
}
bool decode(std::string_view bytes, get_user& out) {
  return decode_with<pb::GetUser>(bytes, [&](const pb::GetUser& m) { out.username = m.username(); });
}

std::string encode(const set_member_state& x) {
  return encode_with<pb::SetMemberState>([&](pb::SetMemberState& m) {
    m.set_node(x.node);
    m.set_state(x.state);
  });
}
bool decode(std::string_view bytes, set_member_state& out) {
  return decode_with<pb::SetMemberState>(bytes, [&](const pb::SetMemberState& m) {
    out = set_member_state{m.node(), m.state()};
  });
}

std::string encode(const end_session& x) {
  return encode_with<pb::EndSession>([&](pb::EndSession& m) {
    m.set_username(x.username);
    m.set_user_id(x.session.user_id);
    m.set_token_id(x.session.token_id);
    m.set_issued_at_s(x.session.issued_at_s);
    m.set_expires_at_s(x.session.expires_at_s);
  });
}
bool decode(std::string_view bytes, end_session& out) {
  return decode_with<pb::EndSession>(bytes, [&](const pb::EndSession& m) {
    out.username = m.username();
    out.session = ended_session{m.user_id(), m.token_id(), m.issued_at_s(), m.expires_at_s()};
  });
}

std::string encode(const user_view& x) {
  return encode_with<pb::UserView>([&](pb::UserView& m) {
    m.set_id(x.id);
    m.set_username(x.username);
    m.set_email(x.email);
    m.set_role(static_cast<pb::Role>(x.role));
    m.set_place(x.place);
    m.set_created_at_ms(x.created_at_ms);
  });
}
bool decode(std::string_view bytes, user_view& out) {
  return decode_with<pb::UserView>(bytes, [&](const pb::UserView& m) {
    out = user_view{m.id(), m.username(), m.email(), clamp_enum(m.role(), role::merchant), m.place(),
                    m.created_at_ms()};
  });
}

std::string encode(const create_restaurant& x) {
  return encode_with<pb::CreateRestaurant>([&](pb::CreateRestaurant& m) {
    to_pb(x.caller, *m.mutable_caller());
    m.set_restaurant_id(x.restaurant_id);
    m.set_name(x.name);
    m.set_place(x.place);
  });
}
bool decode(std::string_view bytes, create_restaurant& out) {
  return decode_with<pb::CreateRestaurant>(bytes, [&](const pb::CreateRestaurant& m) {
    out = create_restaurant{from_pb(m.caller()), m.restaurant_id(), m.name(), m.place()};
  });
}

std::string encode(const upsert_menu_item& x) {
  return encode_with<pb::UpsertMenuItem>([&](pb::UpsertMenuItem& m) {
    to_pb(x.caller, *m.mutable_caller());
    m.set_restaurant_id(x.restaurant_id);
    m.set_item_id(x.item_id);
    auto* in = m.mutable_input();
    in->set_name(x.input.name);
    in->set_description(x.input.description);
    in->set_price_cents(x.input.price_cents);
    in->set_stock(x.input.stock);
    in->set_daily_stock(x.input.daily_stock);
    for (auto& t : x.input.tags)
      in->add_tags(t);
    for (auto ml : x.input.meals)
      in->add_meals(static_cast<pb::Meal>(ml));
    in->set_image_url(x.input.image_url);
    if (x.if_match)
      m.set_if_match(*x.if_match);
    m.set_if_none_match(x.if_none_match);
  });
}
bool decode(std::string_view bytes, upsert_menu_item& out) {
  return decode_with<pb::UpsertMenuItem>(bytes, [&](const pb::UpsertMenuItem& m) {
    out.caller = from_pb(m.caller());
    out.restaurant_id = m.restaurant_id();
    out.item_id = m.item_id();
    auto& in = m.input();
    out.input.name = in.name();
    out.input.description = in.description();
    out.input.price_cents = in.price_cents();
    out.input.stock = in.stock();
    out.input.daily_stock = in.daily_stock();
    out.input.tags.assign(in.tags().begin(), in.tags().end());
    out.input.meals.clear();
    for (auto ml : in.meals())
      out.input.meals.push_back(clamp_enum(ml, meal::dinner));
    out.input.image_url = in.image_url();
    out.if_match = m.has_if_match() ? std::optional<uint64_t>(m.if_match()) : std::nullopt;
    out.if_none_match = m.if_none_match();
  });
}

std::string encode(const patch_menu_item& x) {
  return encode_with<pb::PatchMenuItem>([&](pb::PatchMenuItem& m) {
    to_pb(x.caller, *m.mutable_caller());
    m.set_restaurant_id(x.restaurant_id);
    m.set_item_id(x.item_id);
    if (x.name)
      m.set_name(*x.name);
    if (x.description)
      m.set_description(*x.description);
    if (x.price_cents)
      m.set_price_cents(*x.price_cents);
    if (x.stock)
      m.set_stock(*x.stock);
    if (x.daily_stock)
      m.set_daily_stock(*x.daily_stock);
    if (x.tags) {
      auto* tags = m.mutable_tags(); // present even when empty: "no tags" differs from "unchanged"
      for (auto& t : *x.tags)
        tags->add_values(t);
    }
    if (x.meals) {
      auto* meals = m.mutable_meals();
      for (auto ml : *x.meals)
        meals->add_values(static_cast<pb::Meal>(ml));
    }
    if (x.image_url)
      m.set_image_url(*x.image_url);
    if (x.if_match)
      m.set_if_match(*x.if_match);
  });
}
bool decode(std::string_view bytes, patch_menu_item& out) {
  return decode_with<pb::PatchMenuItem>(bytes, [&](const pb::PatchMenuItem& m) {
    out = patch_menu_item{};
    out.caller = from_pb(m.caller());
    out.restaurant_id = m.restaurant_id();
    out.item_id = m.item_id();
    if (m.has_name())
      out.name = m.name();
    if (m.has_description())
      out.description = m.description();
    if (m.has_price_cents())
      out.price_cents = m.price_cents();
    if (m.has_stock())
      out.stock = m.stock();
    if (m.has_daily_stock())
      out.daily_stock = m.daily_stock();
    if (m.has_tags())
      out.tags = std::vector<std::string>(m.tags().values().begin(), m.tags().values().end());
    if (m.has_meals()) {
      out.meals.emplace();
      for (auto ml : m.meals().values())
        out.meals->push_back(clamp_enum(ml, meal::dinner));
    }
    if (m.has_image_url())
      out.image_url = m.image_url();
    if (m.has_if_match())
      out.if_match = m.if_match();
  });
}

std::string encode(const upsert_result& x) {
  return encode_with<pb::UpsertResult>([&](pb::UpsertResult& m) {
    to_pb(x.item, *m.mutable_item());
    m.set_created(x.created);
  });
}
bool decode(std::string_view bytes, upsert_result& out) {
  return decode_with<pb::UpsertResult>(bytes, [&](const pb::UpsertResult& m) {
    from_pb(m.item(), out.item);
    out.created = m.created();
  });
}

std::string encode(const delete_menu_item& x) {
  return encode_with<pb::DeleteMenuItem>([&](pb::DeleteMenuItem& m) {
    to_pb(x.caller, *m.mutable_caller());
    m.set_restaurant_id(x.restaurant_id);
    m.set_item_id(x.item_id);
    if (x.if_match)
      m.set_if_match(*x.if_match);
  });
}
bool decode(std::string_view bytes, delete_menu_item& out) {
  return decode_with<pb::DeleteMenuItem>(bytes, [&](const pb::DeleteMenuItem& m) {
    out = delete_menu_item{from_pb(m.caller()), m.restaurant_id(), m.item_id(),
                           m.has_if_match() ? std::optional<uint64_t>(m.if_match()) : std::nullopt};
  });
}

std::string encode(const get_menu& x) {
  return encode_with<pb::GetMenu>([&](pb::GetMenu& m) {
    m.set_restaurant_id(x.restaurant_id);
    m.set_date(x.date);
  });
}
bool decode(std::string_view bytes, get_menu& out) {
  return decode_with<pb::GetMenu>(bytes, [&](const pb::GetMenu& m) {
    out.restaurant_id = m.restaurant_id();
    out.date = m.date();
  });
}

std::string encode(const menu_view& x) {
  return encode_with<pb::MenuView>([&](pb::MenuView& m) {
    to_pb(x.info(), *m.mutable_info());
    for (auto& i : x.items())
      to_pb(i, *m.add_items());
  });
}
bool decode(std::string_view bytes, menu_view& out) {
  return decode_with<pb::MenuView>(bytes, [&](const pb::MenuView& m) {
    menu_snapshot s;
    from_pb(m.info(), s.info);
    for (auto& i : m.items()) {
      s.items.emplace_back();
      from_pb(i, s.items.back());
    }
    out = menu_view(std::move(s));
  });
}

std::string encode(const set_reservation& x) {
  return encode_with<pb::SetReservation>([&](pb::SetReservation& m) {
    m.set_restaurant_id(x.restaurant_id);
    m.set_order_id(x.order_id);
    order_lines_to_pb(x.lines, *m.mutable_lines());
    if (x.for_meal)
      m.set_for_meal(static_cast<pb::Meal>(*x.for_meal));
    m.set_date(x.date);
    m.set_seq(x.seq);
    m.set_order_record(x.order_record);
  });
}
bool decode(std::string_view bytes, set_reservation& out) {
  return decode_with<pb::SetReservation>(bytes, [&](const pb::SetReservation& m) {
    out.restaurant_id = m.restaurant_id();
    out.order_id = m.order_id();
    out.lines = lines_from_pb(m.lines());
    out.for_meal = m.has_for_meal() ? std::optional<meal>(clamp_enum(m.for_meal(), meal::dinner)) : std::nullopt;
    out.date = m.date();
    out.seq = m.seq();
    out.order_record = m.order_record();
  });
}

std::string encode(const reservation_result& x) {
  return encode_with<pb::ReservationResult>([&](pb::ReservationResult& m) {
    to_pb(x.info, *m.mutable_info());
    order_lines_to_pb(x.lines, *m.mutable_lines());
    m.set_order_record(x.order_record);
  });
}
bool decode(std::string_view bytes, reservation_result& out) {
  return decode_with<pb::ReservationResult>(bytes, [&](const pb::ReservationResult& m) {
    from_pb(m.info(), out.info);
    out.lines = lines_from_pb(m.lines());
    out.order_record = m.order_record();
  });
}

std::string encode(const finalize_reservation& x) {
  return encode_with<pb::FinalizeReservation>([&](pb::FinalizeReservation& m) {
    m.set_restaurant_id(x.restaurant_id);
    m.set_order_id(x.order_id);
    m.set_seq(x.seq);
  });
}
bool decode(std::string_view bytes, finalize_reservation& out) {
  return decode_with<pb::FinalizeReservation>(bytes, [&](const pb::FinalizeReservation& m) {
    out = finalize_reservation{m.restaurant_id(), m.order_id(), m.seq()};
  });
}

std::string encode(const settle_reservation& x) {
  return encode_with<pb::SettleReservation>([&](pb::SettleReservation& m) {
    m.set_restaurant_id(x.restaurant_id);
    m.set_order_id(x.order_id);
    m.set_seq(x.seq);
    m.set_date(x.date);
  });
}
bool decode(std::string_view bytes, settle_reservation& out) {
  return decode_with<pb::SettleReservation>(bytes, [&](const pb::SettleReservation& m) {
    out = settle_reservation{m.restaurant_id(), m.order_id(), m.seq(), m.date()};
  });
}

std::string encode(const settle_result& x) {
  return encode_with<pb::SettleResult>([&](pb::SettleResult& m) {
    to_pb(x.held.info, *m.mutable_held()->mutable_info());
    order_lines_to_pb(x.held.lines, *m.mutable_held()->mutable_lines());
    m.set_applied(x.applied);
    m.set_restaurant_exists(x.restaurant_exists);
  });
}
bool decode(std::string_view bytes, settle_result& out) {
  return decode_with<pb::SettleResult>(bytes, [&](const pb::SettleResult& m) {
    from_pb(m.held().info(), out.held.info);
    out.held.lines = lines_from_pb(m.held().lines());
    out.applied = m.applied();
    out.restaurant_exists = m.restaurant_exists();
  });
}

std::string encode(const place_order& x) {
  return encode_with<pb::PlaceOrder>([&](pb::PlaceOrder& m) {
    to_pb(x.caller, *m.mutable_caller());
    m.set_order_id(x.order_id);
    m.set_restaurant_id(x.restaurant_id);
    lines_to_pb(x.lines, *m.mutable_lines());
    if (x.for_meal)
      m.set_for_meal(static_cast<pb::Meal>(*x.for_meal));
    if (x.date)
      m.set_date(*x.date);
    m.set_note(x.note);
    m.set_idempotency_key(x.idempotency_key);
  });
}
bool decode(std::string_view bytes, place_order& out) {
  return decode_with<pb::PlaceOrder>(bytes, [&](const pb::PlaceOrder& m) {
    out.caller = from_pb(m.caller());
    out.order_id = m.order_id();
    out.restaurant_id = m.restaurant_id();
    out.lines = line_requests_from_pb(m.lines());
    out.for_meal = m.has_for_meal() ? std::optional<meal>(clamp_enum(m.for_meal(), meal::dinner)) : std::nullopt;
    out.date = m.has_date() ? std::optional<std::string>(m.date()) : std::nullopt;
    out.note = m.note();
    out.idempotency_key = m.idempotency_key();
  });
}

std::string encode(const get_order& x) {
  return encode_with<pb::GetOrder>([&](pb::GetOrder& m) {
    to_pb(x.caller, *m.mutable_caller());
    m.set_order_id(x.order_id);
  });
}
bool decode(std::string_view bytes, get_order& out) {
  return decode_with<pb::GetOrder>(bytes,
                                   [&](const pb::GetOrder& m) { out = get_order{from_pb(m.caller()), m.order_id()}; });
}

std::string encode(const transition_order& x) {
  return encode_with<pb::TransitionOrder>([&](pb::TransitionOrder& m) {
    to_pb(x.caller, *m.mutable_caller());
    m.set_order_id(x.order_id);
    m.set_action(static_cast<pb::OrderAction>(x.action));
  });
}
bool decode(std::string_view bytes, transition_order& out) {
  return decode_with<pb::TransitionOrder>(bytes, [&](const pb::TransitionOrder& m) {
    out = transition_order{from_pb(m.caller()), m.order_id(), clamp_enum(m.action(), order_action::cancel)};
  });
}

std::string encode(const edit_order& x) {
  return encode_with<pb::EditOrder>([&](pb::EditOrder& m) {
    to_pb(x.caller, *m.mutable_caller());
    m.set_order_id(x.order_id);
    if (x.lines)
      lines_to_pb(*x.lines, *m.mutable_lines()->mutable_lines());
    if (x.merchant_note)
      m.set_merchant_note(*x.merchant_note);
  });
}
bool decode(std::string_view bytes, edit_order& out) {
  return decode_with<pb::EditOrder>(bytes, [&](const pb::EditOrder& m) {
    out.caller = from_pb(m.caller());
    out.order_id = m.order_id();
    out.lines = m.has_lines() ? std::optional(line_requests_from_pb(m.lines().lines())) : std::nullopt;
    out.merchant_note = m.has_merchant_note() ? std::optional<std::string>(m.merchant_note()) : std::nullopt;
  });
}

std::string encode(const list_orders& x) {
  return encode_with<pb::ListOrders>([&](pb::ListOrders& m) {
    to_pb(x.caller, *m.mutable_caller());
    if (x.status)
      m.set_status(static_cast<pb::OrderStatus>(*x.status));
    if (x.month)
      m.set_month(*x.month);
    m.set_limit(x.limit);
    m.set_cursor(x.cursor);
  });
}
bool decode(std::string_view bytes, list_orders& out) {
  return decode_with<pb::ListOrders>(bytes, [&](const pb::ListOrders& m) {
    out.caller = from_pb(m.caller());
    out.status = m.has_status() ? std::optional(clamp_enum(m.status(), order_status::cancelled)) : std::nullopt;
    out.month = m.has_month() ? std::optional<std::string>(m.month()) : std::nullopt;
    out.limit = m.limit();
    out.cursor = m.cursor();
  });
}

std::string encode(const order_list& x) {
  return encode_with<pb::OrderList>([&](pb::OrderList& m) {
    for (auto& o : x.orders)
      to_pb(o, *m.add_orders());
    m.set_next_cursor(x.next_cursor);
  });
}
bool decode(std::string_view bytes, order_list& out) {
  return decode_with<pb::OrderList>(bytes, [&](const pb::OrderList& m) {
    out.orders.clear();
    for (auto& o : m.orders()) {
      out.orders.emplace_back();
      from_pb(o, out.orders.back());
    }
    out.next_cursor = m.next_cursor();
  });
}

std::string encode(const menu_query& x) {
  return encode_with<pb::MenuQuery>([&](pb::MenuQuery& m) {
    m.set_place(x.place);
    m.set_tag(x.tag);
    if (x.for_meal)
      m.set_for_meal(static_cast<pb::Meal>(*x.for_meal));
    m.set_text(x.text);
    m.set_limit(x.limit);
    m.set_cursor(x.cursor);
    m.set_date(x.date);
  });
}
bool decode(std::string_view bytes, menu_query& out) {
  return decode_with<pb::MenuQuery>(bytes, [&](const pb::MenuQuery& m) {
    out.place = m.place();
    out.tag = m.tag();
    out.for_meal = m.has_for_meal() ? std::optional<meal>(clamp_enum(m.for_meal(), meal::dinner)) : std::nullopt;
    out.text = m.text();
    out.limit = m.limit();
    out.cursor = m.cursor();
    out.date = m.date();
  });
}

std::string encode(const menu_page& x) {
  return encode_with<pb::MenuPage>([&](pb::MenuPage& m) {
    for (auto& e : x.items()) {
      auto* p = m.add_items();
      p->set_restaurant_name(e.restaurant_name);
      to_pb(e.item, *p->mutable_item());
    }
    m.set_next_cursor(x.next_cursor());
  });
}
bool decode(std::string_view bytes, menu_page& out) {
  return decode_with<pb::MenuPage>(bytes, [&](const pb::MenuPage& m) {
    catalog_page page;
    for (auto& e : m.items()) {
      page.items.emplace_back();
      page.items.back().restaurant_name = e.restaurant_name();
      from_pb(e.item(), page.items.back().item);
    }
    page.next_cursor = m.next_cursor();
    out = menu_page(std::move(page));
  });
}

std::string encode(const restaurants_query& x) {
  return encode_with<pb::RestaurantsQuery>([&](pb::RestaurantsQuery& m) {
    m.set_place(x.place);
    m.set_limit(x.limit);
    m.set_cursor(x.cursor);
  });
}
bool decode(std::string_view bytes, restaurants_query& out) {
  return decode_with<pb::RestaurantsQuery>(bytes, [&](const pb::RestaurantsQuery& m) {
    out.place = m.place();
    out.limit = m.limit();
    out.cursor = m.cursor();
  });
}

std::string encode(const restaurant_list& x) {
  return encode_with<pb::RestaurantList>([&](pb::RestaurantList& m) {
    for (auto& r : x.restaurants)
      to_pb(r, *m.add_restaurants());
    m.set_next_cursor(x.next_cursor);
  });
}
bool decode(std::string_view bytes, restaurant_list& out) {
  return decode_with<pb::RestaurantList>(bytes, [&](const pb::RestaurantList& m) {
    out.restaurants.clear();
    for (auto& r : m.restaurants()) {
      out.restaurants.emplace_back();
      from_pb(r, out.restaurants.back());
    }
    out.next_cursor = m.next_cursor();
  });
}

} // namespace bento::codec
