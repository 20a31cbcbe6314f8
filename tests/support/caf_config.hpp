#pragma once
// The actor system configuration unit tests share: two scheduler threads (the machine's cores), CAF's own log off.
#include <caf/actor_system_config.hpp>

namespace bento::test {

inline caf::actor_system_config& quiet_caf_config() {
  static caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  cfg.set("logger.verbosity", caf::atom("quiet"));
  return cfg;
}

} // namespace bento::test
