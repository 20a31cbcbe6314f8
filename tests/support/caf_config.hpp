#pragma once
// The actor system configuration unit tests share: two scheduler threads (the machine's cores), CAF's own log off.
#include <caf/actor_system_config.hpp>

#include "actors/common/actor_scheduler.hpp"

namespace bento::test {

inline caf::actor_system_config& quiet_caf_config() {
  // The node's scheduler (its clock included), as bento-node runs it.
  static caf::actor_system_config& cfg = [] () -> caf::actor_system_config& {
    static caf::actor_system_config c;
    c.set("scheduler.max-threads", size_t{2});
    c.set("logger.verbosity", caf::atom("quiet"));
    actors::use_node_scheduler(c, "sharing");
    return c;
  }();
  return cfg;
}

} // namespace bento::test
