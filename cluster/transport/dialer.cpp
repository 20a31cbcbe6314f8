#include "cluster/transport/dialer.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace bento::cluster::transport {

dialer::dialer() {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

dialer::~dialer() {
  stop();
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

void dialer::probe(std::string host, uint16_t port, std::chrono::milliseconds timeout, callback done) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_)
      return;
    requests_.push_back(request{std::move(host), port, std::chrono::steady_clock::now() + timeout, std::move(done)});
  }
  wake();
}

void dialer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake();
  if (thread_.joinable())
    thread_.join();
  // Requests that never started are dropped with their callbacks (and what those hold) now, not whenever the
  // dialer itself goes.
  std::lock_guard lock(mutex_);
  requests_.clear();
}

void dialer::wake() {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void dialer::start_one(request& r, std::vector<in_flight>& active) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto port = std::to_string(r.port);
  if (::getaddrinfo(r.host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    r.done(false, "no such host");
    return;
  }
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ::freeaddrinfo(found);
    r.done(false, std::string("socket: ") + std::strerror(errno));
    return;
  }
  int rc = ::connect(fd, found->ai_addr, found->ai_addrlen);
  int err = errno;
  ::freeaddrinfo(found);
  if (rc == 0) {
    ::close(fd);
    r.done(true, {});
    return;
  }
  if (err != EINPROGRESS) {
    ::close(fd);
    r.done(false, std::strerror(err));
    return;
  }
  active.push_back(in_flight{fd, r.deadline, std::move(r.done)});
}

void dialer::run() {
  std::vector<in_flight> active;
  std::vector<pollfd> fds;
  for (;;) {
    std::vector<request> fresh;
    {
      std::lock_guard lock(mutex_);
      if (stopping_)
        break;
      fresh.swap(requests_);
    }
    for (auto& r : fresh)
      start_one(r, active);
    fds.clear();
    fds.push_back(pollfd{wake_fd_, POLLIN, 0});
    auto now = std::chrono::steady_clock::now();
    auto wait = std::chrono::milliseconds(1000);
    for (auto& a : active) {
      fds.push_back(pollfd{a.fd, POLLOUT, 0});
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(a.deadline - now);
      wait = std::max(std::chrono::milliseconds(0), std::min(wait, left + std::chrono::milliseconds(1)));
    }
    ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    if (fds[0].revents & POLLIN) {
      uint64_t drained;
      [[maybe_unused]] auto n = ::read(wake_fd_, &drained, sizeof drained);
    }
    now = std::chrono::steady_clock::now();
    std::vector<in_flight> still;
    for (size_t i = 0; i < active.size(); ++i) {
      auto& a = active[i];
      auto ev = fds[i + 1].revents;
      if (ev != 0) {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        ::getsockopt(a.fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        ::close(a.fd);
        if (so_error == 0)
          a.done(true, {});
        else
          a.done(false, std::strerror(so_error));
      } else if (now >= a.deadline) {
        ::close(a.fd);
        a.done(false, "timeout");
      } else {
        still.push_back(std::move(a));
      }
    }
    active.swap(still);
  }
  // Stopped: close what is open and call no one (the owner is going away).
  for (auto& a : active)
    ::close(a.fd);
}

} // namespace bento::cluster::transport
