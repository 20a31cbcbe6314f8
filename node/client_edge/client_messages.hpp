#pragma once
// Domain values to and from the client protocol's messages (protocol/proto/bento/client/v1/client.proto).
// Only the client edge includes this: it names Protobuf types.
#include "bento/client/v1/client.pb.h"
#include "protocol/domain/commands.hpp"

namespace bento::node::client_messages {

namespace pb = bento::client::v1;

void to_pb(const domain::user_view& in, pb::User& out);
void to_pb(const domain::restaurant& in, pb::Restaurant& out);
void to_pb(const domain::menu_item& in, pb::MenuItem& out);
void to_pb(const domain::order& in, pb::Order& out);

/// Enums from the wire: nullopt for a value this version does not define (or "not given").
std::optional<domain::role> role_of(pb::Role r);
std::optional<domain::meal> meal_of(pb::Meal m);
std::optional<domain::order_status> status_of(pb::OrderStatus s);
/// A list of meals from the wire; false when one is not a meal.
bool meals_of(const google::protobuf::RepeatedField<int>& in, std::vector<domain::meal>& out);
std::vector<domain::line_request> lines_of(const google::protobuf::RepeatedPtrField<pb::LineRequest>& in);

} // namespace bento::node::client_messages
