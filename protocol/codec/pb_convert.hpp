#pragma once
// Internal to protocol/codec: conversions between domain structs and generated Protobuf messages. Include only
// from codec .cpp files, so the generated headers stay out of everything else.
#include <string>
#include <string_view>
#include <vector>

#include "bento/v1/api.pb.h"
#include "bento/v1/entities.pb.h"
#include "bento/v1/events.pb.h"
#include "protocol/domain/commands.hpp"

namespace bento::codec::detail {

namespace pb = bento::v1;
using namespace bento::domain;

/// Scratch space for one message: with its block on the stack, the message, its repeated fields and the string
/// objects of its fields take no malloc each (a placed order went through ~120 of protobuf's string sets, each
/// one or two allocations, in its records, index copies and events). Long strings' characters still do.
class scratch_arena {
public:
  scratch_arena() : arena_(options(block_, sizeof block_)) {}
  scratch_arena(const scratch_arena&) = delete;
  scratch_arena& operator=(const scratch_arena&) = delete;
  template <class Pb>
  Pb& make() {
    return *google::protobuf::Arena::CreateMessage<Pb>(&arena_);
  }

private:
  static google::protobuf::ArenaOptions options(char* block, size_t size) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block;
    o.initial_block_size = size;
    return o;
  }
  alignas(16) char block_[2048];
  google::protobuf::Arena arena_;
};

template <class Pb>
inline std::string serialize(const Pb& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

template <class Pb>
inline bool parse(std::string_view bytes, Pb& m) {
  return m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

template <class Enum>
Enum clamp_enum(int value, Enum max) {
  return value < 0 || value > static_cast<int>(max) ? Enum{} : static_cast<Enum>(value);
}

inline void to_pb(const user& x, pb::User& m) {
  m.set_id(x.id);
  m.set_username(x.username);
  m.set_email(x.email);
  m.set_role(static_cast<pb::Role>(x.role));
  m.set_place(x.place);
  m.set_password_hash(x.password_hash);
  m.set_created_at_ms(x.created_at_ms);
  m.set_version(x.version);
}

inline void from_pb(const pb::User& m, user& x) {
  x.id = m.id();
  x.username = m.username();
  x.email = m.email();
  x.role = clamp_enum(m.role(), role::merchant);
  x.place = m.place();
  x.password_hash = m.password_hash();
  x.created_at_ms = m.created_at_ms();
  x.version = m.version();
}

inline void to_pb(const restaurant& x, pb::Restaurant& m) {
  m.set_id(x.id);
  m.set_name(x.name);
  m.set_place(x.place);
  m.set_owner_id(x.owner_id);
  m.set_created_at_ms(x.created_at_ms);
  m.set_version(x.version);
}

inline void from_pb(const pb::Restaurant& m, restaurant& x) {
  x.id = m.id();
  x.name = m.name();
  x.place = m.place();
  x.owner_id = m.owner_id();
  x.created_at_ms = m.created_at_ms();
  x.version = m.version();
}

inline void to_pb(const menu_item& x, pb::MenuItem& m) {
  m.set_restaurant_id(x.restaurant_id);
  m.set_id(x.id);
  m.set_name(x.name);
  m.set_description(x.description);
  m.set_price_cents(x.price_cents);
  m.set_stock(x.stock);
  m.set_daily_stock(x.daily_stock);
  m.set_stock_date(x.stock_date);
  for (auto& t : x.tags)
    m.add_tags(t);
  for (auto ml : x.meals)
    m.add_meals(static_cast<pb::Meal>(ml));
  m.set_image_url(x.image_url);
  m.set_version(x.version);
  m.set_generation(x.generation);
}

inline void from_pb(const pb::MenuItem& m, menu_item& x) {
  x.restaurant_id = m.restaurant_id();
  x.id = m.id();
  x.name = m.name();
  x.description = m.description();
  x.price_cents = m.price_cents();
  x.stock = m.stock();
  x.daily_stock = m.daily_stock();
  x.stock_date = m.stock_date();
  x.tags.assign(m.tags().begin(), m.tags().end());
  x.meals.clear();
  for (auto ml : m.meals())
    x.meals.push_back(clamp_enum(ml, meal::dinner));
  x.image_url = m.image_url();
  x.version = m.version();
  x.generation = m.generation();
}

inline void to_pb(const order_line& x, pb::OrderLine& m) {
  m.set_item_id(x.item_id);
  m.set_name(x.name);
  m.set_price_cents(x.price_cents);
  m.set_qty(x.qty);
}

template <class Repeated>
std::vector<order_line> lines_from_pb(const Repeated& r) {
  std::vector<order_line> out;
  out.reserve(static_cast<size_t>(r.size()));
  for (auto& l : r)
    out.push_back(order_line{l.item_id(), l.name(), l.price_cents(), l.qty()});
  return out;
}

inline void to_pb(const order& x, pb::Order& m) {
  m.set_id(x.id);
  m.set_customer_id(x.customer_id);
  m.set_restaurant_id(x.restaurant_id);
  m.set_restaurant_name(x.restaurant_name);
  m.set_merchant_id(x.merchant_id);
  for (auto& l : x.lines)
    to_pb(l, *m.add_lines());
  m.set_total_cents(x.total_cents);
  m.set_meal(static_cast<pb::Meal>(x.meal));
  m.set_date(x.date);
  m.set_note(x.note);
  m.set_status(static_cast<pb::OrderStatus>(x.status));
  m.set_created_at_ms(x.created_at_ms);
  m.set_updated_at_ms(x.updated_at_ms);
  m.set_idempotency_key(x.idempotency_key);
  m.set_request_fingerprint(x.request_fingerprint);
  if (x.intent) {
    auto* p = m.mutable_intent();
    p->set_kind(static_cast<pb::IntentKind>(x.intent->kind));
    p->set_seq(x.intent->seq);
    for (auto& l : x.intent->lines)
      to_pb(l, *p->add_lines());
    if (x.intent->merchant_note)
      p->set_merchant_note(*x.intent->merchant_note);
  }
  m.set_committed(x.committed);
  m.set_version(x.version);
  m.set_merchant_note(x.merchant_note);
  m.set_reservation_seq(x.reservation_seq);
  if (x.refused) {
    auto* r = m.mutable_refused();
    r->set_code(static_cast<uint32_t>(x.refused->code));
    r->set_message(x.refused->message);
    r->set_item_id(x.refused->item_id);
  }
}

inline void from_pb(const pb::Order& m, order& x) {
  x.id = m.id();
  x.customer_id = m.customer_id();
  x.restaurant_id = m.restaurant_id();
  x.restaurant_name = m.restaurant_name();
  x.merchant_id = m.merchant_id();
  x.lines = lines_from_pb(m.lines());
  x.total_cents = m.total_cents();
  x.meal = clamp_enum(m.meal(), meal::dinner);
  x.date = m.date();
  x.note = m.note();
  x.status = clamp_enum(m.status(), order_status::cancelled);
  x.created_at_ms = m.created_at_ms();
  x.updated_at_ms = m.updated_at_ms();
  x.idempotency_key = m.idempotency_key();
  x.request_fingerprint = m.request_fingerprint();
  x.committed = m.committed();
  x.version = m.version();
  x.merchant_note = m.merchant_note();
  x.reservation_seq = m.reservation_seq();
  x.refused.reset();
  if (m.has_refused()) {
    // Only a refusal the restaurant gives before changing anything is ever recorded.
    auto code = static_cast<errc>(m.refused().code());
    if (refused_before_any_change(code))
      x.refused = failure{code, m.refused().message(), m.refused().item_id()};
  }
  x.intent.reset();
  if (m.has_intent()) {
    order_intent in;
    in.kind = clamp_enum(m.intent().kind(), intent_kind::deliver);
    in.seq = m.intent().seq();
    in.lines = lines_from_pb(m.intent().lines());
    if (m.intent().has_merchant_note())
      in.merchant_note = m.intent().merchant_note();
    x.intent = std::move(in);
  } else if (m.has_pending()) {
    // Written before intents had a kind and a number: an uncommitted order was being placed; otherwise no
    // lines meant a cancellation and some lines an edit. Number 0 makes settling compare lines instead.
    order_intent in;
    in.lines = lines_from_pb(m.pending().lines());
    in.kind = !x.committed ? intent_kind::place : in.lines.empty() ? intent_kind::cancel : intent_kind::edit;
    x.intent = std::move(in);
  }
}

/// A domain struct through its message on a scratch arena, for structs with to_pb / from_pb overloads
/// (defined after them: unqualified lookup at the definition finds them).
template <class Pb, class X>
std::string encode_via(const X& x) {
  scratch_arena arena;
  auto& m = arena.make<Pb>();
  to_pb(x, m);
  return serialize(m);
}

template <class Pb, class X>
bool decode_via(std::string_view bytes, X& out) {
  scratch_arena arena;
  auto& m = arena.make<Pb>();
  if (!parse(bytes, m))
    return false;
  from_pb(m, out);
  return true;
}

} // namespace bento::codec::detail
