#pragma once
// The public structs to and from the protocol's payload messages (client.proto). The only translation unit
// besides the transport that sees Protobuf types, so the public headers never do.
#include <string>

#include "bento/client/types.hpp"

namespace bento::client::detail {

std::string payload_of(const register_request& r);
std::string login_payload(const std::string& username, const std::string& password);
std::string payload_of(const create_restaurant_request& r);
std::string payload_of(const list_restaurants_request& r);
std::string payload_of(const get_menu_request& r);
std::string payload_of(const get_item_request& r);
std::string payload_of(const put_item_request& r);
std::string payload_of(const patch_item_request& r);
std::string payload_of(const delete_item_request& r);
std::string payload_of(const search_menu_request& r);
std::string payload_of(const place_order_request& r);
std::string payload_of(const list_orders_request& r);
std::string payload_of(const edit_order_request& r);
std::string order_payload(const std::string& order_id);
std::string decommission_payload(const std::string& node_id);
std::string empty_payload();

/// false when the bytes are not the reply's message.
bool parse_reply(const std::string& bytes, user& out);
bool parse_reply(const std::string& bytes, session& out);
bool parse_reply(const std::string& bytes, restaurant& out);
bool parse_reply(const std::string& bytes, restaurant_list& out);
bool parse_reply(const std::string& bytes, menu& out);
bool parse_reply(const std::string& bytes, menu_item& out);
bool parse_reply(const std::string& bytes, item_written& out);
bool parse_reply(const std::string& bytes, menu_page& out);
bool parse_reply(const std::string& bytes, order& out);
bool parse_reply(const std::string& bytes, order_list& out);
bool parse_reply(const std::string& bytes, cluster_status& out);
bool parse_reply(const std::string& bytes, shard_map& out);

} // namespace bento::client::detail
