#pragma once
// Domain structs <-> Protobuf bytes (protocol/proto/bento/v1). Protobuf types never leave this file pair, so
// nothing else pays for the generated headers. decode() returns false on bytes that do not parse.
#include <optional>
#include <string>
#include <string_view>

#include "protocol/domain/types.hpp"

namespace bento::codec {

std::string encode(const domain::user& x);
std::string encode(const domain::ended_session& x);
std::string encode(const domain::restaurant& x);
std::string encode(const domain::menu_item& x);
std::string encode(const domain::reservation& x);
std::string encode(const domain::order& x);
std::string encode(const domain::event& x);
std::string encode(const domain::restaurant_meta& x);

bool decode(std::string_view bytes, domain::user& out);
bool decode(std::string_view bytes, domain::ended_session& out);
bool decode(std::string_view bytes, domain::restaurant& out);
bool decode(std::string_view bytes, domain::menu_item& out);
bool decode(std::string_view bytes, domain::reservation& out);
bool decode(std::string_view bytes, domain::order& out);
bool decode(std::string_view bytes, domain::event& out);
bool decode(std::string_view bytes, domain::restaurant_meta& out);

/// An encoded event's type (bento.v1.Event field 2; the last one, as a parser takes it), read without decoding
/// the rest; nothing if it has none or the bytes are not a sequence of well-framed fields.
std::optional<std::string_view> event_type_of(std::string_view bytes);
/// An encoded event's fields but its payload (left as it is: `out.payload` is empty), the bytes checked to be
/// well framed: the payload's own contents are not parsed (its reader decodes them, and refuses them then).
bool decode_header(std::string_view bytes, domain::event& out);
/// An order's event, its payload the order as already encoded (its record's bytes are an Event's order field
/// as they are): the same bytes as encode() of the event with the order in it, without encoding the order again.
std::string encode_order_event(const domain::event& header, std::string_view encoded_order);
/// Gives an encoded event its sequence number, without decoding it: a field appended to the bytes (a protobuf
/// parser takes a scalar field's last value), so what it had before, if anything, no longer counts.
void stamp_seq(std::string& encoded_event, uint64_t seq);

} // namespace bento::codec
