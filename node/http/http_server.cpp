#include "node/http/http_server.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
#include <spdlog/spdlog.h>

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

struct http_server::impl {
  // Declaration order is destruction order reversed: sessions die with ioc and still touch the counters.
  http_server_options options;
  http_handler handler;
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> in_flight{0};
  std::atomic<uint64_t> next_request{0};
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable idle;
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
  void request_done() {
    if (in_flight.fetch_sub(1) == 1) {
      std::lock_guard lock(mutex);
      idle.notify_all();
    }
  }
};

namespace {

class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket socket, http_server::impl& server)
    : stream_(std::move(socket)), server_(server) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec)
      address_ = ep.address().to_string();
    ++server_.connections;
  }

  ~session() { --server_.connections; }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

private:
  void read() {
    parser_.emplace();
    parser_->body_limit(server_.options.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(server_.options.max_header_bytes));
    stream_.expires_after(std::chrono::milliseconds(first_request_ ? server_.options.read_timeout_ms
                                                                   : server_.options.idle_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    first_request_ = false;
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout
        || ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      close();
      return;
    }
    if (ec == http::error::body_limit) {
      fail_and_close(413, error_body("payload_too_large", "request body exceeds the limit"));
      return;
    }
    if (ec == http::error::header_limit) {
      fail_and_close(431, error_body("headers_too_large", "request headers exceed the limit"));
      return;
    }
    if (ec) {
      if (ec.category() == http::make_error_code(http::error::end_of_stream).category() || ec == http::error::bad_target)
        fail_and_close(400, error_body("bad_request", "malformed HTTP request"));
      else
        close();
      return;
    }
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive() && !server_.stopping;
    version_ = req.version();
    http_request out;
    out.method = std::string(req.method_string());
    auto target = std::string(req.target());
    auto q = target.find('?');
    out.path = target.substr(0, q);
    if (q != std::string::npos)
      out.raw_query = target.substr(q + 1);
    out.authorization = std::string(req[http::field::authorization]);
    out.idempotency_key = std::string(req["Idempotency-Key"]);
    out.if_match = std::string(req[http::field::if_match]);
    out.if_none_match = std::string(req[http::field::if_none_match]);
    out.content_type = std::string(req[http::field::content_type]);
    out.body = std::move(req.body());
    out.client_address = address_;
    out.request_id = std::to_string(server_.next_request.fetch_add(1) + 1);
    ++server_.in_flight;
    // The domain bounds its own time; no socket timer while we wait for it.
    stream_.expires_never();
    server_.handler(std::move(out), [self = shared_from_this()](http_response resp) {
      net::post(self->stream_.get_executor(), [self, resp = std::move(resp)]() mutable {
        self->write(std::move(resp), true);
      });
    });
  }

  void write(http_response resp, bool counted) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(resp.status),
                                                                   version_ ? version_ : 11);
    res->set(http::field::server, "bento");
    res->set(http::field::content_type, resp.content_type);
    for (auto& [k, v] : resp.headers)
      res->set(k, v);
    res->keep_alive(keep_alive_);
    res->body() = std::move(resp.body);
    res->prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(server_.options.read_timeout_ms));
    http::async_write(stream_, *res, [self = shared_from_this(), res, counted](beast::error_code ec, size_t) {
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
      self->read();
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
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
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
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string address_;
  bool keep_alive_ = false;
  bool first_request_ = true;
  bool linger_ = false;
  size_t drained_ = 0;
  std::unique_ptr<std::array<char, 8192>> drain_buffer_; // only while lingering
  unsigned version_ = 11;
};

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

void http_server::impl::accept() {
  // One accept (or backoff wait) is pending at a time, so the backoff fields are never touched concurrently.
  acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!stopping && ec != net::error::operation_aborted)
        accept_later(ec);
      return;
    }
    if (connections >= options.max_connections) {
      beast::error_code ignored;
      socket.close(ignored); // over the cap: refuse rather than degrade everyone
    } else {
      std::make_shared<session>(std::move(socket), *this)->start();
    }
    if (!stopping)
      accept();
  });
}

http_server::http_server(http_server_options options, http_handler handler) : impl_(std::make_unique<impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
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
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
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

uint64_t http_server::open_connections() const {
  return impl_->connections.load();
}

} // namespace bento::node
