// libFuzzer target: the bytes another node (or a stranger on the cluster port) can send, through every decoder
// that reads them, and consensus traffic on into real shard replicas. The first byte picks the decoder (bits 0-1),
// whether the input starts from fresh replicas (bit 5), whether entities then write through the leader (bit 4:
// 1 + bits 6-7 writes) and how many ticks the replicas get after that (bits 2-3); the rest is the payload:
//   0  a cluster-port frame: transport/wire_codec decode_peer_message (the unauthenticated outer frame); a Hello
//      or Challenge address through parse_address, proofs and MACs through the handshake checks, and a Sealed
//      frame's body handed on by channel as if its MAC had checked out (an authenticated peer): data below (2),
//      membership (3), control (LinkControl);
//   1  a consensus frame: shard/raft_wire decode_raft_batch, then every message of group 1 stepped into one of
//      three voters of a shard (shard_replica over RocksDB in a temporary directory, as in
//      tests/unit/shard_replica_test.cpp), whose own messages are carried between them and which are ticked and
//      written to as the first byte says: a lying authenticated peer (any member or outsider), not just the parser;
//   2  a data frame: router/forward_codec decode_data; a raft frame goes on as in 1, a forwarded command is
//      decoded with the codec of its kind, a forwarded reply with every decode_reply overload;
//   3  a membership frame (MembershipMessage): the checks membership.cpp applies to a member list, the failure
//      detector for a heartbeat. membership::impl::on_frame itself is reachable only through a transport with an
//      authenticated session (a loopback pair of nodes), not from here.
// Invariants (abort = a finding): no crash, abort, raft invariant or sanitizer report; no replica stalled on a
// write its store refused (the disk is fine: the write is what a peer made up); whatever decodes encodes
// again to bytes that decode to the same value (decode(encode(decode(x))) re-encodes to the same bytes); an
// address that parses prints in a form that parses to itself; the replicas' own traffic comes to rest.
//
// The replicas persist across inputs (reset every 4000 consensus inputs, or when the group has had no leader or
// made no progress for a while); a fresh group is always built the same way (same seeds, same schedule), so an
// input with bit 5 set means the same whatever ran before it (stored reproducers have it), and
// BENTO_FUZZ_PEER_FRESH=1 (a fresh group for every input) replays any one input on its own.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"
#include "actors/store/store_layout.hpp"
#include "bento/v1/cluster.pb.h"
#include "bento/v1/replication.pb.h"
#include "cluster/consensus/membership_change.hpp"
#include "cluster/membership/failure_detector.hpp"
#include "cluster/router/forward_codec.hpp"
#include "cluster/shard/entry_codec.hpp"
#include "cluster/shard/raft_wire.hpp"
#include "cluster/shard/shard_replica.hpp"
#include "cluster/shard/shard_snapshot.hpp"
#include "cluster/transport/handshake.hpp"
#include "cluster/transport/node_address.hpp"
#include "cluster/transport/wire_codec.hpp"
#include "protocol/codec/command_codec.hpp"
#include "protocol/codec/protobuf_log.hpp"
#include "protocol/domain/shards.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/shard_test_support.hpp"
#include "tests/unit/raft_test_support.hpp"

namespace {

using namespace bento;
using namespace bento::cluster;
namespace pb = bento::v1;
using consensus::message;
using consensus::message_type;
using consensus::node_id;

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "fuzz finding: %s\n", what.c_str());
  std::abort();
}

void quiet_logs() {
  spdlog::set_level(spdlog::level::critical); // refusals, RocksDB chatter: expected (findings abort)
  bento::codec::route_protobuf_log(); // its non-UTF-8 complaints at debug: dropped here, fatal ones kept
}

enum mode : uint8_t { wire_mode = 0, raft_mode = 1, data_mode = 2, members_mode = 3 };

constexpr shard::group_id fuzz_group = 1;
constexpr size_t frame_max_bytes = 8u << 20; // transport_config's default

shard::replica_options options_for(node_id id) {
  auto o = test::replica_options_for(id, 20); // the log is compacted every few hundred writes: a member left
                                               // behind gets...
  o.snapshot_max_bytes = 2048; // ... a snapshot, in several chunks
  o.snapshot_retry_ticks = 20;
  return o;
}

/// Three voters of shard 1, each over its own RocksDB, their messages carried by hand (in order, none lost).
struct group {
  struct member {
    std::unique_ptr<store::entity_store> db;
    std::unique_ptr<store::shard_store> shard;
    std::unique_ptr<shard::shard_replica> replica;
  };
  test::temp_dir dir;
  std::map<node_id, member> members;
  std::deque<message> wire;
  uint64_t writes = 0;

  group() {
    consensus::membership voters;
    voters.voters = {1, 2, 3};
    for (node_id id : {1, 2, 3}) {
      auto& m = members[id];
      auto db = store::entity_store::open(store::store_options{dir / ("n" + std::to_string(id)), false, 4u << 20, 4});
      if (!db || !actors::ensure_store_layout(**db))
        finding("cannot open a replica's store");
      m.db = std::move(*db);
      m.shard = std::make_unique<store::shard_store>(*m.db, 1);
      auto r = shard::shard_replica::open(*m.shard, fuzz_group, options_for(id), voters);
      if (!r)
        finding("cannot open a replica");
      m.replica = std::move(*r);
      m.replica->set_sender([this](const message& msg) { wire.push_back(msg); });
    }
    // The same start every time: a leader, a few writes everyone has applied.
    for (int t = 0; t < 300 && !leader(); ++t)
      tick();
    if (!leader())
      finding("a fresh group elects no leader");
    for (int i = 0; i < 3; ++i)
      write();
    for (int t = 0; t < 3; ++t)
      tick();
  }

  ~group() {
    for (auto& [id, m] : members)
      m.replica->drop_transfers(); // their store views go before the stores
  }

  /// Delivers the replicas' own messages until none is left.
  void pump() {
    for (size_t n = 0; !wire.empty(); ++n) {
      if (n > 200000)
        finding("the replicas' own messages never come to rest");
      auto m = std::move(wire.front());
      wire.pop_front();
      if (auto it = members.find(m.to); it != members.end())
        it->second.replica->step(m);
    }
  }

  void tick() {
    for (auto& [id, m] : members)
      m.replica->tick();
    pump();
  }

  shard::shard_replica* leader() {
    for (auto& [id, m] : members)
      if (m.replica->is_leader())
        return m.replica.get();
    return nullptr;
  }

  /// An entity's write through whoever leads (none: nothing).
  void write() {
    if (auto* l = leader()) {
      auto b = test::order_batch(++writes);
      (void)l->commit(b);
      pump();
    }
  }

  /// A message from a peer, as replica_host::process_inbound hands it on: every message of the group goes to the
  /// group's replica whatever its `to`; the transport proved the sender, who is never 0 nor the receiver itself.
  void deliver(const message& m) {
    auto it = members.find(m.to);
    if (it == members.end())
      it = members.find(1 + m.to % 3);
    if (m.from == 0 || m.from == it->first)
      return;
    it->second.replica->step(m);
    pump();
  }

  consensus::index_t applied() const {
    consensus::index_t most = 0;
    for (auto& [id, m] : members)
      most = std::max(most, m.replica->applied());
    return most;
  }
};

struct peer_target {
  std::unique_ptr<group> replicas;
  // Inputs on the current group, of those that ticked how many in a row found no leader, of those that wrote
  // how many in a row did not get it applied.
  uint64_t inputs_on_group = 0, leaderless = 0, stalled = 0;
  consensus::index_t last_applied = 0;
  uint64_t stepped = 0; // messages stepped into replicas and commands decoded (the driver reports it)
  bool fresh_every_input = false;
  membership::failure_detector detector{std::chrono::milliseconds(500), std::chrono::milliseconds(1000)};
  std::chrono::steady_clock::time_point clock{};

  peer_target() {
    quiet_logs();
    const char* fresh = std::getenv("BENTO_FUZZ_PEER_FRESH");
    fresh_every_input = fresh && std::string(fresh) == "1";
  }

  group& replica_group(bool fresh) {
    if (!replicas || fresh || fresh_every_input || inputs_on_group >= 4000 || leaderless > 100 || stalled > 300) {
      replicas.reset();
      replicas = std::make_unique<group>();
      inputs_on_group = leaderless = stalled = 0;
      last_applied = replicas->applied();
    }
    return *replicas;
  }

  // --- 1: consensus frames ---------------------------------------------------------------------------------

  void raft_frame(std::string_view bytes, uint8_t after) {
    std::vector<shard::group_message> messages;
    if (!shard::decode_raft_batch(bytes, messages))
      return;
    // raft_wire writes a snapshot meta for every install_snapshot but reads one only when present: one without
    // (which the core then drops: index 0) does not decode again once re-encoded. Known, harmless: not checked.
    bool meta_less = false;
    for (auto& gm : messages)
      meta_less |= gm.message.type == message_type::install_snapshot && gm.message.snapshot.members.voters.empty();
    if (!meta_less) {
      auto once = shard::encode_raft_batch(messages);
      std::vector<shard::group_message> again;
      if (!shard::decode_raft_batch(once, again))
        finding("a consensus frame that decoded does not decode once re-encoded");
      if (shard::encode_raft_batch(again) != once)
        finding("a consensus frame re-encodes to other bytes");
    }
    auto& g = replica_group(after & 32);
    ++inputs_on_group;
    for (auto& gm : messages) {
      if (gm.group != fuzz_group)
        continue; // replica_host: a group this node has no replica of
      ++stepped;
      g.deliver(gm.message);
    }
    if (after & 16) {
      for (int w = 0; w <= (after >> 6); ++w)
        g.write();
      auto applied = g.applied();
      stalled = applied > last_applied ? 0 : stalled + 1;
      last_applied = std::max(last_applied, applied);
    }
    int ticks = (after >> 2) & 3;
    for (int t = 0; t < ticks; ++t)
      g.tick();
    if (ticks > 0)
      leaderless = g.leader() ? 0 : leaderless + 1;
    // Their disks are fine: a write refused can only be one a peer made up, and the replica would retry it
    // forever (and its store refuse every other write meanwhile).
    for (auto& [id, m] : g.members)
      if (m.replica->stalled())
        finding("replica " + std::to_string(id) + " is stalled: its store refused a write a peer's input led to");
  }

  // --- 2: data frames (forwarded commands and replies) -----------------------------------------------------

  template <class Cmd>
  static std::string encode_command(const Cmd& c) {
    return codec::encode(c);
  }
  static std::string encode_command(const domain::open_restaurant& c) {
    return codec::encode(c.create); // as cluster_router.cpp: it travels as the creation it wraps
  }
  template <class Cmd>
  static bool decode_command(std::string_view bytes, Cmd& out) {
    return codec::decode(bytes, out);
  }
  static bool decode_command(std::string_view bytes, domain::open_restaurant& out) {
    return codec::decode(bytes, out.create);
  }

  template <class Cmd>
  void command(const std::string& bytes) {
    Cmd cmd;
    if (!decode_command(bytes, cmd))
      return;
    ++stepped;
    (void)domain::shard_of(router::entity_key_of(cmd), domain::default_shard_count);
    auto once = encode_command(cmd);
    Cmd again;
    if (!decode_command(once, again))
      finding("a forwarded command of kind " + std::to_string(router::command_traits<Cmd>::kind)
              + " does not decode once re-encoded");
    if (encode_command(again) != once)
      finding("a forwarded command of kind " + std::to_string(router::command_traits<Cmd>::kind)
              + " re-encodes to other bytes");
  }

  void forwarded_command(uint32_t kind, const std::string& bytes) {
    using namespace bento::domain;
    using router::command_traits;
    switch (kind) { // the kinds cluster_router's execute_kind knows
      case command_traits<register_user>::kind: command<register_user>(bytes); break;
      case command_traits<verify_login>::kind: command<verify_login>(bytes); break;
      case command_traits<get_user>::kind: command<get_user>(bytes); break;
      case command_traits<end_session>::kind: command<end_session>(bytes); break;
      case command_traits<set_member_state>::kind: command<set_member_state>(bytes); break;
      case command_traits<open_restaurant>::kind: command<open_restaurant>(bytes); break;
      case command_traits<create_restaurant>::kind: command<create_restaurant>(bytes); break;
      case command_traits<upsert_menu_item>::kind: command<upsert_menu_item>(bytes); break;
      case command_traits<patch_menu_item>::kind: command<patch_menu_item>(bytes); break;
      case command_traits<delete_menu_item>::kind: command<delete_menu_item>(bytes); break;
      case command_traits<get_menu>::kind: command<get_menu>(bytes); break;
      case command_traits<set_reservation>::kind: command<set_reservation>(bytes); break;
      case command_traits<settle_reservation>::kind: command<settle_reservation>(bytes); break;
      case command_traits<finalize_reservation>::kind: command<finalize_reservation>(bytes); break;
      case command_traits<place_order>::kind: command<place_order>(bytes); break;
      case command_traits<get_order>::kind: command<get_order>(bytes); break;
      case command_traits<transition_order>::kind: command<transition_order>(bytes); break;
      case command_traits<edit_order>::kind: command<edit_order>(bytes); break;
      default: break;
    }
  }

  template <class Reply>
  void reply_as(const std::string& bytes, const char* what) {
    Reply r{};
    if (!router::decode_reply(bytes, r))
      return;
    auto once = router::encode_reply(r);
    Reply again{};
    if (!router::decode_reply(once, again))
      finding(std::string("a forwarded ") + what + " reply does not decode once re-encoded");
    if (router::encode_reply(again) != once)
      finding(std::string("a forwarded ") + what + " reply re-encodes to other bytes");
  }

  void data_frame(std::string_view bytes, uint8_t after) {
    router::cluster_data data;
    if (!router::decode_data(bytes, data))
      return;
    auto once = router::encode_data(data);
    router::cluster_data again;
    if (!router::decode_data(once, again))
      finding("a data frame that decoded does not decode once re-encoded");
    if (router::encode_data(again) != once)
      finding("a data frame re-encodes to other bytes");
    if (auto* raft = std::get_if<router::raft_frame>(&data)) {
      raft_frame(raft->batch, after); // node/cluster_runtime.cpp: on to the replicas' driver
    } else if (auto* req = std::get_if<router::forward_request>(&data)) {
      forwarded_command(req->kind, req->command);
    } else if (auto* rep = std::get_if<router::forward_reply>(&data)) {
      // The caller decodes the reply as the type its command expects: any of them may be the one.
      reply_as<domain::user_view>(rep->reply, "user");
      reply_as<domain::restaurant>(rep->reply, "restaurant");
      reply_as<domain::upsert_result>(rep->reply, "upsert");
      reply_as<bool>(rep->reply, "bool");
      reply_as<domain::menu_view>(rep->reply, "menu");
      reply_as<domain::reservation_result>(rep->reply, "reservation");
      reply_as<domain::settle_result>(rep->reply, "settle");
      reply_as<domain::order>(rep->reply, "order");
    }
  }

  // --- 3: membership frames ----------------------------------------------------------------------------------

  static void address(const std::string& text) {
    auto a = transport::parse_address(text);
    if (!a)
      return;
    auto printed = transport::to_string(*a);
    auto again = transport::parse_address(printed);
    if (!again || again->host != a->host || again->port != a->port || transport::to_string(*again) != printed)
      finding("address " + text.substr(0, 80) + " prints as " + printed.substr(0, 80)
              + ", which does not parse to it");
  }

  void membership_frame(std::string_view bytes) {
    pb::MembershipMessage m;
    if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
      return;
    if (m.has_heartbeat()) {
      clock += std::chrono::milliseconds(100);
      (void)detector.heard("peer", m.heartbeat().incarnation(), clock);
      (void)detector.tick(clock);
    } else if (m.has_members()) {
      int n = 0;
      for (auto& member : m.members().members()) { // as membership.cpp's on_members
        if (++n > 1024)
          break;
        if (!transport::valid_node_id(member.node_id()))
          continue;
        address(member.address());
        address(member.client_address());
      }
    }
  }

  // --- 0: cluster-port frames -----------------------------------------------------------------------------

  void wire_frame(std::string_view bytes, uint8_t after) {
    pb::PeerMessage m;
    auto verdict = transport::decode_peer_message(bytes, frame_max_bytes, m);
    if ((bytes.size() > frame_max_bytes) != (verdict == transport::wire_verdict::oversized))
      finding(std::string("frame verdict ") + transport::to_string(verdict) + " for its size");
    if (verdict != transport::wire_verdict::ok)
      return;
    auto once = transport::encode(m);
    pb::PeerMessage again;
    if (transport::decode_peer_message(once, frame_max_bytes, again) != transport::wire_verdict::ok)
      finding("a frame that checked out does not once re-encoded");
    if (transport::encode(again) != once)
      finding("a frame re-encodes to other bytes");
    static const auto key = transport::derive_cluster_key("fuzzing-cluster-secret");
    transport::transcript t;
    t.initiator_id = "fuzz-self";
    t.initiator_address = "127.0.0.1:7081";
    t.initiator_nonce = std::string(transport::nonce_bytes, 'n');
    t.initiator_instance = 1;
    switch (m.kind_case()) {
      case pb::PeerMessage::kHello:
        address(m.hello().address());
        break;
      case pb::PeerMessage::kChallenge: {
        auto& c = m.challenge();
        address(c.address());
        t.responder_id = c.node_id();
        t.responder_nonce = c.nonce();
        t.responder_address = c.address();
        t.responder_incarnation = c.incarnation();
        t.responder_instance = c.instance();
        t.session = c.session();
        (void)transport::check_proof(key, transport::role::responder, t, c.proof());
        break;
      }
      case pb::PeerMessage::kProof:
        t.session = m.proof().session();
        (void)transport::check_proof(key, transport::role::initiator, t, m.proof().proof());
        break;
      case pb::PeerMessage::kSealed: {
        auto& s = m.sealed();
        (void)transport::check_seal_mac(*key, s.session(), s.seq(), s.ack(), static_cast<uint32_t>(s.channel()),
                                        s.body(), s.mac());
        // What an authenticated peer's sealed frame carries, handed on as the transport does.
        switch (s.channel()) {
          case pb::CHANNEL_DATA: data_frame(s.body(), after); break;
          case pb::CHANNEL_MEMBERSHIP: membership_frame(s.body()); break;
          default: {
            pb::LinkControl c;
            (void)c.ParseFromString(s.body());
            break;
          }
        }
        break;
      }
      default: break;
    }
  }

  void run(const uint8_t* data, size_t size) {
    if (size == 0)
      return;
    std::string_view payload(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] & 3) {
      case wire_mode: wire_frame(payload, data[0]); break;
      case raft_mode: raft_frame(payload, data[0]); break;
      case data_mode: data_frame(payload, data[0]); break;
      default: membership_frame(payload); break;
    }
  }
};

peer_target* the_target = nullptr; // leaked on purpose under libFuzzer: it exits without running destructors

peer_target& target() {
  if (!the_target) {
    the_target = new peer_target();
    // libFuzzer ends with exit(), which runs no destructor of ours (and RocksDB cannot be closed that late):
    // the replicas' directory (three RocksDBs, a few hundred MB with their preallocated logs) is removed
    // from under them. A crash leaves it, for a look at the replicas.
    std::atexit([] {
      if (the_target && the_target->replicas) {
        std::error_code ec;
        std::filesystem::remove_all(the_target->replicas->dir.str(), ec);
      }
    });
  }
  return *the_target;
}

// --- built-in seeds --------------------------------------------------------------------------------------------

std::string with_mode(uint8_t first, const std::string& payload) {
  return std::string(1, static_cast<char>(first)) + payload;
}

using consensus::testing::msg;

std::string batch_of(std::vector<message> ms, shard::group_id g = fuzz_group) {
  std::vector<shard::group_message> out;
  for (auto& m : ms)
    out.push_back(shard::group_message{g, std::move(m)});
  return shard::encode_raft_batch(out);
}

std::string forward(uint32_t kind, const std::string& command) {
  return router::encode_data(router::forward_request{7, kind, command, 2000});
}

std::string forward_ok(const std::string& reply) {
  router::forward_reply r;
  r.id = 7;
  r.ok = true;
  r.reply = reply;
  return router::encode_data(r);
}

std::string sealed(pb::Channel ch, const std::string& body) {
  pb::PeerMessage m;
  auto* s = m.mutable_sealed();
  s->set_session(99);
  s->set_seq(1);
  s->set_ack(0);
  s->set_channel(ch);
  s->set_body(body);
  s->set_mac(std::string(transport::seal_bytes, 'm'));
  return m.SerializeAsString();
}

} // namespace

// Every reset stops and starts three stores and the threads they run; glibc's record of a thread_local destructor
// (__cxa_thread_atexit_impl, 32 bytes) of a thread on its way out is then reported as a leak by libFuzzer's
// in-process check (facebook/rocksdb#5931): not ours, and freed by glibc as the thread ends.
extern "C" __attribute__((used)) const char* __lsan_default_suppressions() {
  return "leak:__cxa_thread_atexit_impl\n";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  target().run(data, size);
  return 0;
}

extern "C" const char* const* bento_fuzz_dictionary(size_t* n) {
  // Protobuf tags of RaftMessage (group 1, type 2, from 3, to 4, term 5, log_term 6, index 7, entries 8, commit 9,
  // reject 10, snapshot 12, context 13, transfer 14, snapshot_data 15, chunk 16, more 17), of ClusterData (raft
  // 1, request 2, reply 3), of Sealed (channel 4 = data), small node ids and terms, an absurd 64-bit value,
  // addresses. (tests/fuzz/peer.dict, for libFuzzer, also has a membership encoding: it holds NUL bytes.)
  static const char* const words[] = {
    "\x08\x01", "\x10\x04", "\x10\x06", "\x10\x08", "\x10\x02", "\x18\x01", "\x18\x02", "\x18\x03", "\x20\x01",
    "\x20\x02", "\x28\x05", "\x30\x02", "\x38\x04", "\x48\x04", "\x50\x01", "\x58\x02", "\x68\x01", "\x70\x01",
    "\x80\x01\x01", "\x88\x01\x01", "\x0a", "\x12", "\x1a", "\x42", "\x62", "\x7a",
    "\xff\xff\xff\xff\xff\xff\xff\x3f", "\xff\xff\xff\xff\x0f",
    "[::1]:7081", "127.0.0.1:7082",
  };
  *n = sizeof words / sizeof *words;
  return words;
}

extern "C" void bento_fuzz_builtin_seeds(void (*add)(const char* data, size_t size)) {
  using namespace bento::domain;
  quiet_logs();
  std::vector<std::string> seeds;
  // 1: consensus frames that fit the state every fresh group starts in (it is always the same).
  {
    group g;
    auto* leader = g.leader();
    node_id l = 0;
    for (auto& [id, m] : g.members)
      if (m.replica.get() == leader)
        l = id;
    node_id f = l % 3 + 1, f2 = f % 3 + 1;
    auto term = leader->term();
    auto commit = leader->commit_index();
    auto batch = shard::encode_batch(test::order_batch(1000));
    auto purging = test::order_batch(1001); // as user_actor's purge of ended sessions: a range erase beside the writes
    purging.erase_range(store::column::indexes, "s/", "s/~");
    auto purge = shard::encode_batch(purging);
    auto append = [&](node_id from, consensus::term_t at, consensus::entry_type type, const std::string& data) {
      auto m = msg(message_type::append, from, f, at);
      m.index = commit;
      m.log_term = term;
      m.entries.push_back(consensus::entry{at, commit + 1, type, data});
      m.commit = commit + 1;
      m.context = 1;
      return m;
    };
    auto hb = msg(message_type::heartbeat, l, f, term);
    hb.commit = commit;
    hb.context = 1;
    auto vote = msg(message_type::vote, f2, f, term + 1);
    vote.index = commit;
    vote.log_term = term;
    auto prevote = vote;
    prevote.type = message_type::prevote;
    auto transfer_vote = vote;
    transfer_vote.transfer = true;
    auto granted = msg(message_type::vote_resp, f, f2, term + 1);
    auto pre_granted = msg(message_type::prevote_resp, f, f2, term + 1);
    auto ack = msg(message_type::append_resp, f, l, term);
    ack.index = commit;
    auto nack = ack;
    nack.reject = true;
    nack.reject_hint = commit > 0 ? commit - 1 : 0;
    nack.log_term = term;
    auto hb_resp = msg(message_type::heartbeat_resp, f, l, term);
    hb_resp.context = 1;
    consensus::membership everyone;
    everyone.voters = {1, 2, 3};
    auto snap = msg(message_type::install_snapshot, l, f, term);
    snap.snapshot = consensus::snapshot_meta{commit + 10, term, everyone};
    auto& data = g.members[l];
    snap.snapshot_data = shard::encode_shard_snapshot(*data.db, data.shard->prefix(), 1 << 20).value_or("");
    auto first_chunk = snap;
    first_chunk.snapshot_more = true;
    auto snap_ack = msg(message_type::snapshot_resp, f, l, term);
    snap_ack.index = commit;
    auto timeout = msg(message_type::timeout_now, l, f, term);
    auto read = msg(message_type::read_index, f, l, term);
    read.context = 7;
    auto read_resp = msg(message_type::read_index_resp, l, f, term);
    read_resp.context = 7;
    read_resp.index = commit;
    consensus::membership grown = everyone;
    grown.learners = {4};
    // First byte: 0x01 consensus frame, + 0x20 fresh replicas, + 0x10 a write after it (+ 0x40 per extra write),
    // + 4 per tick after that.
    std::vector<std::pair<uint8_t, std::vector<message>>> frames = {
      {0x01, {hb}},
      {0x15, {hb}},
      {0x25, {append(l, term, consensus::entry_type::normal, batch)}},
      {0x25, {append(f2, term + 1, consensus::entry_type::normal, batch)}}, // a member claiming a newer term
      {0x25, {append(l, term, consensus::entry_type::normal, purge)}},
      {0x05, {append(l, term, consensus::entry_type::conf_change, consensus::encode_membership(grown))}},
      {0x05, {append(l, term, consensus::entry_type::noop, {})}},
      {0x09, {prevote, vote}},
      {0x01, {transfer_vote}},
      {0x01, {granted, pre_granted}},
      {0x01, {ack, hb_resp}},
      {0x01, {nack}},
      {0x21, {snap}},
      {0x01, {first_chunk}},
      {0x01, {snap_ack}},
      {0x05, {timeout}},
      {0x01, {read, read_resp}},
      {0x1d, {hb, append(l, term, consensus::entry_type::normal, batch), ack}},
    };
    for (auto& [first, ms] : frames)
      seeds.push_back(with_mode(first, batch_of(ms)));
    seeds.push_back(with_mode(0x01, batch_of({hb}, 2)));
    // 2: the same on the data channel, and forwarded commands and replies of every kind.
    auto raft = batch_of({append(l, term, consensus::entry_type::normal, batch)});
    seeds.push_back(with_mode(0x02, router::encode_data(router::raft_frame{raft})));
  }
  principal merchant{"u_m", "mia", role::merchant};
  principal customer{"u_c", "carl", role::customer};
  create_restaurant cr{merchant, "r_1", "Mia Bento", "taipei"};
  upsert_menu_item up;
  up.caller = merchant;
  up.restaurant_id = "r_1";
  up.item_id = "katsu";
  up.input = menu_item_input{"Katsu", "pork", 1200, 10, 0, {"meat"}, {meal::lunch}, ""};
  up.if_match = 3;
  patch_menu_item patch;
  patch.caller = merchant;
  patch.restaurant_id = "r_1";
  patch.item_id = "katsu";
  patch.price_cents = 1300;
  patch.tags = std::vector<std::string>{};
  patch.meals = std::vector<meal>{meal::dinner};
  std::vector<order_line> lines = {order_line{"katsu", "Katsu", 1200, 2}};
  place_order po;
  po.caller = customer;
  po.order_id = "o_1";
  po.restaurant_id = "r_1";
  po.lines = {line_request{"katsu", 2}};
  po.for_meal = meal::lunch;
  po.date = "2030-01-01";
  po.idempotency_key = "k";
  edit_order eo;
  eo.caller = merchant;
  eo.order_id = "o_1";
  eo.lines = std::vector<line_request>{line_request{"katsu", 1}};
  eo.merchant_note = "one left";
  using router::command_traits;
  std::vector<std::string> commands = {
    forward(command_traits<register_user>::kind,
            codec::encode(register_user{"carl", "secret-pass", "c@example.com", role::customer, "taipei", "1.2.3.4"})),
    forward(command_traits<verify_login>::kind, codec::encode(verify_login{"carl", "secret-pass", "1.2.3.4"})),
    forward(command_traits<get_user>::kind, codec::encode(get_user{"carl"})),
    forward(command_traits<end_session>::kind, codec::encode(end_session{"carl", ended_session{"u_c", "t_1", 1, 2}})),
    forward(command_traits<set_member_state>::kind, codec::encode(set_member_state{"n2", "leaving"})),
    forward(command_traits<open_restaurant>::kind, codec::encode(cr)),
    forward(command_traits<create_restaurant>::kind, codec::encode(cr)),
    forward(command_traits<upsert_menu_item>::kind, codec::encode(up)),
    forward(command_traits<patch_menu_item>::kind, codec::encode(patch)),
    forward(command_traits<delete_menu_item>::kind, codec::encode(delete_menu_item{merchant, "r_1", "katsu", 4})),
    forward(command_traits<get_menu>::kind, codec::encode(get_menu{"r_1", "2030-01-01"})),
    forward(command_traits<set_reservation>::kind,
            codec::encode(set_reservation{"r_1", "o_1", lines, meal::lunch, "2030-01-01", 2})),
    forward(command_traits<settle_reservation>::kind, codec::encode(settle_reservation{"r_1", "o_1", 2, "2030-01-01"})),
    forward(command_traits<finalize_reservation>::kind, codec::encode(finalize_reservation{"r_1", "o_1", 2})),
    forward(command_traits<place_order>::kind, codec::encode(po)),
    forward(command_traits<get_order>::kind, codec::encode(get_order{customer, "o_1"})),
    forward(command_traits<transition_order>::kind,
            codec::encode(transition_order{merchant, "o_1", order_action::deliver})),
    forward(command_traits<edit_order>::kind, codec::encode(eo)),
  };
  for (auto& c : commands)
    seeds.push_back(with_mode(0x02, c));
  restaurant r{"r_1", "Mia Bento", "taipei", "u_m", 1700000000000, 3};
  menu_item item;
  item.restaurant_id = "r_1";
  item.id = "katsu";
  item.name = "Katsu";
  item.price_cents = 1200;
  item.stock = 7;
  item.daily_stock = 10;
  item.stock_date = "2030-01-01";
  item.tags = {"meat"};
  item.meals = {meal::lunch, meal::dinner};
  item.version = 9;
  item.generation = 2;
  order o;
  o.id = "o_1";
  o.customer_id = "u_c";
  o.restaurant_id = "r_1";
  o.restaurant_name = "Mia Bento";
  o.merchant_id = "u_m";
  o.lines = lines;
  o.total_cents = 2400;
  o.date = "2030-01-01";
  o.note = "no onions";
  o.idempotency_key = "k";
  o.intent = order_intent{intent_kind::edit, 3, lines, std::string("later")};
  o.reservation_seq = 2;
  o.committed = true;
  o.version = 5;
  std::vector<std::string> replies = {
    forward_ok(router::encode_reply(user_view{"u_c", "carl", "c@example.com", role::customer, "taipei", 1})),
    forward_ok(router::encode_reply(r)),
    forward_ok(router::encode_reply(upsert_result{item, true})),
    forward_ok(router::encode_reply(true)),
    forward_ok(router::encode_reply(menu_view{r, {item}})),
    forward_ok(router::encode_reply(reservation_result{r, lines})),
    forward_ok(router::encode_reply(settle_result{reservation_result{r, lines}, true, true})),
    forward_ok(router::encode_reply(o)),
  };
  router::forward_reply failed;
  failed.id = 8;
  failed.failure = fail(errc::out_of_stock, "katsu is sold out", "katsu");
  replies.push_back(router::encode_data(failed));
  router::forward_reply elsewhere;
  elsewhere.id = 9;
  elsewhere.not_leader = true;
  elsewhere.leader_hint = "n3";
  replies.push_back(router::encode_data(elsewhere));
  for (auto& rep : replies)
    seeds.push_back(with_mode(0x02, rep));
  // 3: membership frames.
  pb::MembershipMessage heartbeat;
  heartbeat.mutable_heartbeat()->set_incarnation(3);
  seeds.push_back(with_mode(0x03, heartbeat.SerializeAsString()));
  pb::MembershipMessage list;
  auto add_member = [&](const std::string& id, const std::string& addr, const std::string& client) {
    auto* m = list.mutable_members()->add_members();
    m->set_node_id(id);
    m->set_address(addr);
    m->set_incarnation(1);
    m->set_client_address(client);
    m->set_formed(true);
  };
  add_member("n1", "127.0.0.1:7081", "127.0.0.1:9081");
  add_member("n2", "[::1]:7082", "[fe80::1]:9082");
  add_member("n3", "node-3.example:7083", "");
  seeds.push_back(with_mode(0x03, list.SerializeAsString()));
  // 0: cluster-port frames: the handshake's three, and sealed frames of every channel.
  pb::PeerMessage hello;
  auto* h = hello.mutable_hello();
  h->set_version(transport::protocol_version);
  h->set_node_id("n2");
  h->set_nonce(std::string(transport::nonce_bytes, 'a'));
  h->set_address("127.0.0.1:7082");
  h->set_incarnation(4);
  h->set_instance(12345);
  seeds.push_back(with_mode(0x00, hello.SerializeAsString()));
  pb::PeerMessage challenge;
  auto* c = challenge.mutable_challenge();
  c->set_version(transport::protocol_version);
  c->set_node_id("n3");
  c->set_nonce(std::string(transport::nonce_bytes, 'b'));
  c->set_address("[::1]:7083");
  c->set_incarnation(2);
  c->set_instance(777);
  c->set_session(42);
  c->set_proof(std::string(transport::mac_bytes, 'p'));
  c->set_initiator_nonce(std::string(transport::nonce_bytes, 'n'));
  seeds.push_back(with_mode(0x00, challenge.SerializeAsString()));
  pb::PeerMessage proof;
  proof.mutable_proof()->set_session(42);
  proof.mutable_proof()->set_proof(std::string(transport::mac_bytes, 'q'));
  seeds.push_back(with_mode(0x00, proof.SerializeAsString()));
  auto forwarded = forward(command_traits<get_user>::kind, codec::encode(get_user{"carl"}));
  seeds.push_back(with_mode(0x00, sealed(pb::CHANNEL_DATA, forwarded)));
  seeds.push_back(with_mode(0x00, sealed(pb::CHANNEL_MEMBERSHIP, list.SerializeAsString())));
  pb::LinkControl refusal;
  refusal.mutable_refusal()->set_reason("duplicate node id");
  seeds.push_back(with_mode(0x00, sealed(pb::CHANNEL_CONTROL, refusal.SerializeAsString())));
  for (auto& s : seeds)
    add(s.data(), s.size());
}

extern "C" uint64_t bento_fuzz_routed_requests() {
  return the_target ? the_target->stepped : 0;
}

extern "C" void bento_fuzz_shutdown() {
  delete the_target;
  the_target = nullptr;
}
