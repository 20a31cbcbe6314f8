#pragma once
// One connection to one node: its own thread dials, says Hello, then pipelines requests and matches the
// answers by id, in whatever order they come. Requests past the node's in-flight cap (from its Welcome) wait
// here, not in the socket, so the node never has to stop reading us. When the connection ends, every request
// still on it learns whether it may have reached the node (`lost`) or certainly did not (`not_sent`).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bento/client/errors.hpp"
#include "bento/client/v1/client.pb.h"
#include "client/sdk/frame_codec.hpp"

namespace bento::client::detail {

namespace pb = bento::client::v1;

struct transport_outcome {
  enum class kind { answered, not_sent, lost };
  kind what = kind::answered;
  pb::Response response; // answered
  error failure;         // not_sent, lost: why the connection ended
};

using outcome_handler = std::function<void(transport_outcome&&)>;

class connection {
public:
  struct settings {
    std::string client_name;
    std::chrono::milliseconds connect_timeout{3000};
  };

  connection(std::string address, settings s);
  /// Ends the connection (its requests learn so) and joins its thread.
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Starts the thread (once; later calls do nothing). Requests may be submitted before: submitting the
  /// first one before starting means a connection that fails at once cannot end before it has any.
  void start();

  /// Queues `req` (its id is set here) and returns the id, or 0 when the connection has ended (`done` is then
  /// not called). Otherwise `done` runs exactly once, on this connection's thread, unless abandoned first.
  uint64_t submit(pb::Request req, outcome_handler done);
  /// The caller no longer wants the answer: a request not yet written is never sent; one in flight still
  /// holds its slot until the node answers, since the node still counts it (a node that never answers is
  /// dealt with by fail(), which frees them all). Returns whether the request may have reached the node:
  /// false only when it is certain it never will.
  bool abandon(uint64_t id);
  /// Whether nothing at all has come from the node since request `id` was sent (or, while it waits to be,
  /// since it was submitted): no answer to any request, not even the Welcome. With time gone by, a sign that
  /// the node is stuck. False once `id` has ended.
  bool silent_since(uint64_t id) const;
  /// Asks the thread to end the connection; returns at once.
  void close();
  /// Ends the connection because the node seems dead: its requests learn so, with `why` (not sent, or lost).
  void fail(error why);
  /// Waits for the thread (after close(), or once ended). Holding a reference while joining matters: the
  /// thread must never drop the last one itself.
  void join();

  const std::string& address() const { return address_; }
  bool ended() const { return ended_.load(); }
  /// The thread has done all it will do (join is immediate).
  bool finished() const { return finished_.load(); }
  /// Requests on it: queued and unanswered.
  size_t load() const;

private:
  struct entry {
    std::string frame;     // length prefix and ClientFrame, ready to write
    outcome_handler done;  // empty once abandoned
    bool sent = false;     // its bytes were handed to the outgoing buffer
    std::chrono::steady_clock::time_point since; // when submit() queued it, then when it was sent
    uint64_t stream_start = 0; // where its bytes begin in everything written on this connection
  };
  enum class phase { connecting, handshaking, ready };
  struct ending {
    error why;
    bool requests_unread = false; // the node said it acted on nothing more (idle_timeout)
  };

  void run();
  bool handshake_frame(const pb::ServerFrame& frame, ending& end);
  bool response_frame(pb::ServerFrame& frame, ending& end);
  /// Under mutex_; requests too large for the node go to `refused`, to be told outside the lock.
  void move_queued_to_output(std::vector<std::pair<outcome_handler, transport_outcome>>& refused);
  void end_all(const ending& end);
  void notify();

  const std::string address_;
  const settings settings_;
  int wake_read_ = -1, wake_write_ = -1;

  mutable std::mutex mutex_;
  std::unordered_map<uint64_t, entry> entries_;
  std::deque<uint64_t> queue_; // ids not yet sent, in order; abandoned ones are skipped
  size_t in_flight_ = 0;
  uint32_t max_in_flight_ = 1;  // until the Welcome says
  uint32_t max_frame_bytes_ = max_frame_limit;
  phase phase_ = phase::connecting;
  bool closing_ = false;
  std::optional<error> failed_; // why fail() ended it; none: close()
  std::chrono::steady_clock::time_point last_heard_{}; // when bytes last came from the node
  std::atomic<bool> started_{false};
  std::atomic<bool> ended_{false};
  std::atomic<bool> finished_{false};

  // The thread's own: the socket and the byte streams.
  int fd_ = -1;
  std::string output_;
  size_t output_written_ = 0; // of output_
  uint64_t stream_written_ = 0; // of everything written on this connection
  frame_decoder decoder_;
  std::mutex thread_mutex_; // start() and join() may race: a request's sender starts, the pool's shutdown joins
  std::thread thread_;
};

} // namespace bento::client::detail
