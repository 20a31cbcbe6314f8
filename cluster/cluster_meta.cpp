#include "cluster/cluster_meta.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/common/domain_error.hpp"
#include "actors/common/keys.hpp"
#include "actors/common/reply_gate.hpp"
#include "actors/store/shard_store.hpp"
#include "protocol/domain/calendar.hpp"

namespace bento::cluster {

namespace {

using namespace bento::domain;
using namespace bento::actors;

bool known_state(const std::string& s) {
  return s == "up" || s == "joining" || s == "leaving" || s == "replaced";
}

bool active(const std::string& state) {
  return state == "up" || state == "joining";
}

/// A node id as the transport accepts them: short, and nothing that could break the record's lines.
bool valid_node_id(const std::string& id) {
  if (id.empty() || id.size() > 64)
    return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return false;
  return true;
}

std::string encode_states(const std::map<std::string, std::string>& states, size_t replicas) {
  std::string out = "replicas " + std::to_string(replicas) + "\n";
  for (auto& [node, state] : states)
    out += node + " " + state + "\n";
  return out;
}

struct meta_state {
  cluster_meta_options options;
  reply_gate replies;
  static inline const char* name = "cluster_meta";
};

using self_ptr = cluster_meta_actor::stateful_pointer<meta_state>;

cluster_meta_actor::behavior_type meta_behavior(self_ptr self, cluster_meta_options options) {
  self->state.options = std::move(options);
  return {
    [self](set_member_state& cmd) -> caf::result<bool> {
      auto& st = self->state;
      auto& opt = st.options;
      if (cmd.state != "joining" && cmd.state != "leaving" && cmd.state != "replaced")
        return make_error(fail(errc::invalid_argument, "state must be joining, leaving or replaced"));
      if (!opt.serves || !opt.serves())
        return make_error(fail(errc::unavailable, "this node does not lead the cluster metadata's shard now"));
      // The record is read as applied: with a change of it still being committed, a second one would build on
      // the old record and undo the first. One at a time; callers retry.
      if (!st.replies.empty())
        return make_error(fail(errc::unavailable, "another membership change is being recorded; retry"));
      // The record lists every member once anything changed; before that, the members the cluster formed with.
      auto record = load_member_record(*opt.store);
      auto states = std::move(record.states);
      // The replica count the cluster formed with (a node that joined may have been started with another).
      size_t replicas = record.replicas > 0 ? record.replicas : opt.replicas;
      if (states.empty())
        for (auto& m : opt.members)
          states[m] = "up";
      auto before = states.find(cmd.node);
      if (cmd.state == "joining") {
        if (!valid_node_id(cmd.node))
          return make_error(fail(errc::invalid_argument, "node ids are 1-64 letters, digits, '-', '_' or '.'"));
        if (before != states.end()) {
          if (active(before->second))
            return true; // a member already (a retried join)
          return make_error(fail(errc::invalid_transition, cmd.node + " left the cluster; join under a new id"));
        }
      } else {
        if (before == states.end())
          return make_error(fail(errc::not_found, "no member " + cmd.node.substr(0, 64)));
        if (before->second == cmd.state || before->second == "replaced")
          return true; // recorded already (a replaced member stays replaced)
      }
      states[cmd.node] = cmd.state;
      // Every shard still needs its replicas on active members: a node that would leave fewer stays.
      size_t remaining = 0;
      for (auto& [node, state] : states)
        remaining += active(state) ? 1 : 0;
      if (remaining < replicas)
        return make_error(fail(errc::invalid_transition,
                               std::to_string(remaining) + " active members would remain for " +
                                 std::to_string(replicas) + " replicas per shard; add a node first"));
      store::write_batch batch;
      batch.put(store::column::entities, keys::cluster_members_record, encode_states(states, replicas));
      batch.append_event(event{0, "cluster.members_changed", keys::cluster_members_entity, now_ms(), {}, {}});
      if (auto done = opt.store->commit(batch); !done)
        return make_error(done.error());
      st.replies.wrote(*opt.store);
      spdlog::warn("cluster.member_state node={} state={}", cmd.node, cmd.state);
      return gated(self, *opt.store, st.replies, true);
    },
    [self](committed_atom, uint64_t index, bool ok) {
      self->state.replies.release(self, *self->state.options.store, index, ok);
    },
  };
}

} // namespace

member_record load_member_record(const store::shard_store& store) {
  member_record out;
  auto got = store.get(store::column::entities, keys::cluster_members_record);
  if (!got || !*got)
    return out;
  std::istringstream in(**got);
  std::string node, state;
  while (in >> node >> state) {
    if (node == "replicas")
      out.replicas = static_cast<uint32_t>(std::strtoul(state.c_str(), nullptr, 10));
    else if (known_state(state) && valid_node_id(node))
      out.states[node] = state;
  }
  return out;
}

actors::cluster_meta_actor spawn_cluster_meta(caf::actor_system& sys, cluster_meta_options options) {
  return sys.spawn(meta_behavior, std::move(options));
}

} // namespace bento::cluster
