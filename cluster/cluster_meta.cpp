#include "cluster/cluster_meta.hpp"

#include <algorithm>
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
  return s == "leaving" || s == "replaced";
}

std::string encode_states(const std::map<std::string, std::string>& states) {
  std::string out;
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
      if (std::find(opt.members.begin(), opt.members.end(), cmd.node) == opt.members.end())
        return make_error(fail(errc::not_found, "no member " + cmd.node.substr(0, 64)));
      if (!known_state(cmd.state))
        return make_error(fail(errc::invalid_argument, "state must be leaving or replaced"));
      if (!opt.serves || !opt.serves())
        return make_error(fail(errc::unavailable, "this node does not lead the cluster metadata's shard now"));
      auto states = load_member_states(*opt.store);
      auto before = states.find(cmd.node);
      if (before != states.end() && (before->second == cmd.state || before->second == "replaced"))
        return true; // recorded already (a replaced member stays replaced)
      states[cmd.node] = cmd.state;
      // Every shard still needs its replicas on active members: a node that would leave fewer stays.
      if (opt.members.size() - states.size() < opt.replicas)
        return make_error(fail(errc::invalid_transition,
                               std::to_string(opt.members.size() - states.size()) + " active members would remain for " +
                                 std::to_string(opt.replicas) + " replicas per shard; add a node first"));
      store::write_batch batch;
      batch.put(store::column::entities, keys::cluster_members_record, encode_states(states));
      batch.append_event(event{0, "cluster.members_changed", keys::cluster_members_entity, now_ms(), {}, {}});
      if (auto done = opt.store->commit(batch); !done)
        return make_error(done.error());
      spdlog::warn("cluster.member_state node={} state={}", cmd.node, cmd.state);
      return gated(self, *opt.store, st.replies, true);
    },
    [self](committed_atom, uint64_t index, bool ok) { self->state.replies.release(index, ok); },
  };
}

} // namespace

std::map<std::string, std::string> load_member_states(const store::shard_store& store) {
  std::map<std::string, std::string> out;
  auto got = store.get(store::column::entities, keys::cluster_members_record);
  if (!got || !*got)
    return out;
  std::istringstream in(**got);
  std::string node, state;
  while (in >> node >> state)
    if (known_state(state) && node.size() <= 64)
      out[node] = state;
  return out;
}

actors::cluster_meta_actor spawn_cluster_meta(caf::actor_system& sys, cluster_meta_options options) {
  return sys.spawn(meta_behavior, std::move(options));
}

} // namespace bento::cluster
