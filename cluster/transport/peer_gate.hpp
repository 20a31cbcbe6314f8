#pragma once
// The actor published on the cluster port. Internal to the transport.
//
// Why not publish the transport's actor itself: CAF 0.17 lets any node that reaches the port send any registered
// type to the published actor, and a scheduled actor cannot refuse some of them: an exit_msg with reason `kill`
// terminates it whatever its exit handler says (tested: one message from a stranger took the actor down), a
// `link` request ties its life to a stranger's, an error message runs its error handler. The gate is not a
// scheduled actor: it has no mailbox and no system-message handling, and it passes exactly one thing on,
// peer_frame messages (as fresh asynchronous messages with the original sender, without forwarding stages),
// to the transport actor, which never sends anything to another node itself (so that CAF never registers it
// where a remote node could address it). Everything else is dropped and counted.
#include <atomic>
#include <cstdint>
#include <memory>

#include <caf/actor_control_block.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/monitorable_actor.hpp>
#include <caf/weak_intrusive_ptr.hpp>

namespace bento::cluster::transport {

class peer_gate : public caf::monitorable_actor {
public:
  peer_gate(caf::weak_actor_ptr core, std::shared_ptr<std::atomic<uint64_t>> foreign_messages);

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* host) override;

  const char* name() const override { return "bento.peer_gate"; }

  /// Terminates the gate: CAF then tells every node that monitors it (each linked peer) that it is gone.
  void shut(caf::execution_unit* host);

private:
  caf::weak_actor_ptr core_;
  std::shared_ptr<std::atomic<uint64_t>> foreign_messages_; // shared: the gate may outlive the transport
};

} // namespace bento::cluster::transport
