#pragma once
// A fault-injecting TCP proxy for cluster tests: it listens on a free loopback port and relays every
// connection to a target port. Put one in front of each node's cluster port (the node advertises the proxy's
// address), and the test can cut links between chosen processes: connections whose client end is held by a
// process the proxy is told to shut out are closed at once and refused from then on, whichever node dialled
// whom; or slow them down, each byte held for a set delay in both directions. The client end's owner is found
// through /proc (the connection's socket inode in /proc/net/tcp, then
// the process whose fd table holds it), so no cooperation from the nodes is needed.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

namespace bento::test {

class tcp_proxy {
public:
  explicit tcp_proxy(uint16_t target_port);
  ~tcp_proxy();
  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  uint16_t port() const { return port_; }
  /// Connections whose client end one of these processes holds are cut now and refused until the set changes;
  /// an empty set heals. Returns once the cut is done.
  void shut_out(std::set<pid_t> pids);
  /// Connections whose client end one of these processes holds (every connection with `all`) carry each byte
  /// `delay` later than it came, both ways, from now on and on new connections; a zero delay ends it (bytes
  /// already held keep their order). Returns once applied.
  void slow_down(std::chrono::milliseconds delay, std::set<pid_t> pids, bool all = false);
  /// Connections cut or refused so far.
  uint64_t cuts() const { return cuts_; }

private:
  struct impl;
  void run();
  std::unique_ptr<impl> impl_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> cuts_{0};
  std::thread thread_;
};

} // namespace bento::test
