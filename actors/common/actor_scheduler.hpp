#pragma once
// The node's CAF scheduler: CAF's own coordinator (work sharing or work stealing) with a timer clock that wakes
// its thread only when it must. CAF 0.17's clock wakes its thread for every timer event, a cancellation included:
// every request with a timeout (an order asking its restaurant) set one and cancelled one, two wake-ups of the
// clock thread per order, ~6 % of a place-order run's samples and as many context switches on a 2-core machine.
#include <string>

namespace caf {
class actor_system_config;
}

namespace bento::actors {

/// Makes actor systems built from `cfg` use that scheduler; `policy` is "sharing" or "stealing".
void use_node_scheduler(caf::actor_system_config& cfg, const std::string& policy);

} // namespace bento::actors
