#pragma once
// Runs calls: picks a node (router), sends on the pool, and on each answer or failure decides whether the
// call is done or may safely try again, within its deadline. The retry rules (docs/protocol.md):
//   - a request that never reached a node (no connection, refused at the handshake) tries another node;
//   - not_leader goes where the `leader` hint says (or to any node, undirected), nothing having happened;
//   - unavailable and overloaded wait retry_after_ms (or a short backoff) and try again;
//   - a connection lost after sending: reads and PLACE_ORDER (same idempotency key) try again, other writes
//     end as outcome_unknown; PLACE_ORDER also retries outcome_unknown itself.
// A node that is up but stuck (stopped, wedged) keeps its connections open and says nothing. A call notices:
// when its request has waited half its budget (or, for any call, its whole budget) on a connection from which
// nothing at all has come since, the connection is ended (its other requests fail over or learn their
// outcome is unknown) and the router avoids that node for a while. A read or PLACE_ORDER then tries another
// node within what is left of its budget.
// A write that may have reached a node and then got no definite answer ends as outcome_unknown, never
// timeout; for PLACE_ORDER the error carries the idempotency key to retry with.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "bento/client/client.hpp"
#include "client/sdk/node_pool.hpp"
#include "client/sdk/router.hpp"
#include "client/sdk/task_thread.hpp"

namespace bento::client::detail {

struct call_spec {
  pb::Method method = pb::METHOD_UNSPECIFIED;
  std::string payload;
  std::string token;
  std::string key;             // the entity, for routing; empty: any node
  std::string idempotency_key; // PLACE_ORDER
  bool retry_when_lost = false;         // safe to send again after a connection died with it
  bool retry_outcome_unknown = false;   // safe to send again after the node said outcome_unknown
  bool write = false;                   // changes something (PLACE_ORDER included): its outcome matters
};

struct call_reply {
  bool ok = false;
  std::string payload; // ok
  error failure;       // !ok
};

/// Runs on an SDK thread (a connection's or the timer's); must be quick and must not block.
using reply_handler = std::function<void(call_reply&&)>;

class call;

class dispatcher {
public:
  explicit dispatcher(const options& opts);
  ~dispatcher() { shutdown(); }
  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;

  /// `done` runs exactly once: with the reply, the call's final error, or cancelled at shutdown.
  void start(call_spec spec, reply_handler done);
  /// Ends every call (cancelled) and joins the SDK's connection and timer threads.
  void shutdown();

  router& routes() { return router_; }

private:
  friend class call;
  bool stopping() const;
  void finished(call* c);
  /// Fetches the shard map in the background, if the router agrees it is time.
  void refresh_map(bool urgent);

  const std::chrono::milliseconds timeout_;
  const bool leader_routing_;
  router router_;
  node_pool pool_;
  task_thread timers_;
  mutable std::mutex mutex_;
  bool stopping_ = false;
  std::unordered_map<call*, std::shared_ptr<call>> live_;
};

} // namespace bento::client::detail
