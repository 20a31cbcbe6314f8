#include "cluster/transport/peer_gate.hpp"

#include <caf/actor_config.hpp>
#include <caf/error.hpp>
#include <caf/exit_reason.hpp>

#include "cluster/transport/peer_frame.hpp"

namespace bento::cluster::transport {

namespace {

// monitorable_actor takes its config by lvalue reference and reads it only while constructing.
caf::actor_config& lvalue(caf::actor_config&& cfg) {
  return cfg;
}

} // namespace

peer_gate::peer_gate(caf::weak_actor_ptr core, std::shared_ptr<std::atomic<uint64_t>> foreign_messages)
  : caf::monitorable_actor(lvalue(caf::actor_config{})),
    core_(std::move(core)),
    foreign_messages_(std::move(foreign_messages)) {
}

void peer_gate::enqueue(caf::mailbox_element_ptr what, caf::execution_unit* host) {
  if (!what)
    return;
  // Requests are dropped too: the transport never answers a remote request (a requester just times out).
  if (!what->mid.is_request() && what->content().match_elements<peer_frame>()) {
    if (auto core = core_.lock()) {
      auto msg = what->move_content_to_message();
      core->enqueue(caf::make_mailbox_element(std::move(what->sender), caf::make_message_id(), {}, std::move(msg)),
                    host);
    }
    return;
  }
  foreign_messages_->fetch_add(1, std::memory_order_relaxed);
}

void peer_gate::shut(caf::execution_unit* host) {
  cleanup(caf::make_error(caf::exit_reason::user_shutdown), host);
}

} // namespace bento::cluster::transport
