#include "actors/common/idle_ticker.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

namespace bento::actors {

caf::actor spawn_idle_ticker(caf::actor_system& sys) {
  return sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](idle_tick_for& t) {
      if (auto alive = t.entity.lock())
        caf::anon_send(caf::actor_cast<caf::actor>(alive), idle_tick_atom::value);
    }};
  });
}

} // namespace bento::actors
