#pragma once
// A stand-in for a node's client port, for testing the SDK without a cluster: it speaks the framing and the
// handshake of docs/protocol.md, and a test decides each answer (now, later, in any order, or by dropping
// the connection). It records what arrived, so tests can check what the SDK sent.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bento/client/v1/client.pb.h"

namespace bento::test {

namespace cpb = bento::client::v1;

class fake_client_node {
public:
  enum class action {
    reply, // send the filled-in Response now
    hold,  // keep it unanswered, for answer_held()
    close, // drop the connection without an answer
  };
  using handler = std::function<action(const cpb::Request&, cpb::Response&)>;

  struct settings {
    uint32_t max_in_flight = 128;
    uint32_t max_frame_bytes = 1024 * 1024;
    std::optional<cpb::Goodbye> refuse; // answer every Hello with this Goodbye
  };

  explicit fake_client_node(handler h);
  fake_client_node(handler h, settings s);
  ~fake_client_node();
  fake_client_node(const fake_client_node&) = delete;
  fake_client_node& operator=(const fake_client_node&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  std::vector<cpb::Request> requests() const;
  std::vector<cpb::Hello> hellos() const;
  size_t held() const;
  size_t connections() const;
  /// The most unanswered requests there ever were on one connection.
  size_t max_unanswered() const;

  /// Answers the held requests, newest first if asked; returns how many.
  size_t answer_held(const std::function<void(const cpb::Request&, cpb::Response&)>& fill, bool newest_first = false);
  /// Answers the oldest held request; false when none is held.
  bool answer_oldest(const std::function<void(const cpb::Request&, cpb::Response&)>& fill);

  /// Waits (bounded) until `ready()` holds, re-checking whenever a frame arrives or an answer goes out.
  bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds timeout = std::chrono::seconds(10));

private:
  struct conn;
  struct held_request {
    std::shared_ptr<conn> on;
    cpb::Request request;
  };

  void accept_loop();
  void serve(std::shared_ptr<conn> c);
  void reply(conn& c, cpb::Response response);
  void bump(); // under mutex_: something changed, wake wait_until

  handler handler_;
  settings settings_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t version_ = 0;
  std::vector<cpb::Request> requests_;
  std::vector<cpb::Hello> hellos_;
  std::vector<held_request> held_;
  std::vector<std::shared_ptr<conn>> conns_;
  size_t max_unanswered_ = 0;
  bool stopping_ = false;
  std::thread acceptor_;
};

/// "127.0.0.1:<port>" where nothing listens (a port bound and released a moment ago).
std::string dead_address();

/// A payload message, serialized.
template <class Message>
std::string bytes_of(const Message& m) {
  return m.SerializeAsString();
}

} // namespace bento::test
