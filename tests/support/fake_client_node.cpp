#include "tests/support/fake_client_node.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace bento::test {

struct fake_client_node::conn {
  int fd = -1;
  std::mutex write_mutex;
  size_t unanswered = 0; // under the node's mutex_
  bool closed = false;   // under write_mutex
  std::thread thread;
};

namespace {

bool read_exact(int fd, char* p, size_t n) {
  while (n > 0) {
    auto r = ::recv(fd, p, n, 0);
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool read_frame(int fd, std::string& body) {
  unsigned char header[4];
  if (!read_exact(fd, reinterpret_cast<char*>(header), 4))
    return false;
  uint32_t n = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) | (uint32_t{header[2]} << 8) | header[3];
  if (n == 0 || n > 64u * 1024 * 1024)
    return false;
  body.resize(n);
  return read_exact(fd, body.data(), n);
}

void write_frame(int fd, const std::string& body) {
  auto n = static_cast<uint32_t>(body.size());
  std::string out = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                     static_cast<char>(n)};
  out += body;
  size_t at = 0;
  while (at < out.size()) {
    auto w = ::send(fd, out.data() + at, out.size() - at, MSG_NOSIGNAL);
    if (w <= 0)
      return;
    at += static_cast<size_t>(w);
  }
}

int listen_loopback(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0)
    throw std::runtime_error("fake_client_node: cannot listen");
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

} // namespace

std::string dead_address() {
  uint16_t port = 0;
  int fd = listen_loopback(port);
  ::close(fd);
  return "127.0.0.1:" + std::to_string(port);
}

fake_client_node::fake_client_node(handler h) : fake_client_node(std::move(h), settings{}) {}

fake_client_node::fake_client_node(handler h, settings s) : handler_(std::move(h)), settings_(std::move(s)) {
  listen_fd_ = listen_loopback(port_);
  acceptor_ = std::thread([this] { accept_loop(); });
}

fake_client_node::~fake_client_node() {
  std::vector<std::shared_ptr<conn>> conns;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    conns = conns_;
    held_.clear();
  }
  ::shutdown(listen_fd_, SHUT_RDWR); // wakes accept()
  acceptor_.join();
  ::close(listen_fd_);
  for (auto& c : conns)
    ::shutdown(c->fd, SHUT_RDWR); // wakes its reader
  for (auto& c : conns)
    c->thread.join();
  for (auto& c : conns)
    ::close(c->fd);
}

void fake_client_node::accept_loop() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0)
      return;
    auto c = std::make_shared<conn>();
    c->fd = fd;
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    conns_.push_back(c);
    c->thread = std::thread([this, c] { serve(c); });
    bump();
  }
}

void fake_client_node::serve(std::shared_ptr<conn> c) {
  std::string body;
  cpb::ClientFrame hello;
  if (!read_frame(c->fd, body) || !hello.ParseFromString(body) || !hello.has_hello())
    return;
  {
    std::lock_guard lock(mutex_);
    hellos_.push_back(hello.hello());
    bump();
  }
  cpb::ServerFrame first;
  if (settings_.refuse) {
    *first.mutable_goodbye() = *settings_.refuse;
    write_frame(c->fd, first.SerializeAsString());
    ::shutdown(c->fd, SHUT_RDWR);
    return;
  }
  auto* w = first.mutable_welcome();
  w->set_version(1);
  w->set_node_id("fake");
  w->set_max_frame_bytes(settings_.max_frame_bytes);
  w->set_max_in_flight(settings_.max_in_flight);
  write_frame(c->fd, first.SerializeAsString());

  cpb::ClientFrame frame;
  while (read_frame(c->fd, body)) {
    if (!frame.ParseFromString(body) || !frame.has_request())
      break;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(frame.request());
      max_unanswered_ = std::max(max_unanswered_, ++c->unanswered);
      bump();
    }
    cpb::Response response;
    response.set_id(frame.request().id());
    auto what = handler_(frame.request(), response);
    if (what == action::close)
      break;
    if (what == action::hold) {
      std::lock_guard lock(mutex_);
      held_.push_back({c, frame.request()});
      bump();
      continue;
    }
    reply(*c, std::move(response));
  }
  std::lock_guard write_lock(c->write_mutex);
  c->closed = true;
  ::shutdown(c->fd, SHUT_RDWR);
}

void fake_client_node::reply(conn& c, cpb::Response response) {
  cpb::ServerFrame frame;
  *frame.mutable_response() = std::move(response);
  {
    // Answered before the bytes go out: the client may send its next request as soon as they arrive.
    std::lock_guard lock(mutex_);
    --c.unanswered;
    bump();
  }
  std::lock_guard write_lock(c.write_mutex);
  if (!c.closed)
    write_frame(c.fd, frame.SerializeAsString());
}

size_t fake_client_node::answer_held(const std::function<void(const cpb::Request&, cpb::Response&)>& fill,
                                     bool newest_first) {
  std::vector<held_request> taken;
  {
    std::lock_guard lock(mutex_);
    taken.swap(held_);
  }
  if (newest_first)
    std::reverse(taken.begin(), taken.end());
  for (auto& h : taken) {
    cpb::Response response;
    response.set_id(h.request.id());
    fill(h.request, response);
    reply(*h.on, std::move(response));
  }
  return taken.size();
}

bool fake_client_node::answer_oldest(const std::function<void(const cpb::Request&, cpb::Response&)>& fill) {
  held_request h;
  {
    std::lock_guard lock(mutex_);
    if (held_.empty())
      return false;
    h = std::move(held_.front());
    held_.erase(held_.begin());
  }
  cpb::Response response;
  response.set_id(h.request.id());
  fill(h.request, response);
  reply(*h.on, std::move(response));
  return true;
}

std::vector<cpb::Request> fake_client_node::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::vector<cpb::Hello> fake_client_node::hellos() const {
  std::lock_guard lock(mutex_);
  return hellos_;
}

size_t fake_client_node::held() const {
  std::lock_guard lock(mutex_);
  return held_.size();
}

size_t fake_client_node::connections() const {
  std::lock_guard lock(mutex_);
  return conns_.size();
}

size_t fake_client_node::max_unanswered() const {
  std::lock_guard lock(mutex_);
  return max_unanswered_;
}

void fake_client_node::bump() {
  ++version_;
  changed_.notify_all();
}

bool fake_client_node::wait_until(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  for (;;) {
    auto seen = version_;
    lock.unlock();
    bool ok = ready(); // may call the accessors above, which lock
    lock.lock();
    if (ok)
      return true;
    // A change while ready() ran counts: check again rather than wait for the next one.
    if (!changed_.wait_until(lock, deadline, [&] { return version_ != seen; }))
      return false;
  }
}

} // namespace bento::test
