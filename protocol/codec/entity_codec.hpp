#pragma once
// Domain structs <-> Protobuf bytes (protocol/proto/bento/v1). Protobuf types never leave this file pair, so
// nothing else pays for the generated headers. decode() returns false on bytes that do not parse.
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

} // namespace bento::codec
