#include "cluster/router/forward_codec.hpp"

#include "actors/common/keys.hpp"
#include "bento/v1/replication.pb.h"
#include "protocol/codec/command_codec.hpp"
#include "protocol/codec/entity_codec.hpp"

namespace bento::cluster::router {

namespace keys = bento::actors::keys;
namespace pb = bento::v1;
using namespace bento::domain;

std::string entity_key_of(const register_user& c) { return keys::user_entity(c.username); }
std::string entity_key_of(const verify_login& c) { return keys::user_entity(c.username); }
std::string entity_key_of(const get_user& c) { return keys::user_entity(c.username); }
std::string entity_key_of(const end_session& c) { return keys::user_entity(c.username); }
std::string entity_key_of(const set_member_state&) { return keys::cluster_members_entity; }
std::string entity_key_of(const open_restaurant& c) { return keys::user_entity(c.create.caller.username); }
std::string entity_key_of(const create_restaurant& c) { return keys::restaurant_entity(c.restaurant_id); }
std::string entity_key_of(const upsert_menu_item& c) { return keys::restaurant_entity(c.restaurant_id); }
std::string entity_key_of(const patch_menu_item& c) { return keys::restaurant_entity(c.restaurant_id); }
std::string entity_key_of(const delete_menu_item& c) { return keys::restaurant_entity(c.restaurant_id); }
std::string entity_key_of(const get_menu& c) { return keys::restaurant_entity(c.restaurant_id); }
std::string entity_key_of(const set_reservation& c) { return keys::restaurant_entity(c.restaurant_id); }
std::string entity_key_of(const settle_reservation& c) { return keys::restaurant_entity(c.restaurant_id); }
std::string entity_key_of(const finalize_reservation& c) { return keys::restaurant_entity(c.restaurant_id); }
std::string entity_key_of(const place_order& c) { return keys::order_entity(c.order_id); }
std::string entity_key_of(const get_order& c) { return keys::order_entity(c.order_id); }
std::string entity_key_of(const transition_order& c) { return keys::order_entity(c.order_id); }
std::string entity_key_of(const edit_order& c) { return keys::order_entity(c.order_id); }

std::string encode_reply(const user_view& r) { return codec::encode(r); }
std::string encode_reply(const restaurant& r) { return codec::encode(r); }
std::string encode_reply(const upsert_result& r) { return codec::encode(r); }
std::string encode_reply(bool r) { return std::string(1, r ? '\1' : '\0'); }
std::string encode_reply(const menu_view& r) { return codec::encode(r); }
std::string encode_reply(const reservation_result& r) { return codec::encode(r); }
std::string encode_reply(const settle_result& r) { return codec::encode(r); }
std::string encode_reply(const order& r) { return codec::encode(r); }

bool decode_reply(std::string_view bytes, user_view& out) { return codec::decode(bytes, out); }
bool decode_reply(std::string_view bytes, restaurant& out) { return codec::decode(bytes, out); }
bool decode_reply(std::string_view bytes, upsert_result& out) { return codec::decode(bytes, out); }
bool decode_reply(std::string_view bytes, bool& out) {
  if (bytes.size() != 1 || (bytes[0] != '\0' && bytes[0] != '\1'))
    return false;
  out = bytes[0] == '\1';
  return true;
}
bool decode_reply(std::string_view bytes, menu_view& out) { return codec::decode(bytes, out); }
bool decode_reply(std::string_view bytes, reservation_result& out) { return codec::decode(bytes, out); }
bool decode_reply(std::string_view bytes, settle_result& out) { return codec::decode(bytes, out); }
bool decode_reply(std::string_view bytes, order& out) { return codec::decode(bytes, out); }

std::string encode_data(const cluster_data& d) {
  pb::ClusterData m;
  if (auto* raft = std::get_if<raft_frame>(&d)) {
    if (!m.mutable_raft()->ParseFromString(raft->batch))
      m.mutable_raft(); // an empty batch rather than a malformed frame
  } else if (auto* req = std::get_if<forward_request>(&d)) {
    auto* o = m.mutable_request();
    o->set_id(req->id);
    o->set_kind(req->kind);
    o->set_command(req->command);
    o->set_timeout_ms(req->timeout_ms);
  } else if (auto* rep = std::get_if<forward_reply>(&d)) {
    auto* o = m.mutable_reply();
    o->set_id(rep->id);
    o->set_ok(rep->ok);
    o->set_reply(rep->reply);
    if (!rep->ok && !rep->not_leader)
      o->set_failure(codec::encode(rep->failure));
    o->set_not_leader(rep->not_leader);
    o->set_leader_hint(rep->leader_hint);
  }
  return m.SerializeAsString();
}

bool decode_data(std::string_view bytes, cluster_data& out) {
  pb::ClusterData m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return false;
  switch (m.kind_case()) {
    case pb::ClusterData::kRaft:
      out = raft_frame{m.raft().SerializeAsString()};
      return true;
    case pb::ClusterData::kRequest: {
      auto& r = m.request();
      out = forward_request{r.id(), r.kind(), r.command(), r.timeout_ms()};
      return true;
    }
    case pb::ClusterData::kReply: {
      auto& r = m.reply();
      forward_reply rep;
      rep.id = r.id();
      rep.ok = r.ok();
      rep.reply = r.reply();
      rep.not_leader = r.not_leader();
      rep.leader_hint = r.leader_hint();
      if (!rep.ok && !rep.not_leader && !codec::decode(r.failure(), rep.failure))
        return false;
      out = std::move(rep);
      return true;
    }
    default:
      return false;
  }
}

} // namespace bento::cluster::router
