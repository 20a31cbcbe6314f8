#include "node/http/http_server.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
#include <spdlog/spdlog.h>

#include "node/http/request_reader.hpp"
#include "node/http/response_head.hpp"

namespace bento::node {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::string error_body(const char* code, const std::string& message) {
  // Hand-built: message is one of our constants, never client text.
  return std::string("{\"error\":\"") + code + "\",\"message\":\"" + message + "\"}";
}

} // namespace

/// What the server needs of a connection to shed it when idle.
struct idle_connection {
  virtual ~idle_connection() = default;
  /// Closes the connection if it is still in the idle period `idle_key` (called on its strand).
  virtual void shed(uint64_t idle_key) = 0;
  virtual void post_shed(uint64_t idle_key) = 0;
};

struct http_server::impl {
  // Declaration order is destruction order reversed: sessions die with ioc and still touch the counters.
  http_server_options options;
  http_handler handler;
  read_limits limits;
  uint32_t per_address_cap = 0;
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> in_flight{0};
  std::atomic<uint64_t> next_request{0};
  std::atomic<uint64_t> shed_connections{0};
  std::atomic<uint64_t> refused_connections{0};
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable idle;
  // Connections waiting for a request with nothing received, by when they became idle (oldest first), and
  // connections per client address. Both only hold live connections, so they are bounded by the cap.
  std::mutex connections_mutex;
  std::map<uint64_t, std::weak_ptr<idle_connection>> idle_connections;
  uint64_t next_idle_key = 0;
  std::unordered_map<std::string, uint32_t> per_address;
  net::io_context ioc;
  // Requests waiting for the domain have no socket operation pending. Once the acceptor closes at stop, the
  // I/O threads would find no work, return from run() and never write those answers: hold them until stop.
  std::optional<net::executor_work_guard<net::io_context::executor_type>> keep_running;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<net::steady_timer> accept_backoff;
  std::chrono::steady_clock::time_point last_accept_warning{};
  uint64_t suppressed_accept_warnings = 0;
  std::vector<std::thread> threads;

  void accept();
  void accept_later(const beast::error_code& ec);
  void admit(tcp::socket socket);
  void request_done() {
    if (in_flight.fetch_sub(1) == 1) {
      std::lock_guard lock(mutex);
      idle.notify_all();
    }
  }
  void release_address(const std::string& key) {
    if (key.empty())
      return;
    std::lock_guard lock(connections_mutex);
    auto it = per_address.find(key);
    if (it != per_address.end() && --it->second == 0)
      per_address.erase(it);
  }
};

namespace {

class session : public idle_connection, public std::enable_shared_from_this<session> {
public:
  /// `address_key` is empty for connections not counted per address (trusted proxies).
  session(tcp::socket socket, http_server::impl& server, std::string address, std::string address_key)
    : stream_(std::move(socket)), server_(server), reader_(server.limits), address_(std::move(address)),
      address_key_(std::move(address_key)) {
    ++server_.connections;
  }

  ~session() override {
    forget_idle();
    server_.release_address(address_key_);
    --server_.connections;
  }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->begin_request(); });
  }

  void post_shed(uint64_t idle_key) override {
    net::post(stream_.get_executor(), [self = shared_from_this(), idle_key] { self->shed(idle_key); });
  }

  void shed(uint64_t idle_key) override {
    if (idle_key_ != idle_key || idle_key == 0)
      return; // it received something since: no longer idle
    idle_key_ = 0;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

private:
  void begin_request() {
    reader_.start();
    auto r = reader_.parse_buffered();
    if (r.what != read_result::kind::need_more) {
      handle(std::move(r));
      return;
    }
    if (reader_.request_bytes() == 0) {
      // Idle between requests: hold no buffer memory, and be the first to go when the server is full.
      reader_.shrink();
      remember_idle();
      stream_.expires_after(std::chrono::milliseconds(first_request_ ? server_.options.read_timeout_ms
                                                                     : server_.options.idle_timeout_ms));
    } else {
      stream_.expires_after(std::chrono::milliseconds(server_.options.read_timeout_ms));
    }
    read_more();
  }

  void read_more() {
    auto [data, size] = reader_.prepare();
    if (size == 0) {
      handle(reader_.commit(0)); // full buffer: the reader answers why
      return;
    }
    stream_.async_read_some(net::buffer(data, size), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(beast::error_code ec, size_t n) {
    if (idle_key_ != 0) {
      forget_idle();
      // The whole request must arrive within the read timeout from its first byte (slowloris).
      stream_.expires_after(std::chrono::milliseconds(server_.options.read_timeout_ms));
    }
    if (ec) {
      // End of stream, timeout, reset, shed: nothing to answer.
      close();
      return;
    }
    handle(reader_.commit(n));
  }

  void handle(read_result r) {
    switch (r.what) {
      case read_result::kind::need_more: read_more(); return;
      case read_result::kind::closed: close(); return;
      case read_result::kind::failed: fail_and_close(r.status, error_body(r.code.c_str(), r.message)); return;
      case read_result::kind::done: dispatch(); return;
    }
  }

  void dispatch() {
    first_request_ = false;
    auto client = server_.options.proxies.client_address(address_, reader_.forwarded_for());
    http_request out = reader_.take(client);
    keep_alive_ = reader_.keep_alive() && !server_.stopping;
    version_ = reader_.version();
    out.request_id = std::to_string(server_.next_request.fetch_add(1) + 1);
    ++server_.in_flight;
    // The domain bounds its own time; no socket timer while we wait for it.
    stream_.expires_never();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    try {
      server_.handler(std::move(out), [self = shared_from_this(), answered](http_response resp) {
        if (answered->exchange(true))
          return; // answered twice: a bug upstream, but never two responses on the wire
        net::post(self->stream_.get_executor(), [self, resp = std::move(resp)]() mutable {
          self->write(std::move(resp), true);
        });
      });
    } catch (const std::exception& e) {
      // One request's failure ends at most its connection, never the process.
      spdlog::error("http.handler_exception error={}", e.what());
      if (!answered->exchange(true)) {
        server_.request_done();
        fail_and_close(400, error_body("bad_request", "the request could not be handled"));
      }
    }
  }

  void write(http_response resp, bool counted) {
    // One write in flight per connection (the next request is read after it), so its buffers live here.
    out_body_ = std::move(resp.body);
    out_shared_ = std::move(resp.shared_body);
    const std::string& body = out_shared_ ? *out_shared_ : out_body_;
    bool with_body = status_has_body(resp.status);
    write_response_head(out_head_, resp, version_ == 10 ? 0 : 1, keep_alive_, body.size());
    std::array<net::const_buffer, 2> buffers{net::buffer(out_head_), net::buffer(body.data(), with_body ? body.size() : 0)};
    stream_.expires_after(std::chrono::milliseconds(server_.options.read_timeout_ms));
    net::async_write(stream_, buffers, [self = shared_from_this(), counted](beast::error_code ec, size_t) {
      // The body goes with its memory (clear() would keep it: an idle connection holding its last answer); the
      // head's few hundred bytes stay for the next response.
      std::string().swap(self->out_body_);
      self->out_shared_.reset();
      if (counted)
        self->server_.request_done();
      if (!ec && self->linger_) {
        self->linger();
        return;
      }
      if (ec || !self->keep_alive_ || self->server_.stopping) {
        self->close();
        return;
      }
      self->begin_request();
    });
  }

  void fail_and_close(int status, std::string body) {
    keep_alive_ = false;
    linger_ = true; // the client may still be sending what we refused
    http_response resp;
    resp.status = status;
    resp.body = std::move(body);
    write(std::move(resp), false);
  }

  void close() {
    forget_idle();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  void remember_idle() {
    std::lock_guard lock(server_.connections_mutex);
    idle_key_ = ++server_.next_idle_key;
    server_.idle_connections.emplace(idle_key_, std::weak_ptr<idle_connection>(shared_from_this()));
  }

  void forget_idle() {
    if (idle_key_ == 0)
      return;
    std::lock_guard lock(server_.connections_mutex);
    server_.idle_connections.erase(idle_key_);
    idle_key_ = 0;
  }

  /// Closing a socket with unread data makes the kernel send a reset, which can destroy the error answer
  /// before the client reads it (a client still uploading a too-large body saw no 413, only a reset). So:
  /// stop sending, read and drop what still comes for a bounded time and size, then close.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    drain_buffer_ = std::make_unique<std::array<char, 8192>>();
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(*drain_buffer_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > (8u << 20)) {
        self->stream_.close();
        return;
      }
      self->drain();
    });
  }

  beast::tcp_stream stream_;
  http_server::impl& server_;
  request_reader reader_;
  std::string address_;
  std::string address_key_;
  uint64_t idle_key_ = 0; // nonzero while idle and listed in the server's idle_connections
  bool keep_alive_ = false;
  bool first_request_ = true;
  bool linger_ = false;
  size_t drained_ = 0;
  std::unique_ptr<std::array<char, 8192>> drain_buffer_; // only while lingering
  std::string out_head_, out_body_;                        // the response being written
  std::shared_ptr<const std::string> out_shared_;
  unsigned version_ = 11;
};

/// A connection refused at accept gets a short JSON 429 written without blocking (a fresh socket's send
/// buffer always takes it), then is closed.
void refuse(tcp::socket& socket, const char* message) {
  auto body = error_body("too_many_requests", message);
  auto text = "HTTP/1.1 429 Too Many Requests\r\nServer: bento\r\nContent-Type: application/json\r\n"
              "Retry-After: 1\r\nConnection: close\r\nContent-Length: "
              + std::to_string(body.size()) + "\r\n\r\n" + body;
  beast::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(net::buffer(text), ec);
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

} // namespace

/// An accept that fails (out of file descriptors, most often) fails again at once if retried at once: pause
/// before the next one instead of spinning, and log the condition at most once a second.
void http_server::impl::accept_later(const beast::error_code& ec) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_accept_warning >= std::chrono::seconds(1)) {
    spdlog::warn("http.accept_failed error={} open_connections={} suppressed={}", ec.message(), connections.load(),
                 suppressed_accept_warnings);
    last_accept_warning = now;
    suppressed_accept_warnings = 0;
  } else {
    ++suppressed_accept_warnings;
  }
  accept_backoff->expires_after(std::chrono::milliseconds(50));
  accept_backoff->async_wait([this](beast::error_code wait_ec) {
    if (!wait_ec && !stopping)
      accept();
  });
}

/// Per-address cap first (one client cannot take the server); then, at the total cap, the connection idle
/// longest makes room: clients that wait for nothing give way to clients that arrive.
void http_server::impl::admit(tcp::socket socket) {
  beast::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  if (ec) {
    socket.close(ec);
    return;
  }
  auto address = peer.address().to_string();
  if (auto canonical = canonical_address(address))
    address = *canonical;
  std::string key = options.proxies.contains(address) ? std::string() : address_key(address);
  std::shared_ptr<idle_connection> victim;
  uint64_t victim_key = 0;
  {
    std::lock_guard lock(connections_mutex);
    if (!key.empty()) {
      auto it = per_address.find(key);
      if (it != per_address.end() && it->second >= per_address_cap) {
        ++refused_connections;
        refuse(socket, "too many connections from this address");
        return;
      }
    }
    if (connections >= options.max_connections) {
      while (!idle_connections.empty() && !victim) {
        auto oldest = idle_connections.begin();
        victim_key = oldest->first;
        victim = oldest->second.lock();
        idle_connections.erase(oldest);
      }
      if (!victim) {
        ++refused_connections;
        refuse(socket, "the server is at its connection limit");
        return;
      }
    }
    if (!key.empty())
      ++per_address[key];
  }
  if (victim) {
    ++shed_connections;
    victim->post_shed(victim_key);
  }
  std::make_shared<session>(std::move(socket), *this, std::move(address), std::move(key))->start();
}

void http_server::impl::accept() {
  // One accept (or backoff wait) is pending at a time, so the backoff fields are never touched concurrently.
  // A connection's handlers run one at a time: on a strand when several threads run the context; with one
  // thread that is already so, and a strand's dispatch costs a few per cent of a small request's CPU.
  auto executor = options.threads > 1 ? net::any_io_executor(net::make_strand(ioc))
                                      : net::any_io_executor(ioc.get_executor());
  acceptor->async_accept(executor, [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!stopping && ec != net::error::operation_aborted)
        accept_later(ec);
      return;
    }
    admit(std::move(socket));
    if (!stopping)
      accept();
  });
}

http_server::http_server(http_server_options options, http_handler handler) : impl_(std::make_unique<impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  auto& o = impl_->options;
  impl_->limits.max_header_bytes = o.max_header_bytes;
  impl_->limits.max_body_bytes = o.max_body_bytes;
  impl_->limits.max_buffer_bytes = o.max_header_bytes + (8u << 10);
  impl_->per_address_cap = o.max_connections_per_address ? o.max_connections_per_address
                                                         : std::max<uint32_t>(1, o.max_connections / 10);
}

http_server::~http_server() {
  stop(0);
}

domain::outcome<domain::unit_t> http_server::start() {
  using domain::errc;
  beast::error_code ec;
  auto address = net::ip::make_address(impl_->options.bind, ec);
  if (ec) {
    tcp::resolver resolver(impl_->ioc);
    auto results = resolver.resolve(impl_->options.bind, std::to_string(impl_->options.port), ec);
    if (ec || results.empty())
      return domain::fail(errc::invalid_argument, "cannot resolve bind address " + impl_->options.bind);
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, impl_->options.port);
  auto acceptor = std::make_unique<tcp::acceptor>(impl_->ioc);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec)
    acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    acceptor->bind(endpoint, ec);
  if (!ec)
    acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return domain::fail(errc::invalid_argument, "cannot listen on " + impl_->options.bind + ":"
                                                  + std::to_string(impl_->options.port) + ": " + ec.message());
  impl_->acceptor = std::move(acceptor);
  impl_->accept_backoff = std::make_unique<net::steady_timer>(impl_->ioc);
  impl_->accept();
  impl_->keep_running.emplace(impl_->ioc.get_executor());
  for (uint32_t i = 0; i < impl_->options.threads; ++i)
    impl_->threads.emplace_back([this] {
      // A handler that throws must not end the process: log it and keep serving (asio allows run() again).
      for (;;) {
        try {
          impl_->ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http.io_exception error={}", e.what());
        }
      }
    });
  return domain::unit;
}

void http_server::stop(uint32_t grace_ms) {
  if (impl_->threads.empty())
    return;
  impl_->stopping = true;
  net::post(impl_->ioc, [this] {
    beast::error_code ec;
    if (impl_->acceptor)
      impl_->acceptor->close(ec);
    if (impl_->accept_backoff)
      impl_->accept_backoff->cancel();
  });
  {
    std::unique_lock lock(impl_->mutex);
    if (!impl_->idle.wait_for(lock, std::chrono::milliseconds(grace_ms), [this] { return impl_->in_flight == 0; }))
      spdlog::warn("http.stop_grace_expired in_flight={} open_connections={}", impl_->in_flight.load(),
                   impl_->connections.load());
  }
  impl_->keep_running.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads)
    t.join();
  impl_->threads.clear();
}

uint64_t http_server::requests_in_flight() const {
  return impl_->in_flight.load();
}

uint64_t http_server::shed_connections() const {
  return impl_->shed_connections.load();
}

uint64_t http_server::refused_connections() const {
  return impl_->refused_connections.load();
}

uint64_t http_server::open_connections() const {
  return impl_->connections.load();
}

} // namespace bento::node
