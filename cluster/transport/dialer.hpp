#pragma once
// Probes that a host:port accepts TCP connections, with a deadline, on one thread of its own.
//
// Why: CAF 0.17's middleman actor connects with a blocking connect() and serves connect requests one at a time.
// Asked to dial a black-holed address (a dead machine: no RST, SYNs unanswered), it blocks for the kernel's
// SYN timeout (about two minutes) and every other connect waits behind it, including reconnects to live peers;
// our request's timeout does not stop it, and retries queue up behind it. So the middleman is only asked to
// dial an address that accepted a probe a moment ago, and its blocking connect returns at once.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bento::cluster::transport {

class dialer {
public:
  /// ok, or why not ("refused", "timeout", "no such host", ...). Runs on the dialer thread: keep it short.
  using callback = std::function<void(bool ok, const std::string& error)>;

  dialer();
  ~dialer();
  dialer(const dialer&) = delete;
  dialer& operator=(const dialer&) = delete;

  /// Name resolution and the connect both count against the timeout (resolution of a name may overrun it: the
  /// system resolver has its own timeouts). After stop(), callbacks are never called, and stop() destroys the
  /// ones still queued.
  void probe(std::string host, uint16_t port, std::chrono::milliseconds timeout, callback done);

  void stop();

private:
  struct request {
    std::string host;
    uint16_t port;
    std::chrono::steady_clock::time_point deadline;
    callback done;
  };
  struct in_flight {
    int fd;
    std::chrono::steady_clock::time_point deadline;
    callback done;
  };

  void run();
  void start_one(request& r, std::vector<in_flight>& active);
  void wake();

  std::mutex mutex_;
  std::vector<request> requests_; // guarded by mutex_
  bool stopping_ = false;         // guarded by mutex_
  int wake_fd_ = -1;              // eventfd: new requests or stop
  std::thread thread_;
};

} // namespace bento::cluster::transport
