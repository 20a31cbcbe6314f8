#include "cluster/router/cluster_router.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/common/domain_error.hpp"
#include "actors/order/order_recovery.hpp"
#include "cluster/router/forward_codec.hpp"
#include "cluster/shard/replica_host.hpp"
#include "protocol/codec/command_codec.hpp"

namespace bento::cluster::router {

namespace {

/// A peer is gone (its link closed, the failure detector calls it down, or it came back as a new instance).
struct peer_lost_msg {
  std::string node;
  bool gone = true; // down or disconnected (false: it restarted, and is up again)
};
/// A peer that was lost is up again.
struct peer_back_msg {
  std::string node;
};

struct serving_msg {
  uint16_t shard = 0;
  bool serving = false;
};
struct data_msg {
  std::string from;
  std::string bytes;
};
struct retry_msg {
  uint64_t id = 0;
};
struct expire_msg {
  uint64_t id = 0;
};
struct local_msg {
  actors::router_actor local;
};
struct resend_reply_msg {
  std::string to;
  std::string bytes;
  std::chrono::steady_clock::time_point until;
  uint64_t link = 0; // the caller's link generation it was first sent on (router_state::links)
};

} // namespace
} // namespace bento::cluster::router

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::cluster::router::local_msg)

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::cluster::router::serving_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::cluster::router::peer_lost_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::cluster::router::peer_back_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::cluster::router::data_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::cluster::router::retry_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::cluster::router::expire_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bento::cluster::router::resend_reply_msg)

namespace bento::cluster::router {

namespace {

using namespace bento::domain;
using namespace bento::actors;
using clock = std::chrono::steady_clock;

// The command codec's bytes of a command (open_restaurant travels as the creation it wraps).
template <class Cmd>
std::string encode_command(const Cmd& c) {
  return codec::encode(c);
}
std::string encode_command(const open_restaurant& c) {
  return codec::encode(c.create);
}
template <class Cmd>
bool decode_command(std::string_view bytes, Cmd& out) {
  return codec::decode(bytes, out);
}
bool decode_command(std::string_view bytes, open_restaurant& out) {
  return codec::decode(bytes, out.create);
}

/// A command on its way to the node that serves its shard.
struct call {
  uint32_t kind = 0;
  std::string command;
  shard_id shard = 0;
  clock::time_point deadline;
  bool sent = false;     // reached a peer's queue at least once: it may have run there
  bool running_here = false; // handed to this node's entities (its shard came here): it may be running
  std::string target;    // where it was sent last
  std::string hint;      // where a peer said the leader is
  uint32_t tries = 0;    // sends so far: walks a shard's replicas when this node is not one of them
  std::function<void(const forward_reply&)> answer;
  std::function<void(const failure&)> fail;
};

struct router_state {
  cluster_router_options options;
  std::unordered_map<uint64_t, call> calls;
  uint64_t next_id = 1;
  shard_id shard_count = 1;
  // Where the leaders of shards this node does not replicate were last found (it sees no heartbeats of theirs):
  // one hop while it holds, forgotten when the node does not take the call.
  std::unordered_map<shard_id, std::string> leader_directory;
  // Peers found down or disconnected: not sent to (their shards' replicas may still name them leader until
  // their own election timeout), until they are heard again.
  std::unordered_set<std::string> lost;
  // Per peer, how many times it was lost (its link closed, found down, or restarted): an answer is sent again
  // only while its caller's link is the one it came on. A restarted caller numbers its calls from 1 again, and
  // an old answer must not match one of its new calls.
  std::unordered_map<std::string, uint64_t> links;
  static inline const char* name = "cluster_router";
};

using self_ptr = caf::stateful_actor<router_state>*;

const failure unavailable = fail(errc::unavailable, "the entity's shard has no reachable leader now; retry");

void attempt(self_ptr self, uint64_t id);

/// A call's answer at its deadline. Only a call that has run nowhere may say unavailable, which invites the
/// caller to send it again: one handed to a peer or to this node's own entities may be running still.
failure expired(const call& c) {
  if (c.sent || c.running_here)
    return fail(errc::outcome_unknown, c.running_here ? "the command did not finish in time here"
                                                      : "the shard's leader did not answer in time");
  return unavailable;
}

/// Runs a command here, as the node that serves its shard, and reports the answer (or "not the leader"). It waits
/// for the entity at most `limit` (the time its caller has left; none or zero: the router's own timeout): past
/// it nobody waits for the answer, and the entity's promise would hold the call's state here for nothing.
template <class Cmd>
void execute_here(self_ptr self, Cmd cmd, std::function<void(forward_reply)> done, std::chrono::milliseconds limit) {
  using reply_t = typename command_traits<Cmd>::reply;
  auto& st = self->state;
  auto shard = shard_of(entity_key_of(cmd), st.shard_count);
  if (!st.options.host->serves(shard)) {
    forward_reply r;
    r.not_leader = true;
    r.leader_hint = st.options.host->leader_of(shard).value_or("");
    done(std::move(r));
    return;
  }
  auto timeout = limit.count() > 0 ? std::min(st.options.timeout, limit) : st.options.timeout;
  self->request(st.options.local, timeout, std::move(cmd))
    .then(
      [done](reply_t& value) {
        forward_reply r;
        r.ok = true;
        r.reply = encode_reply(value);
        done(std::move(r));
      },
      [done](caf::error& err) {
        forward_reply r;
        r.failure = to_failure(err);
        done(std::move(r));
      });
}

/// Decodes a forwarded command of kind `kind` and runs it here; false for a kind or bytes that make no sense.
bool execute_kind(self_ptr self, uint32_t kind, const std::string& bytes, std::function<void(forward_reply)> done,
                  std::chrono::milliseconds limit) {
  bool known = false;
  auto run = [&](auto tag) {
    using cmd_t = decltype(tag);
    cmd_t cmd;
    if (!decode_command(bytes, cmd))
      return;
    known = true;
    execute_here(self, std::move(cmd), std::move(done), limit);
  };
  switch (kind) {
    case command_traits<register_user>::kind: run(register_user{}); break;
    case command_traits<verify_login>::kind: run(verify_login{}); break;
    case command_traits<get_user>::kind: run(get_user{}); break;
    case command_traits<end_session>::kind: run(end_session{}); break;
    case command_traits<set_member_state>::kind: run(set_member_state{}); break;
    case command_traits<open_restaurant>::kind: run(open_restaurant{}); break;
    case command_traits<create_restaurant>::kind: run(create_restaurant{}); break;
    case command_traits<upsert_menu_item>::kind: run(upsert_menu_item{}); break;
    case command_traits<patch_menu_item>::kind: run(patch_menu_item{}); break;
    case command_traits<delete_menu_item>::kind: run(delete_menu_item{}); break;
    case command_traits<get_menu>::kind: run(get_menu{}); break;
    case command_traits<set_reservation>::kind: run(set_reservation{}); break;
    case command_traits<settle_reservation>::kind: run(settle_reservation{}); break;
    case command_traits<finalize_reservation>::kind: run(finalize_reservation{}); break;
    case command_traits<place_order>::kind: run(place_order{}); break;
    case command_traits<get_order>::kind: run(get_order{}); break;
    case command_traits<transition_order>::kind: run(transition_order{}); break;
    case command_traits<edit_order>::kind: run(edit_order{}); break;
    default: break;
  }
  return known;
}

void schedule_retry(self_ptr self, uint64_t id) {
  self->delayed_send(self, self->state.options.retry, retry_msg{id});
}

void forget_leader(self_ptr self, shard_id shard, const std::string& node) {
  auto it = self->state.leader_directory.find(shard);
  if (it != self->state.leader_directory.end() && it->second == node)
    self->state.leader_directory.erase(it);
}

void finish(self_ptr self, uint64_t id, const failure& f) {
  auto it = self->state.calls.find(id);
  if (it == self->state.calls.end())
    return;
  auto c = std::move(it->second);
  self->state.calls.erase(it);
  c.fail(f);
}

void attempt(self_ptr self, uint64_t id) {
  auto& st = self->state;
  auto it = st.calls.find(id);
  if (it == st.calls.end())
    return;
  auto& c = it->second;
  if (clock::now() >= c.deadline) {
    if (c.sent)
      forget_leader(self, c.shard, c.target); // silent (paused, cut off): ask the replicas afresh next time
    finish(self, id, expired(c));
    return;
  }
  if (st.options.host->serves(c.shard)) {
    // The shard came here meanwhile: run it here.
    auto kind = c.kind;
    auto command = c.command;
    c.running_here = true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - clock::now());
    execute_kind(self, kind, command, [self, id](forward_reply r) {
      auto found = self->state.calls.find(id);
      if (found == self->state.calls.end())
        return;
      found->second.running_here = false;
      if (r.not_leader) {
        found->second.hint = r.leader_hint;
        schedule_retry(self, id);
        return;
      }
      auto done = std::move(found->second);
      self->state.calls.erase(found);
      done.answer(r);
    }, std::max(left, std::chrono::milliseconds(1)));
    return;
  }
  std::optional<std::string> target;
  if (!c.hint.empty() && c.hint != st.options.self)
    target = c.hint;
  else if (auto known = st.options.host->follows(c.shard) ? st.options.host->leader_of(c.shard) : std::nullopt)
    target = known; // a replica here hears the leader's heartbeats
  else if (st.options.host->follows(c.shard) && !st.options.host->joining())
    target.reset(); // an election is on: wait for it rather than ask around
  else if (auto heard = st.options.host->replicates(c.shard) ? st.options.host->leader_of(c.shard) : std::nullopt;
           heard && *heard != st.options.self)
    target = heard; // a replica whose disk refuses writes still hears who leads (shard_replica::leader)
  else if (auto known = st.leader_directory.find(c.shard); known != st.leader_directory.end())
    target = known->second;
  else if (auto replicas = st.options.host->placement_of(c.shard); !replicas.empty())
    target = replicas[c.tries % replicas.size()]; // any replica knows its leader and says so
  c.hint.clear();
  ++c.tries;
  if (target && st.lost.count(*target) && st.options.reachable && st.options.reachable(*target))
    st.lost.erase(*target); // back already (its event raced the lost one)
  if (target && st.lost.count(*target)) {
    // It went away: wait for the election instead of sending into a dead or frozen node, and ask the other
    // replicas next time rather than a directory entry that still names it.
    forget_leader(self, c.shard, *target);
    target.reset();
  }
  if (!target || *target == st.options.self) {
    schedule_retry(self, id); // no leader known yet (an election is on): wait a moment
    return;
  }
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - clock::now());
  forward_request req{id, c.kind, c.command, static_cast<uint32_t>(std::max<int64_t>(1, remaining.count()))};
  if (!st.options.send(*target, encode_data(req))) {
    forget_leader(self, c.shard, *target);
    schedule_retry(self, id); // not queued: it did not run anywhere
    return;
  }
  c.sent = true;
  c.target = *target;
  // Info level: the trail a chaos run's diagnosis follows (off at the default warn level).
  spdlog::info("router.forwarded call={} kind={} shard={} to={} try={}", id, c.kind, c.shard, *target, c.tries);
}

template <class Cmd>
caf::result<typename command_traits<Cmd>::reply> route(self_ptr self, Cmd& cmd) {
  using reply_t = typename command_traits<Cmd>::reply;
  auto& st = self->state;
  auto shard = shard_of(entity_key_of(cmd), st.shard_count);
  if (st.options.host->serves(shard))
    return self->delegate(st.options.local, std::move(cmd));
  auto rp = self->make_response_promise<reply_t>();
  call c;
  c.kind = command_traits<Cmd>::kind;
  c.command = encode_command(cmd);
  c.shard = shard;
  c.deadline = clock::now() + st.options.timeout;
  c.answer = [rp](const forward_reply& r) mutable {
    if (!r.ok) {
      rp.deliver(make_error(r.failure));
      return;
    }
    reply_t value;
    if (!decode_reply(r.reply, value)) {
      rp.deliver(make_error(fail(errc::outcome_unknown, "the leader's answer could not be read")));
      return;
    }
    rp.deliver(std::move(value));
  };
  c.fail = [rp](const failure& f) mutable { rp.deliver(make_error(f)); };
  auto id = st.next_id++;
  st.calls.emplace(id, std::move(c));
  self->delayed_send(self, st.options.timeout, expire_msg{id});
  attempt(self, id);
  return rp;
}

/// Calls sent to a node that is gone may have run there or not: their callers hear outcome_unknown now, not at
/// their deadline (a sequential client would otherwise stall for the whole forwarding timeout), and resolve it
/// with their Idempotency-Key once the shard has a new leader.
void on_peer_lost(self_ptr self, const std::string& node, bool gone) {
  auto& st = self->state;
  ++st.links[node];
  if (gone)
    st.lost.insert(node);
  for (auto it = st.leader_directory.begin(); it != st.leader_directory.end();)
    it = it->second == node ? st.leader_directory.erase(it) : std::next(it);
  std::vector<uint64_t> lost;
  for (auto& [id, c] : st.calls) {
    if (c.hint == node)
      c.hint.clear();
    if (c.sent && c.target == node)
      lost.push_back(id);
  }
  for (auto id : lost)
    finish(self, id, fail(errc::outcome_unknown, "the node running the command went away before answering; "
                                                 "read it again (or retry with the same Idempotency-Key)"));
  if (!lost.empty())
    spdlog::info("router.peer_lost node={} calls_unknown={}", node, lost.size());
}

/// Sends a forwarded command's answer to its caller, again after a pause while the transport does not take it
/// (the caller's queue full) until the caller stops waiting (`until`): lost, the answer of a command that
/// finished here would reach its caller as outcome_unknown at its deadline. Only on the link it came on
/// (`link`): once the caller is lost (link closed, restarted), its router has ended the call itself.
void send_reply(self_ptr self, const std::string& to, std::string bytes, clock::time_point until, uint64_t link) {
  auto& st = self->state;
  if (st.links[to] != link)
    return;
  if (st.options.send(to, bytes))
    return;
  if (clock::now() + st.options.retry >= until) {
    spdlog::warn("router.reply_unsent to={}", to);
    return;
  }
  self->delayed_send(self, st.options.retry, resend_reply_msg{to, std::move(bytes), until, link});
}

void on_data(self_ptr self, const data_msg& msg) {
  auto& st = self->state;
  cluster_data data;
  if (!decode_data(msg.bytes, data)) {
    spdlog::warn("router.malformed_frame from={}", msg.from);
    return;
  }
  if (auto* req = std::get_if<forward_request>(&data)) {
    auto from = msg.from;
    auto id = req->id;
    spdlog::info("router.executing call={} kind={} from={}", id, req->kind, from);
    // The caller's remaining time (a peer can only shorten the wait: zero means the router's own timeout).
    std::chrono::milliseconds left(req->timeout_ms);
    auto until = clock::now() + (left.count() > 0 ? std::min(left, st.options.timeout) : st.options.timeout);
    auto link = st.links[from];
    bool known = execute_kind(self, req->kind, req->command, [self, from, id, until, link](forward_reply r) {
      r.id = id;
      send_reply(self, from, encode_data(r), until, link);
    }, left);
    if (!known) {
      forward_reply r;
      r.id = id;
      r.failure = fail(errc::invalid_argument, "unknown or malformed command");
      send_reply(self, from, encode_data(r), until, link);
    }
    return;
  }
  if (auto* rep = std::get_if<forward_reply>(&data)) {
    auto it = st.calls.find(rep->id);
    // Only the node it was sent to may answer a call: anything else is late, repeated, or a lie.
    if (it == st.calls.end() || it->second.target != msg.from)
      return;
    if (rep->not_leader) {
      // Not executed there: retry, where it says the leader is.
      forget_leader(self, it->second.shard, msg.from);
      if (!rep->leader_hint.empty() && rep->leader_hint != msg.from && !st.lost.count(rep->leader_hint) &&
          !st.options.host->follows(it->second.shard))
        st.leader_directory[it->second.shard] = rep->leader_hint;
      it->second.hint = rep->leader_hint;
      if (rep->leader_hint.empty() || rep->leader_hint == msg.from)
        schedule_retry(self, rep->id);
      else
        attempt(self, rep->id);
      return;
    }
    auto c = std::move(it->second);
    st.calls.erase(it);
    if (!st.options.host->follows(c.shard))
      st.leader_directory[c.shard] = msg.from;
    spdlog::info("router.answered call={} from={} ok={} code={}", rep->id, msg.from, rep->ok,
                 rep->ok ? "" : domain::to_string(rep->failure.code));
    c.answer(*rep);
  }
}

void wake_interrupted(self_ptr self, uint16_t shard) {
  auto& st = self->state;
  auto* replica = st.options.host->replica(shard);
  if (!replica)
    return;
  auto interrupted = actors::interrupted_orders(st.options.host->shard_store_of(shard));
  if (!interrupted) {
    // The next start's sweep, or the orders' own next requests, settle them.
    spdlog::error("router.recovery_sweep_failed shard={} error={}", shard, interrupted.error().message);
    return;
  }
  auto& ids = *interrupted;
  for (auto& id : ids)
    self->send(st.options.local, wake_atom::value, id);
  if (!ids.empty())
    spdlog::warn("router.recovering_orders shard={} count={}", shard, ids.size());
}

caf::behavior router_behavior(self_ptr self, cluster_router_options options) {
  self->state.options = std::move(options);
  self->state.shard_count = self->state.options.host->shard_count();
  return {
    [self](local_msg& m) { self->state.options.local = m.local; },
    [self](register_user& cmd) { return route(self, cmd); },
    [self](verify_login& cmd) { return route(self, cmd); },
    [self](get_user& cmd) { return route(self, cmd); },
    [self](end_session& cmd) { return route(self, cmd); },
    [self](set_member_state& cmd) { return route(self, cmd); },
    [self](open_restaurant& cmd) { return route(self, cmd); },
    [self](create_restaurant& cmd) { return route(self, cmd); },
    [self](upsert_menu_item& cmd) { return route(self, cmd); },
    [self](patch_menu_item& cmd) { return route(self, cmd); },
    [self](delete_menu_item& cmd) { return route(self, cmd); },
    [self](get_menu& cmd) { return route(self, cmd); },
    [self](set_reservation& cmd) { return route(self, cmd); },
    [self](settle_reservation& cmd) { return route(self, cmd); },
    [self](finalize_reservation& cmd) { return route(self, cmd); },
    [self](place_order& cmd) { return route(self, cmd); },
    [self](get_order& cmd) { return route(self, cmd); },
    [self](transition_order& cmd) { return route(self, cmd); },
    [self](edit_order& cmd) { return route(self, cmd); },
    // The local entities' own traffic (passivation, exits, wake-ups, stats) is the local router's.
    [self](passivate_atom a, std::string& key) -> caf::result<bool> {
      return self->delegate(self->state.options.local, a, std::move(key));
    },
    [self](entity_down_atom a, std::string& key, caf::actor_addr& who) {
      self->send(self->state.options.local, a, key, who);
    },
    [self](wake_atom a, std::string& id) { self->send(self->state.options.local, a, id); },
    [self](drop_shard_atom a, uint16_t shard) { self->send(self->state.options.local, a, shard); },
    [](idle_sweep_atom) {},
    [self](stats_atom a) -> caf::result<entity_counts> { return self->delegate(self->state.options.local, a); },
    [self](serving_msg& m) {
      if (m.serving)
        wake_interrupted(self, m.shard);
      else
        self->send(self->state.options.local, drop_shard_atom::value, m.shard);
    },
    [self](data_msg& m) { on_data(self, m); },
    [self](peer_lost_msg& m) { on_peer_lost(self, m.node, m.gone); },
    [self](peer_back_msg& m) { self->state.lost.erase(m.node); },
    [self](retry_msg& m) { attempt(self, m.id); },
    [self](resend_reply_msg& m) { send_reply(self, m.to, std::move(m.bytes), m.until, m.link); },
    [self](expire_msg& m) {
      auto it = self->state.calls.find(m.id);
      if (it == self->state.calls.end())
        return;
      finish(self, m.id, expired(it->second));
    },
  };
}

} // namespace

actors::router_actor spawn_cluster_router(caf::actor_system& sys, cluster_router_options options) {
  auto untyped = sys.spawn(router_behavior, std::move(options));
  return caf::actor_cast<actors::router_actor>(untyped);
}

void peer_lost(const actors::router_actor& router, const std::string& node, bool gone) {
  caf::anon_send(caf::actor_cast<caf::actor>(router), peer_lost_msg{node, gone});
}

void peer_back(const actors::router_actor& router, const std::string& node) {
  caf::anon_send(caf::actor_cast<caf::actor>(router), peer_back_msg{node});
}

void serving_changed(const actors::router_actor& router, uint16_t shard, bool serving) {
  caf::anon_send(caf::actor_cast<caf::actor>(router), serving_msg{shard, serving});
}

void set_local(const actors::router_actor& router, actors::router_actor local) {
  caf::anon_send(caf::actor_cast<caf::actor>(router), local_msg{std::move(local)});
}

void deliver_data(const actors::router_actor& router, const std::string& from, std::string bytes) {
  caf::anon_send(caf::actor_cast<caf::actor>(router), data_msg{from, std::move(bytes)});
}

} // namespace bento::cluster::router
