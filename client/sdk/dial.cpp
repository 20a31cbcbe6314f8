#include "client/sdk/dial.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace bento::client::detail {

bool split_host_port(const std::string& address, host_port& out) {
  if (!address.empty() && address.front() == '[') {
    auto close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':')
      return false;
    out.host = address.substr(1, close - 1);
    out.port = address.substr(close + 2);
  } else {
    auto colon = address.rfind(':');
    if (colon == std::string::npos)
      return false;
    out.host = address.substr(0, colon);
    out.port = address.substr(colon + 1);
  }
  return !out.host.empty() && !out.port.empty();
}

namespace {

int millis_until(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left.count(), 1 << 30));
}

/// One address: the connected descriptor, or -1 with `error` set.
int connect_one(const addrinfo& ai, std::chrono::steady_clock::time_point deadline, int wake_fd,
                const std::function<bool()>& abort, std::string& error) {
  int fd = ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  if (::connect(fd, ai.ai_addr, ai.ai_addrlen) != 0 && errno != EINPROGRESS) {
    error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  for (;;) {
    pollfd fds[2] = {{fd, POLLOUT, 0}, {wake_fd, POLLIN, 0}};
    int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, millis_until(deadline));
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0) {
      error = "connect: timed out";
      break;
    }
    if (n < 0) {
      error = std::string("poll: ") + std::strerror(errno);
      break;
    }
    if (wake_fd >= 0 && (fds[1].revents & POLLIN)) {
      drain(wake_fd);
      if (abort()) {
        error = "connect: aborted";
        break;
      }
      if (!(fds[0].revents & (POLLOUT | POLLERR | POLLHUP)))
        continue; // only a wake-up (a request queued meanwhile)
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
      error = std::string("connect: ") + std::strerror(so_error);
      break;
    }
    int one = 1; // requests are small and pipelined: do not hold them back to fill segments
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // A peer that vanished (host down, cable cut, NAT forgot us) shows as an error within about half a
    // minute, whether the connection is idle (keepalive probes) or has bytes unacknowledged (user timeout),
    // rather than the kernel's defaults of hours. A node that is up but stuck keeps acknowledging: calls
    // notice it by its silence (dispatcher.cpp).
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
#ifdef TCP_KEEPIDLE
    int idle_s = 10, interval_s = 5, probes = 3;
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof interval_s);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
#endif
#ifdef TCP_USER_TIMEOUT
    unsigned int unacked_ms = 30000;
    ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &unacked_ms, sizeof unacked_ms);
#endif
    return fd;
  }
  ::close(fd);
  return -1;
}

} // namespace

void drain(int wake_fd) {
  char sink[256];
  while (::read(wake_fd, sink, sizeof sink) > 0) {
  }
}

dial_result dial(const std::string& address, std::chrono::steady_clock::time_point deadline, int wake_fd,
                 const std::function<bool()>& abort) {
  dial_result out;
  host_port hp;
  if (!split_host_port(address, hp)) {
    out.error = "not host:port: '" + address + "'";
    return out;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &found);
  if (rc != 0) {
    out.error = "resolve " + address + ": " + ::gai_strerror(rc);
    return out;
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
  for (auto* ai = list.get(); ai; ai = ai->ai_next) {
    out.fd = connect_one(*ai, deadline, wake_fd, abort, out.error);
    if (out.fd >= 0) {
      out.error.clear();
      return out;
    }
    if (out.error == "connect: aborted" || std::chrono::steady_clock::now() >= deadline)
      break;
  }
  out.error = address + ": " + out.error;
  return out;
}

} // namespace bento::client::detail
