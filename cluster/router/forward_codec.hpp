#pragma once
// Commands forwarded between nodes to the leader of their entity's shard, and the answers back: which commands
// travel (each with a stable kind number), which entity key routes each, and the bytes of the envelopes. The
// command and reply bytes are the command codec's (protocol/codec). Everything decoded here is untrusted.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/errc.hpp"

namespace bento::cluster::router {

/// What travels for each command: its reply type and its wire number (never reused).
template <class Cmd>
struct command_traits;

#define BENTO_FORWARDED(cmd, reply_type, number)                                                               \
  template <>                                                                                                  \
  struct command_traits<domain::cmd> {                                                                         \
    using reply = reply_type;                                                                                  \
    static constexpr uint32_t kind = number;                                                                   \
  };
BENTO_FORWARDED(register_user, domain::user_view, 1)
BENTO_FORWARDED(verify_login, domain::user_view, 2)
BENTO_FORWARDED(get_user, domain::user_view, 3)
BENTO_FORWARDED(open_restaurant, domain::restaurant, 4)
BENTO_FORWARDED(create_restaurant, domain::restaurant, 5)
BENTO_FORWARDED(upsert_menu_item, domain::upsert_result, 6)
BENTO_FORWARDED(patch_menu_item, domain::upsert_result, 7)
BENTO_FORWARDED(delete_menu_item, bool, 8)
BENTO_FORWARDED(get_menu, domain::menu_view, 9)
BENTO_FORWARDED(set_reservation, domain::reservation_result, 10)
BENTO_FORWARDED(settle_reservation, domain::settle_result, 11)
BENTO_FORWARDED(finalize_reservation, bool, 12)
BENTO_FORWARDED(place_order, domain::order, 13)
BENTO_FORWARDED(get_order, domain::order, 14)
BENTO_FORWARDED(transition_order, domain::order, 15)
BENTO_FORWARDED(edit_order, domain::order, 16)
BENTO_FORWARDED(end_session, bool, 17)
BENTO_FORWARDED(set_member_state, bool, 18)
#undef BENTO_FORWARDED

/// The entity whose shard serves a command.
std::string entity_key_of(const domain::register_user& c);
std::string entity_key_of(const domain::verify_login& c);
std::string entity_key_of(const domain::get_user& c);
std::string entity_key_of(const domain::end_session& c);
std::string entity_key_of(const domain::set_member_state& c);
std::string entity_key_of(const domain::open_restaurant& c);
std::string entity_key_of(const domain::create_restaurant& c);
std::string entity_key_of(const domain::upsert_menu_item& c);
std::string entity_key_of(const domain::patch_menu_item& c);
std::string entity_key_of(const domain::delete_menu_item& c);
std::string entity_key_of(const domain::get_menu& c);
std::string entity_key_of(const domain::set_reservation& c);
std::string entity_key_of(const domain::settle_reservation& c);
std::string entity_key_of(const domain::finalize_reservation& c);
std::string entity_key_of(const domain::place_order& c);
std::string entity_key_of(const domain::get_order& c);
std::string entity_key_of(const domain::transition_order& c);
std::string entity_key_of(const domain::edit_order& c);

// Reply bytes (the command codec's, and the entity codec's for entity replies).
std::string encode_reply(const domain::user_view& r);
std::string encode_reply(const domain::restaurant& r);
std::string encode_reply(const domain::upsert_result& r);
std::string encode_reply(bool r);
std::string encode_reply(const domain::menu_view& r);
std::string encode_reply(const domain::reservation_result& r);
std::string encode_reply(const domain::settle_result& r);
std::string encode_reply(const domain::order& r);
bool decode_reply(std::string_view bytes, domain::user_view& out);
bool decode_reply(std::string_view bytes, domain::restaurant& out);
bool decode_reply(std::string_view bytes, domain::upsert_result& out);
bool decode_reply(std::string_view bytes, bool& out);
bool decode_reply(std::string_view bytes, domain::menu_view& out);
bool decode_reply(std::string_view bytes, domain::reservation_result& out);
bool decode_reply(std::string_view bytes, domain::settle_result& out);
bool decode_reply(std::string_view bytes, domain::order& out);

// Envelopes (ClusterData).
struct forward_request {
  uint64_t id = 0;
  uint32_t kind = 0;
  std::string command;
  uint32_t timeout_ms = 0;
};

struct forward_reply {
  uint64_t id = 0;
  bool ok = false;
  std::string reply;
  domain::failure failure;
  bool not_leader = false;
  std::string leader_hint;
};

struct raft_frame {
  std::string batch; // RaftBatch bytes (cluster/shard/raft_wire)
};

using cluster_data = std::variant<raft_frame, forward_request, forward_reply>;

std::string encode_data(const cluster_data& d);
/// Refuses bytes that do not parse or carry nothing.
bool decode_data(std::string_view bytes, cluster_data& out);

} // namespace bento::cluster::router
