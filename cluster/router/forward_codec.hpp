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

// (command, reply, kind): kinds are wire numbers, never reused.
#define BENTO_FORWARDED_COMMANDS(X)                                                                            \
  X(register_user, user_view, 1)                                                                               \
  X(verify_login, user_view, 2)                                                                                \
  X(get_user, user_view, 3)                                                                                    \
  X(open_restaurant, restaurant, 4)                                                                            \
  X(create_restaurant, restaurant, 5)                                                                          \
  X(upsert_menu_item, upsert_result, 6)                                                                        \
  X(patch_menu_item, upsert_result, 7)                                                                         \
  X(delete_menu_item, bool, 8)                                                                                 \
  X(get_menu, menu_view, 9)                                                                                    \
  X(set_reservation, reservation_result, 10)                                                                   \
  X(settle_reservation, settle_result, 11)                                                                     \
  X(finalize_reservation, bool, 12)                                                                            \
  X(place_order, order, 13)                                                                                    \
  X(get_order, order, 14)                                                                                      \
  X(transition_order, order, 15)                                                                               \
  X(edit_order, order, 16)

template <class Cmd>
struct command_traits;

#define BENTO_TRAITS(cmd, reply_type, number)                                                                  \
  template <>                                                                                                  \
  struct command_traits<domain::cmd> {                                                                         \
    using reply = domain::reply_type;                                                                          \
    static constexpr uint32_t kind = number;                                                                   \
  };
namespace domain_alias {
} // namespace domain_alias
} // namespace bento::cluster::router

namespace bento::domain {
using bool_reply = bool; // `bool` as a reply type name usable after `domain::`
} // namespace bento::domain

namespace bento::cluster::router {

#define BENTO_TRAITS2(cmd, reply_type, number) BENTO_TRAITS(cmd, reply_type, number)
#define bool bool_reply
BENTO_FORWARDED_COMMANDS(BENTO_TRAITS2)
#undef bool
#undef BENTO_TRAITS2
#undef BENTO_TRAITS

/// The entity whose shard serves a command.
std::string entity_key_of(const domain::register_user& c);
std::string entity_key_of(const domain::verify_login& c);
std::string entity_key_of(const domain::get_user& c);
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
