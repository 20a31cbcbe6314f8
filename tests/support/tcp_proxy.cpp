#include "tests/support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <list>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bento::test {

namespace {

constexpr size_t max_pending = 1u << 20; // per direction: stop reading a side whose peer does not keep up

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/// The inode of the socket whose local port is `client_port` and remote port `server_port` (IPv4 loopback).
ino_t client_inode(uint16_t client_port, uint16_t server_port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line); // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout;
    unsigned long inode = 0;
    fields >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    auto port_of = [](const std::string& address) {
      auto colon = address.find(':');
      return colon == std::string::npos ? 0u : static_cast<unsigned>(std::stoul(address.substr(colon + 1), nullptr, 16));
    };
    if (port_of(local) == client_port && port_of(remote) == server_port)
      return static_cast<ino_t>(inode);
  }
  return 0;
}

/// Whether process `pid` holds the socket with this inode.
bool holds(pid_t pid, ino_t inode) {
  auto dir_name = "/proc/" + std::to_string(pid) + "/fd";
  DIR* dir = ::opendir(dir_name.c_str());
  if (!dir)
    return false;
  auto wanted = "socket:[" + std::to_string(inode) + "]";
  bool found = false;
  while (auto* entry = ::readdir(dir)) {
    char target[64];
    auto path = dir_name + "/" + entry->d_name;
    auto n = ::readlink(path.c_str(), target, sizeof(target) - 1);
    if (n > 0 && std::string(target, static_cast<size_t>(n)) == wanted) {
      found = true;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

using clock = std::chrono::steady_clock;

/// Bytes read but held back until their time (a slowed link), in arrival order.
struct held_bytes {
  std::deque<std::pair<clock::time_point, std::string>> chunks;
  size_t bytes = 0;

  void hold(clock::time_point due, std::string data) {
    // Never before what is already held: a link healed while bytes wait keeps their order.
    if (!chunks.empty() && due < chunks.back().first)
      due = chunks.back().first;
    bytes += data.size();
    chunks.emplace_back(due, std::move(data));
  }
  void release(clock::time_point now, std::string& out) {
    while (!chunks.empty() && chunks.front().first <= now) {
      out += chunks.front().second;
      bytes -= chunks.front().second.size();
      chunks.pop_front();
    }
  }
};

struct connection {
  int client = -1;
  int target = -1;
  ino_t client_inode = 0;
  bool slowed = false;
  std::string to_target, to_client;
  held_bytes late_to_target, late_to_client;
  bool client_eof = false, target_eof = false;
};

} // namespace

struct tcp_proxy::impl {
  uint16_t target_port = 0;
  int listener = -1;
  int wake[2] = {-1, -1};
  std::mutex mutex;
  std::condition_variable applied_cv;
  std::set<pid_t> shut_out;  // guarded by mutex
  std::set<pid_t> slowed;    // guarded by mutex
  bool slow_all = false;     // guarded by mutex
  std::chrono::milliseconds delay{0}; // guarded by mutex
  uint64_t requested = 0;    // guarded by mutex
  uint64_t applied = 0;      // guarded by mutex
  bool stopping = false;     // guarded by mutex
  std::list<connection> connections; // the proxy thread's only
};

tcp_proxy::tcp_proxy(uint16_t target_port) : impl_(std::make_unique<impl>()) {
  impl_->target_port = target_port;
  impl_->listener = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(impl_->listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(impl_->listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(impl_->listener, 64) != 0)
    throw std::runtime_error("tcp_proxy: cannot listen");
  socklen_t len = sizeof(addr);
  ::getsockname(impl_->listener, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  set_nonblocking(impl_->listener);
  if (::pipe(impl_->wake) != 0)
    throw std::runtime_error("tcp_proxy: no pipe");
  set_nonblocking(impl_->wake[0]);
  thread_ = std::thread([this] { run(); });
}

tcp_proxy::~tcp_proxy() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  char c = 0;
  (void)!::write(impl_->wake[1], &c, 1);
  thread_.join();
  for (auto& c : impl_->connections) {
    ::close(c.client);
    ::close(c.target);
  }
  ::close(impl_->listener);
  ::close(impl_->wake[0]);
  ::close(impl_->wake[1]);
}

void tcp_proxy::shut_out(std::set<pid_t> pids) {
  std::unique_lock lock(impl_->mutex);
  impl_->shut_out = std::move(pids);
  auto ticket = ++impl_->requested;
  char c = 0;
  (void)!::write(impl_->wake[1], &c, 1);
  impl_->applied_cv.wait(lock, [&] { return impl_->applied >= ticket; });
}

void tcp_proxy::slow_down(std::chrono::milliseconds delay, std::set<pid_t> pids, bool all) {
  std::unique_lock lock(impl_->mutex);
  impl_->delay = delay;
  impl_->slowed = delay.count() > 0 ? std::move(pids) : std::set<pid_t>{};
  impl_->slow_all = delay.count() > 0 && all;
  auto ticket = ++impl_->requested;
  char c = 0;
  (void)!::write(impl_->wake[1], &c, 1);
  impl_->applied_cv.wait(lock, [&] { return impl_->applied >= ticket; });
}

void tcp_proxy::run() {
  auto& st = *impl_;
  auto refused = [&](ino_t inode) {
    std::lock_guard lock(st.mutex);
    for (auto pid : st.shut_out)
      if (inode != 0 && holds(pid, inode))
        return true;
    return false;
  };
  auto slowed = [&](ino_t inode) {
    std::lock_guard lock(st.mutex);
    if (st.slow_all)
      return true;
    for (auto pid : st.slowed)
      if (inode != 0 && holds(pid, inode))
        return true;
    return false;
  };
  std::chrono::milliseconds delay{0};
  auto close_conn = [](connection& c) {
    ::close(c.client);
    ::close(c.target);
    c.client = c.target = -1;
  };
  for (;;) {
    uint64_t requested = 0;
    {
      std::lock_guard lock(st.mutex);
      if (st.stopping)
        return;
      requested = st.requested;
    }
    // A new partition: cut what it forbids before anything else moves.
    {
      bool apply = false;
      {
        std::lock_guard lock(st.mutex);
        apply = st.applied < requested;
      }
      if (apply) {
        {
          std::lock_guard lock(st.mutex);
          delay = st.delay;
        }
        for (auto it = st.connections.begin(); it != st.connections.end();) {
          it->slowed = slowed(it->client_inode);
          if (refused(it->client_inode)) {
            close_conn(*it);
            ++cuts_;
            it = st.connections.erase(it);
          } else {
            ++it;
          }
        }
        std::lock_guard lock(st.mutex);
        st.applied = requested;
        st.applied_cv.notify_all();
      }
    }

    std::vector<pollfd> fds;
    fds.push_back({st.wake[0], POLLIN, 0});
    fds.push_back({st.listener, POLLIN, 0});
    for (auto& c : st.connections) {
      short client_events = 0, target_events = 0;
      if (!c.client_eof && c.to_target.size() + c.late_to_target.bytes < max_pending)
        client_events |= POLLIN;
      if (!c.to_client.empty())
        client_events |= POLLOUT;
      if (!c.target_eof && c.to_client.size() + c.late_to_client.bytes < max_pending)
        target_events |= POLLIN;
      if (!c.to_target.empty())
        target_events |= POLLOUT;
      fds.push_back({c.client, client_events, 0});
      fds.push_back({c.target, target_events, 0});
    }
    // Wake for the first held bytes that fall due.
    int timeout_ms = 200;
    auto now = clock::now();
    for (auto& c : st.connections)
      for (auto* late : {&c.late_to_target, &c.late_to_client})
        if (!late->chunks.empty()) {
          auto wait = std::chrono::ceil<std::chrono::milliseconds>(late->chunks.front().first - now).count();
          timeout_ms = std::max(0, std::min<int>(timeout_ms, static_cast<int>(wait)));
        }
    ::poll(fds.data(), fds.size(), timeout_ms);
    if (fds[0].revents & POLLIN) {
      char buf[64];
      while (::read(st.wake[0], buf, sizeof(buf)) > 0) {
      }
    }
    if (fds[1].revents & POLLIN) {
      for (;;) {
        sockaddr_in from{};
        socklen_t len = sizeof(from);
        int client = ::accept(st.listener, reinterpret_cast<sockaddr*>(&from), &len);
        if (client < 0)
          break;
        connection c;
        c.client = client;
        c.client_inode = client_inode(ntohs(from.sin_port), port_);
        if (refused(c.client_inode)) {
          ::close(client);
          ++cuts_;
          continue;
        }
        c.target = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        to.sin_port = htons(st.target_port);
        if (::connect(c.target, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
          ::close(c.target);
          ::close(client);
          continue;
        }
        set_nonblocking(c.client);
        set_nonblocking(c.target);
        c.slowed = slowed(c.client_inode);
        st.connections.push_back(std::move(c));
      }
    }
    // Relay; the poll results line up with the connections as they were listed.
    size_t k = 2;
    for (auto it = st.connections.begin(); it != st.connections.end() && k + 1 < fds.size(); k += 2) {
      auto& c = *it;
      bool broken = false;
      auto pump_in = [&](int fd, short revents, std::string& out, held_bytes& late, bool& eof) {
        if (revents & (POLLIN | POLLHUP | POLLERR)) {
          char buf[65536];
          auto n = ::read(fd, buf, sizeof(buf));
          if (n > 0) {
            if (c.slowed || !late.chunks.empty())
              late.hold(clock::now() + (c.slowed ? delay : std::chrono::milliseconds(0)),
                        std::string(buf, static_cast<size_t>(n)));
            else
              out.append(buf, static_cast<size_t>(n));
          } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            eof = true;
          }
        }
        late.release(clock::now(), out);
      };
      auto pump_out = [&](int fd, short revents, std::string& pending) {
        if (!(revents & POLLOUT) || pending.empty())
          return;
        auto n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
        if (n > 0)
          pending.erase(0, static_cast<size_t>(n));
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
          broken = true;
      };
      pump_in(c.client, fds[k].revents, c.to_target, c.late_to_target, c.client_eof);
      pump_in(c.target, fds[k + 1].revents, c.to_client, c.late_to_client, c.target_eof);
      pump_out(c.client, fds[k].revents, c.to_client);
      pump_out(c.target, fds[k + 1].revents, c.to_target);
      // Either side closing ends the relay (the nodes' links are full-duplex sessions, never half-closed).
      if (broken || (c.client_eof && c.to_target.empty() && c.late_to_target.chunks.empty()) ||
          (c.target_eof && c.to_client.empty() && c.late_to_client.chunks.empty())) {
        close_conn(c);
        it = st.connections.erase(it);
      } else {
        ++it;
      }
    }
  }
}

} // namespace bento::test
