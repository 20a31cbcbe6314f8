#pragma once
// Opening a TCP connection to "host:port" with a deadline that can be cut short: getaddrinfo, then a
// non-blocking connect to each address in turn, waiting on the socket and on a wake-up descriptor.
#include <chrono>
#include <functional>
#include <string>

namespace bento::client::detail {

struct host_port {
  std::string host;
  std::string port;
};

/// "host:port", "[v6]:port"; false when there is no port.
bool split_host_port(const std::string& address, host_port& out);

struct dial_result {
  int fd = -1;       // connected, non-blocking, TCP_NODELAY, keepalive; -1 on failure
  std::string error; // why not, for humans
};

/// Gives up at `deadline`, or when `wake_fd` becomes readable (it is drained then) and `abort()` says so.
/// getaddrinfo itself is not interruptible; numeric addresses and /etc/hosts names resolve at once.
dial_result dial(const std::string& address, std::chrono::steady_clock::time_point deadline, int wake_fd,
                 const std::function<bool()>& abort);

/// Reads everything a non-blocking wake-up pipe holds.
void drain(int wake_fd);

} // namespace bento::client::detail
