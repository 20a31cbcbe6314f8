#pragma once
// Commands, replies and failures <-> Protobuf bytes (bento/v1/api.proto): what the binary client protocol and
// node-to-node forwarding carry. decode() returns false on bytes that do not parse.
#include <string>
#include <string_view>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/errc.hpp"

namespace bento::codec {

#define BENTO_COMMAND_CODEC(type)                                                                              \
  std::string encode(const domain::type& x);                                                                   \
  bool decode(std::string_view bytes, domain::type& out);

BENTO_COMMAND_CODEC(failure)
BENTO_COMMAND_CODEC(register_user)
BENTO_COMMAND_CODEC(verify_login)
BENTO_COMMAND_CODEC(get_user)
BENTO_COMMAND_CODEC(end_session)
BENTO_COMMAND_CODEC(set_member_state)
BENTO_COMMAND_CODEC(user_view)
BENTO_COMMAND_CODEC(create_restaurant)
BENTO_COMMAND_CODEC(upsert_menu_item)
BENTO_COMMAND_CODEC(upsert_result)
BENTO_COMMAND_CODEC(patch_menu_item)
BENTO_COMMAND_CODEC(delete_menu_item)
BENTO_COMMAND_CODEC(get_menu)
BENTO_COMMAND_CODEC(menu_view)
BENTO_COMMAND_CODEC(set_reservation)
BENTO_COMMAND_CODEC(reservation_result)
BENTO_COMMAND_CODEC(finalize_reservation)
BENTO_COMMAND_CODEC(settle_reservation)
BENTO_COMMAND_CODEC(settle_result)
BENTO_COMMAND_CODEC(place_order)
BENTO_COMMAND_CODEC(get_order)
BENTO_COMMAND_CODEC(transition_order)
BENTO_COMMAND_CODEC(edit_order)
BENTO_COMMAND_CODEC(list_orders)
BENTO_COMMAND_CODEC(order_list)
BENTO_COMMAND_CODEC(menu_query)
BENTO_COMMAND_CODEC(menu_page)
BENTO_COMMAND_CODEC(restaurants_query)
BENTO_COMMAND_CODEC(restaurant_list)

#undef BENTO_COMMAND_CODEC

} // namespace bento::codec
