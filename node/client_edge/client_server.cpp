#include "node/client_edge/client_server.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "bento/client/v1/client.pb.h"
#include "node/client_edge/client_dispatch.hpp"
#include "node/http/client_address.hpp"
#include "protocol/codec/frame_codec.hpp"

namespace bento::node {

namespace net = boost::asio;
using tcp = net::ip::tcp;
namespace pb = bento::client::v1;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr uint32_t protocol_version = 1;

std::string goodbye_frame(const char* code, const std::string& message) {
  pb::ServerFrame f;
  auto* g = f.mutable_goodbye();
  g->set_error(code);
  g->set_message(message);
  if (std::string_view(code) == "unsupported_version")
    g->add_versions(protocol_version);
  return codec::frame(f.SerializeAsString());
}

class connection;

} // namespace

struct client_server::impl : std::enable_shared_from_this<client_server::impl> {
  client_server_options options;
  client_dispatch* dispatch = nullptr;
  std::atomic<uint64_t> connections{0}, requests{0}, in_flight{0}, protocol_errors{0}, timeouts{0}, refused{0};
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable changed; // in_flight or connections went down
  std::unordered_map<const void*, std::weak_ptr<connection>> live; // guarded by mutex
  std::unordered_map<std::string, uint32_t> per_address;           // guarded by mutex
  // Bytes the connections hold or expect for answers (see connection::account): over the budget, no
  // connection takes more requests than the one that keeps it moving.
  std::atomic<int64_t> reserved_bytes{0};
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> keep_running;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  uint16_t port = 0;

  void accept();
  bool over_budget() const { return reserved_bytes.load() > static_cast<int64_t>(options.buffer_bytes); }
  void release_address(const std::string& key) {
    std::lock_guard lock(mutex);
    auto it = per_address.find(key);
    if (it != per_address.end() && --it->second == 0)
      per_address.erase(it);
  }
  void request_done() {
    if (in_flight.fetch_sub(1) == 1) {
      std::lock_guard lock(mutex);
      changed.notify_all();
    }
  }
};

namespace {

class connection : public std::enable_shared_from_this<connection> {
public:
  // The server's state is shared: a domain answer may arrive after the server stopped, and must find it.
  connection(tcp::socket socket, std::shared_ptr<client_server::impl> server, std::string peer)
    : socket_(std::move(socket)), timer_(socket_.get_executor()), owner_(std::move(server)), server_(*owner_),
      decoder_(server_.options.max_frame_bytes), peer_(std::move(peer)), accepted_(clock_type::now()) {
    typical_ = server_.options.max_frame_bytes;
    ++server_.connections;
  }

  ~connection() {
    server_.reserved_bytes -= reserved_;
    server_.release_address(peer_);
    if (server_.connections.fetch_sub(1) == 1) {
      std::lock_guard lock(server_.mutex);
      server_.changed.notify_all();
    }
  }

  void start() {
    {
      std::lock_guard lock(server_.mutex);
      server_.live[this] = weak_from_this();
    }
    last_activity_ = clock_type::now();
    arm();
    read();
  }

  /// After the I/O threads are gone: closes the socket without a Goodbye.
  void close_from_stop() { close_now(); }

  /// From any thread: the node stops.
  void post_goodbye(const char* code, std::string message) {
    net::post(socket_.get_executor(),
              [self = shared_from_this(), code, message = std::move(message)] { self->goodbye(code, message); });
  }

private:
  enum class phase : uint8_t { hello, open, closing, closed };

  void read() {
    if (phase_ >= phase::closing || reading_ || full() || server_.stopping)
      return; // past the cap the socket is not read: TCP pushes back on the client
    reading_ = true;
    socket_.async_read_some(net::buffer(buffer_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(boost::system::error_code ec, size_t n) {
    reading_ = false;
    if (phase_ >= phase::closing)
      return;
    if (ec) {
      close_now(); // the client went away; its requests still complete, their answers are dropped
      return;
    }
    decoder_.feed(buffer_.data(), n);
    last_activity_ = clock_type::now();
    process();
    read();
    arm();
  }

  void process() {
    std::string body;
    bool consumed = false;
    while (phase_ < phase::closing && !full() && !server_.stopping) {
      auto st = decoder_.next(body);
      if (st == codec::frame_decoder::status::need_more)
        break;
      if (st == codec::frame_decoder::status::too_large) {
        ++server_.protocol_errors;
        return goodbye("frame_too_large", "a frame of " + std::to_string(decoder_.pending_length())
                                              + " bytes is over the limit of "
                                              + std::to_string(server_.options.max_frame_bytes));
      }
      if (st == codec::frame_decoder::status::empty) {
        ++server_.protocol_errors;
        return goodbye("protocol_error", "a frame of length 0");
      }
      handle(body);
      consumed = true;
    }
    // A frame partly here while the socket is read must complete within the I/O timeout, counted from when
    // it began: from now if a frame was taken in this pass (a steady sender's next frame), else from before.
    bool partial = decoder_.buffered() > 0 && !full();
    if (!partial)
      partial_since_.reset();
    else if (!partial_since_ || consumed)
      partial_since_ = clock_type::now();
    paused_ = phase_ == phase::open && full();
    account();
  }

  /// What this connection may cost in answers: those written out not yet, plus for each request in flight the
  /// size answers have had lately (at first the frame limit, so a burst of large answers cannot start).
  int64_t reservation() const {
    return static_cast<int64_t>(out_bytes_) + static_cast<int64_t>(in_flight_) * static_cast<int64_t>(typical_);
  }

  void account() {
    auto now = reservation();
    server_.reserved_bytes += now - reserved_;
    reserved_ = now;
  }

  /// Whether to take no more requests now. Counted: requests not answered plus answers not yet written (a
  /// client that sends without reading is held back as one that sends faster than the domain answers), their
  /// expected bytes against this connection's share and the server's budget. One request in flight is always
  /// allowed, so every connection moves.
  bool full() const {
    auto held = in_flight_ + out_.size();
    if (held >= server_.options.max_in_flight)
      return true;
    if (held == 0)
      return false;
    return reservation() >= 4 * static_cast<int64_t>(server_.options.max_frame_bytes) || server_.over_budget();
  }

  void handle(const std::string& body) {
    pb::ClientFrame f;
    if (!f.ParseFromString(body)) {
      ++server_.protocol_errors;
      return goodbye("protocol_error", "a frame that is not a ClientFrame");
    }
    if (phase_ == phase::hello) {
      if (f.body_case() != pb::ClientFrame::kHello) {
        ++server_.protocol_errors;
        return goodbye("protocol_error", "the first frame must be a Hello");
      }
      bool speaks = false;
      for (auto v : f.hello().versions())
        speaks = speaks || v == protocol_version;
      if (!speaks)
        return goodbye("unsupported_version", "this node speaks version 1 only");
      client_name_ = f.hello().client_name().substr(0, 64);
      pb::ServerFrame w;
      auto* welcome = w.mutable_welcome();
      welcome->set_version(protocol_version);
      welcome->set_node_id(server_.options.node_id);
      welcome->set_max_frame_bytes(server_.options.max_frame_bytes);
      welcome->set_max_in_flight(server_.options.max_in_flight);
      welcome->set_idle_timeout_ms(server_.options.idle_timeout_ms);
      phase_ = phase::open;
      return send(codec::frame(w.SerializeAsString()));
    }
    if (f.body_case() != pb::ClientFrame::kRequest) {
      ++server_.protocol_errors;
      return goodbye("protocol_error", "after the handshake only Request frames are allowed");
    }
    auto& req = f.request();
    if (!ids_.insert(req.id()).second) {
      ++server_.protocol_errors;
      return goodbye("protocol_error", "request id " + std::to_string(req.id()) + " is already in flight");
    }
    ++in_flight_;
    ++server_.requests;
    ++server_.in_flight;
    account();
    auto id = req.id();
    server_.dispatch->handle(req, peer_, [self = shared_from_this(), id](pb::Response resp) {
      net::post(self->socket_.get_executor(),
                [self, id, resp = std::move(resp)]() mutable { self->answered(id, std::move(resp)); });
    });
  }

  void answered(uint64_t id, pb::Response resp) {
    ids_.erase(id);
    --in_flight_;
    server_.request_done();
    if (phase_ >= phase::closing)
      return;
    pb::ServerFrame f;
    *f.mutable_response() = std::move(resp);
    auto bytes = f.SerializeAsString();
    if (bytes.size() > server_.options.max_frame_bytes) {
      // A reply over the limit the client was told of: say so instead of sending what it must refuse. Not
      // `overloaded`: a write has happened, and a retry would get the same answer.
      pb::ServerFrame small;
      auto* r = small.mutable_response();
      r->set_id(id);
      r->set_error("reply_too_large");
      r->set_message("the answer is larger than the frame limit (" + std::to_string(server_.options.max_frame_bytes)
                     + " bytes); a write took effect; ask for less (a smaller page)");
      bytes = small.SerializeAsString();
    }
    // Large answers lately: expect large ones (at once); small ones: halve the expectation towards them.
    typical_ = std::max<size_t>(bytes.size(), (typical_ + bytes.size()) / 2);
    send(codec::frame(bytes));
    // Room under the cap again: frames already here go first, then the socket.
    process();
    read();
    arm();
  }

  void send(std::string frame) {
    out_bytes_ += frame.size();
    out_.push_back(std::move(frame));
    if (!writing_)
      write_next();
  }

  void write_next() {
    if (out_.empty() || phase_ == phase::closed)
      return;
    writing_ = true;
    write_started_ = clock_type::now();
    arm();
    net::async_write(socket_, net::buffer(out_.front()), [self = shared_from_this()](boost::system::error_code ec, size_t) {
      self->on_written(ec);
    });
  }

  void on_written(boost::system::error_code ec) {
    writing_ = false;
    if (ec) {
      close_now();
      return;
    }
    out_bytes_ -= out_.front().size();
    out_.pop_front();
    last_activity_ = clock_type::now();
    if (!out_.empty())
      write_next();
    else if (phase_ == phase::closing)
      return close_now(); // the Goodbye is out
    // An answer left: room under the cap for what waits in the buffer or the socket.
    process();
    read();
    arm();
  }

  /// Ends the connection: the Goodbye goes after the answers already queued, then the socket closes.
  void goodbye(const char* code, const std::string& message) {
    if (phase_ >= phase::closing)
      return;
    spdlog::debug("client.goodbye peer={} client={} error={} message={}", peer_, client_name_, code, message);
    phase_ = phase::closing;
    auto frame = goodbye_frame(code, message);
    out_bytes_ += frame.size();
    out_.push_back(std::move(frame));
    if (!writing_)
      write_next();
    arm();
  }

  void close_now() {
    if (phase_ == phase::closed)
      return;
    phase_ = phase::closed;
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    std::lock_guard lock(server_.mutex);
    server_.live.erase(this);
    server_.changed.notify_all();
  }

  /// The next moment something must have happened, if any.
  std::optional<clock_type::time_point> deadline() const {
    using ms = std::chrono::milliseconds;
    auto& o = server_.options;
    if (phase_ == phase::closed)
      return std::nullopt;
    if (writing_)
      return write_started_ + ms(o.io_timeout_ms);
    if (phase_ == phase::closing)
      return clock_type::now(); // nothing left to write: close
    std::optional<clock_type::time_point> when;
    auto earliest = [&when](clock_type::time_point t) { when = when ? std::min(*when, t) : t; };
    if (phase_ == phase::hello)
      earliest(accepted_ + ms(o.handshake_timeout_ms));
    if (partial_since_)
      earliest(*partial_since_ + ms(o.io_timeout_ms));
    if (paused_)
      earliest(clock_type::now() + ms(20)); // held back by the budget: look again soon
    if (phase_ == phase::open && in_flight_ == 0 && out_.empty() && !partial_since_)
      earliest(last_activity_ + ms(o.idle_timeout_ms));
    return when; // none: answers pending, which the domain's own timeouts bound
  }

  void arm() {
    auto when = deadline();
    if (!when)
      return;
    if (timer_armed_ && timer_.expiry() <= *when)
      return; // it wakes earlier and looks again
    timer_.expires_at(*when);
    timer_armed_ = true;
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec == net::error::operation_aborted)
        return; // re-armed or closed; whoever did it waits now
      self->timer_armed_ = false;
      self->on_timer();
    });
  }

  void on_timer() {
    if (paused_ && phase_ == phase::open) {
      // Held back by the server's budget (others' answers): take requests again once there is room.
      process();
      read();
    }
    auto when = deadline();
    if (!when)
      return;
    if (clock_type::now() < *when || (paused_ && !writing_ && !partial_since_))
      return arm();
    ++server_.timeouts;
    if (writing_ || phase_ == phase::closing)
      return close_now(); // a client that does not read gets no Goodbye: nothing can reach it
    if (partial_since_ && clock_type::now() >= *partial_since_ + std::chrono::milliseconds(server_.options.io_timeout_ms))
      return goodbye("slow_client", "a frame did not arrive within the I/O timeout");
    if (phase_ == phase::hello)
      return goodbye("idle_timeout", "no Hello within the handshake timeout");
    goodbye("idle_timeout", "idle for longer than the idle timeout");
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  std::shared_ptr<client_server::impl> owner_;
  client_server::impl& server_;
  codec::frame_decoder decoder_;
  std::array<char, 16 * 1024> buffer_{};
  std::string peer_;
  std::string client_name_;
  phase phase_ = phase::hello;
  bool reading_ = false, writing_ = false, timer_armed_ = false, paused_ = false;
  size_t out_bytes_ = 0;
  size_t typical_ = 0;   // expected bytes of an answer (set from the frame limit at the start)
  int64_t reserved_ = 0; // this connection's share of server_.reserved_bytes
  uint32_t in_flight_ = 0;
  std::unordered_set<uint64_t> ids_;
  std::deque<std::string> out_;
  clock_type::time_point accepted_, last_activity_, write_started_;
  std::optional<clock_type::time_point> partial_since_;
};

} // namespace

void client_server::impl::accept() {
  acceptor->async_accept(net::make_strand(ioc), [this](boost::system::error_code ec, tcp::socket socket) {
    if (stopping || !acceptor->is_open())
      return;
    if (ec) {
      // Out of descriptors and the like: try again shortly rather than spin.
      spdlog::warn("client.accept_failed error={}", ec.message());
      auto t = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(50));
      t->async_wait([this, t](boost::system::error_code) { accept(); });
      return;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto remote = socket.remote_endpoint(ignored);
    auto peer = address_key(remote.address().to_string());
    bool admitted = connections.load() < options.max_connections;
    if (admitted) {
      std::lock_guard lock(mutex);
      auto& n = per_address[peer];
      admitted = n < options.max_connections_per_address;
      if (admitted)
        ++n;
      else if (n == 0)
        per_address.erase(peer);
    }
    if (!admitted) {
      ++refused;
      auto s = std::make_shared<tcp::socket>(std::move(socket));
      auto bytes = std::make_shared<std::string>(goodbye_frame(
        "too_many_connections", "the node's connection cap, or the one for this client address, is reached"));
      net::async_write(*s, net::buffer(*bytes), [s, bytes](boost::system::error_code, size_t) {
        boost::system::error_code ignored;
        s->close(ignored);
      });
    } else {
      std::make_shared<connection>(std::move(socket), shared_from_this(), std::move(peer))->start();
    }
    accept();
  });
}

client_server::client_server(client_server_options options, client_dispatch& dispatch)
  : impl_(std::make_shared<impl>()) {
  impl_->options = std::move(options);
  impl_->dispatch = &dispatch;
}

client_server::~client_server() {
  stop(0);
}

domain::outcome<domain::unit_t> client_server::start() {
  auto& d = *impl_;
  boost::system::error_code ec;
  auto address = net::ip::make_address(d.options.bind, ec);
  if (ec)
    return domain::fail(domain::errc::invalid_argument, "client port: bad bind address " + d.options.bind);
  d.acceptor = std::make_unique<tcp::acceptor>(d.ioc);
  tcp::endpoint ep(address, d.options.port);
  d.acceptor->open(ep.protocol(), ec);
  if (!ec)
    d.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    d.acceptor->bind(ep, ec);
  if (!ec)
    d.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return domain::fail(domain::errc::unavailable,
                        "client port " + std::to_string(d.options.port) + ": " + ec.message());
  d.port = d.acceptor->local_endpoint().port();
  d.keep_running.emplace(net::make_work_guard(d.ioc));
  d.accept();
  for (uint32_t i = 0; i < std::max<uint32_t>(1, d.options.threads); ++i)
    d.threads.emplace_back([&d] { d.ioc.run(); });
  return domain::unit;
}

void client_server::stop(uint32_t grace_ms) {
  auto& d = *impl_;
  // From here no connection reads or acts on another request (read() and process() check `stopping`).
  if (d.threads.empty() || d.stopping.exchange(true))
    return;
  net::post(d.ioc, [&d] {
    boost::system::error_code ignored;
    if (d.acceptor)
      d.acceptor->close(ignored);
  });
  {
    std::unique_lock lock(d.mutex);
    d.changed.wait_for(lock, std::chrono::milliseconds(grace_ms), [&d] { return d.in_flight.load() == 0; });
  }
  std::vector<std::shared_ptr<connection>> open;
  {
    std::lock_guard lock(d.mutex);
    for (auto& [key, weak] : d.live)
      if (auto c = weak.lock())
        open.push_back(std::move(c));
  }
  for (auto& c : open)
    c->post_goodbye("shutting_down", "the node stops");
  open.clear();
  {
    // The Goodbyes go out, or their clients stop reading and the write timeout closes them; bounded either way.
    std::unique_lock lock(d.mutex);
    d.changed.wait_for(lock, std::chrono::milliseconds(std::min<uint32_t>(d.options.io_timeout_ms, 2000)),
                       [&d] { return d.live.empty(); });
  }
  d.keep_running.reset();
  d.ioc.stop();
  for (auto& t : d.threads)
    t.join();
  d.threads.clear();
  // What is still queued (answers that arrived late, writes of clients that stopped reading) runs once here on
  // closed sockets, so connections and their sockets go now rather than with the process.
  {
    std::lock_guard lock(d.mutex);
    for (auto& [key, weak] : d.live)
      if (auto c = weak.lock())
        net::post(d.ioc, [c] { c->close_from_stop(); });
  }
  d.ioc.restart();
  d.ioc.poll();
}

uint16_t client_server::port() const {
  return impl_->port;
}

client_server_stats client_server::stats() const {
  auto& d = *impl_;
  return client_server_stats{d.connections.load(), d.requests.load(),       d.in_flight.load(),
                             d.protocol_errors.load(), d.timeouts.load(), d.refused.load()};
}

} // namespace bento::node
