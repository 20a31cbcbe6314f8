#include "protocol/codec/entity_codec.hpp"

#include <google/protobuf/io/coded_stream.h>

#include "protocol/codec/pb_convert.hpp"

namespace bento::codec {

using namespace detail;
using namespace bento::domain;
namespace pb = bento::v1;

std::string encode(const user& x) {
  return encode_via<pb::User>(x);
}

std::string encode(const restaurant& x) {
  return encode_via<pb::Restaurant>(x);
}

std::string encode(const menu_item& x) {
  return encode_via<pb::MenuItem>(x);
}

std::string encode(const reservation& x) {
  scratch_arena arena;
  auto& m = arena.make<pb::Reservation>();
  m.set_order_id(x.order_id);
  m.set_stock_date(x.stock_date);
  for (auto& l : x.lines)
    to_pb(l, *m.add_lines());
  m.set_date(x.date);
  m.set_seq(x.seq);
  for (auto& h : x.holds) {
    auto* p = m.add_holds();
    p->set_item_id(h.item_id);
    p->set_generation(h.generation);
    p->set_frozen(h.frozen);
  }
  m.set_fenced(x.fenced);
  return serialize(m);
}

std::string encode(const restaurant_meta& x) {
  scratch_arena arena;
  auto& m = arena.make<pb::RestaurantMeta>();
  m.set_last_today(x.last_today);
  m.set_last_version(x.last_version);
  m.set_records_layout(x.records_layout);
  return serialize(m);
}

bool decode(std::string_view bytes, restaurant_meta& out) {
  scratch_arena arena;
  auto& m = arena.make<pb::RestaurantMeta>();
  if (!parse(bytes, m))
    return false;
  out.last_today = m.last_today();
  out.last_version = m.last_version();
  out.records_layout = m.records_layout();
  return true;
}

std::string encode(const order& x) {
  return encode_via<pb::Order>(x);
}

void to_pb(const ended_session& x, pb::EndedSession& m) {
  m.set_user_id(x.user_id);
  m.set_token_id(x.token_id);
  m.set_issued_at_s(x.issued_at_s);
  m.set_expires_at_s(x.expires_at_s);
}

ended_session from_pb(const pb::EndedSession& m) {
  return ended_session{m.user_id(), m.token_id(), m.issued_at_s(), m.expires_at_s()};
}

std::string encode(const ended_session& x) {
  scratch_arena arena;
  auto& m = arena.make<pb::EndedSession>();
  to_pb(x, m);
  return serialize(m);
}

bool decode(std::string_view bytes, ended_session& out) {
  scratch_arena arena;
  auto& m = arena.make<pb::EndedSession>();
  if (!parse(bytes, m))
    return false;
  out = from_pb(m);
  return true;
}

namespace {

/// An event's fields but its payload, both ways (Event and EventHeader share their numbers).
void header_to_pb(const event& x, pb::Event& m) {
  m.set_seq(x.seq);
  m.set_type(x.type);
  m.set_entity(x.entity);
  m.set_at_ms(x.at_ms);
  m.set_restaurant_id(x.restaurant_id);
}

template <class Pb>
void header_from_pb(const Pb& m, event& out) {
  out.seq = m.seq();
  out.type = m.type();
  out.entity = m.entity();
  out.at_ms = m.at_ms();
  out.restaurant_id = m.restaurant_id();
}

} // namespace

std::string encode(const event& x) {
  scratch_arena arena;
  auto& m = arena.make<pb::Event>();
  header_to_pb(x, m);
  switch (x.payload.index()) {
    case 1: to_pb(std::get<user>(x.payload), *m.mutable_user()); break;
    case 2: to_pb(std::get<restaurant>(x.payload), *m.mutable_restaurant()); break;
    case 3: to_pb(std::get<menu_item>(x.payload), *m.mutable_menu_item()); break;
    case 4: to_pb(std::get<order>(x.payload), *m.mutable_order()); break;
    case 5: {
      auto* levels = m.mutable_stock();
      for (auto& s : std::get<std::vector<stock_level>>(x.payload)) {
        auto* l = levels->add_levels();
        l->set_item_id(s.item_id);
        l->set_stock(s.stock);
        l->set_stock_date(s.stock_date);
        l->set_version(s.version);
      }
      break;
    }
    case 6: to_pb(std::get<ended_session>(x.payload), *m.mutable_ended_session()); break;
    default: break;
  }
  return serialize(m);
}

bool decode(std::string_view bytes, user& out) {
  return decode_via<pb::User>(bytes, out);
}

bool decode(std::string_view bytes, restaurant& out) {
  return decode_via<pb::Restaurant>(bytes, out);
}

bool decode(std::string_view bytes, menu_item& out) {
  return decode_via<pb::MenuItem>(bytes, out);
}

bool decode(std::string_view bytes, reservation& out) {
  scratch_arena arena;
  auto& m = arena.make<pb::Reservation>();
  if (!parse(bytes, m))
    return false;
  out.order_id = m.order_id();
  out.stock_date = m.stock_date();
  out.lines = lines_from_pb(m.lines());
  out.date = m.date().empty() ? m.stock_date() : m.date();
  out.seq = m.seq();
  out.holds.clear();
  for (auto& h : m.holds())
    out.holds.push_back(reservation_hold{h.item_id(), h.generation(), h.frozen()});
  out.fenced = m.fenced();
  return true;
}

bool decode(std::string_view bytes, order& out) {
  return decode_via<pb::Order>(bytes, out);
}

bool decode(std::string_view bytes, event& out) {
  scratch_arena arena;
  auto& m = arena.make<pb::Event>();
  if (!parse(bytes, m))
    return false;
  header_from_pb(m, out);
  switch (m.payload_case()) {
    case pb::Event::kUser: {
      user u;
      from_pb(m.user(), u);
      out.payload = std::move(u);
      break;
    }
    case pb::Event::kRestaurant: {
      restaurant r;
      from_pb(m.restaurant(), r);
      out.payload = std::move(r);
      break;
    }
    case pb::Event::kMenuItem: {
      menu_item i;
      from_pb(m.menu_item(), i);
      out.payload = std::move(i);
      break;
    }
    case pb::Event::kOrder: {
      order o;
      from_pb(m.order(), o);
      out.payload = std::move(o);
      break;
    }
    case pb::Event::kStock: {
      std::vector<stock_level> levels;
      for (auto& l : m.stock().levels())
        levels.push_back(stock_level{l.item_id(), l.stock(), l.stock_date(), l.version()});
      out.payload = std::move(levels);
      break;
    }
    case pb::Event::kEndedSession: out.payload = from_pb(m.ended_session()); break;
    default: out.payload = std::monostate{}; break;
  }
  return true;
}

/// An encoded event's type (bento.v1.Event field 2), read without decoding the rest; nothing if it has none or
/// the bytes do not parse that far.
std::optional<std::string_view> event_type_of(std::string_view bytes) {
  std::optional<std::string_view> type;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const auto* end = p + bytes.size();
  auto varint = [&](uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && p < end; shift += 7) {
      uint8_t b = *p++;
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80))
        return true;
    }
    return false;
  };
  while (p < end) {
    uint64_t tag = 0, v = 0;
    if (!varint(tag))
      return std::nullopt;
    auto wire = tag & 7;
    if (wire == 0) {
      if (!varint(v))
        return std::nullopt;
    } else if (wire == 2) {
      if (!varint(v) || v > uint64_t(end - p))
        return std::nullopt;
      if ((tag >> 3) == 2) // the last one counts, as for a parser (a second type field replaces the first)
        type = std::string_view(reinterpret_cast<const char*>(p), v);
      p += v;
    } else if (wire == 1 || wire == 5) {
      auto n = wire == 1 ? 8u : 4u;
      if (uint64_t(end - p) < n)
        return std::nullopt;
      p += n;
    } else {
      return std::nullopt;
    }
  }
  return type;
}

bool decode_header(std::string_view bytes, event& out) {
  scratch_arena arena;
  auto& m = arena.make<pb::EventHeader>();
  if (!parse(bytes, m))
    return false;
  header_from_pb(m, out);
  out.payload = std::monostate{};
  return true;
}

namespace {

void put_varint(std::string& out, uint64_t v) {
  uint8_t buf[10]; // a 64-bit varint takes at most ten bytes
  auto* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(v, buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(end - buf));
}

} // namespace

// Both hand-written tags are one byte: field numbers below 16.
static_assert(pb::Event::kOrderFieldNumber < 16 && pb::Event::kSeqFieldNumber < 16);

std::string encode_order_event(const event& header, std::string_view encoded_order) {
  scratch_arena arena;
  auto& m = arena.make<pb::Event>();
  header_to_pb(header, m);
  auto out = serialize(m);
  out.reserve(out.size() + encoded_order.size() + 6);
  out.push_back(static_cast<char>((pb::Event::kOrderFieldNumber << 3) | 2)); // length-delimited
  put_varint(out, encoded_order.size());
  out.append(encoded_order);
  return out;
}

void stamp_seq(std::string& encoded_event, uint64_t seq) {
  encoded_event.push_back(static_cast<char>(pb::Event::kSeqFieldNumber << 3)); // wire type 0 (varint)
  put_varint(encoded_event, seq);
}

} // namespace bento::codec
