#include "client/sdk/connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "client/sdk/dial.hpp"
#include "client/sdk/utf8.hpp"

namespace bento::client::detail {

namespace {

constexpr uint32_t protocol_version = 1;
constexpr uint32_t default_frame_bytes = 1024 * 1024; // a Welcome without a limit: the protocol's default
constexpr uint32_t default_in_flight = 128;
constexpr size_t max_client_name = 64;

using clock = std::chrono::steady_clock;

int millis_until(clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 1 << 30));
}

error goodbye_error(const pb::Goodbye& g, const std::string& address) {
  error e;
  e.code = errc_from_string(g.error());
  e.code_text = g.error();
  e.message = address + " said goodbye" + (g.message().empty() ? "" : ": " + g.message());
  if (!g.versions().empty()) {
    e.message += " (it speaks versions";
    for (auto v : g.versions())
      e.message += " " + std::to_string(v);
    e.message += ")";
  }
  return e;
}

/// What answers a Hello with something else than a frame of ours is usually another service, such as the
/// node's HTTP port; say so rather than quote a nonsensical frame length.
error not_a_client_port(const std::string& address) {
  return make_error(errc::protocol_error, address + " does not speak the Bento client protocol (is it the "
                                                    "node's client port, BENTO_CLIENT_PORT?)");
}

using pending_outcomes = std::vector<std::pair<outcome_handler, transport_outcome>>;

void deliver(pending_outcomes& outcomes) {
  for (auto& [done, outcome] : outcomes)
    done(std::move(outcome));
  outcomes.clear();
}

} // namespace

connection::connection(std::string address, settings s) : address_(std::move(address)), settings_(std::move(s)) {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
    wake_read_ = fds[0];
    wake_write_ = fds[1];
  }
}

connection::~connection() {
  close();
  join();
  std::lock_guard lock(thread_mutex_);
  if (thread_.joinable())
    thread_.detach(); // destroyed by its own thread, which the pool never lets happen; see join()
  if (wake_read_ >= 0)
    ::close(wake_read_);
  if (wake_write_ >= 0)
    ::close(wake_write_);
}

void connection::join() {
  std::lock_guard lock(thread_mutex_);
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
    thread_.join();
}

void connection::start() {
  if (started_.exchange(true))
    return; // without the lock: the thread itself may get here, while join() holds it
  std::lock_guard lock(thread_mutex_);
  thread_ = std::thread([this] { run(); });
}

uint64_t connection::submit(pb::Request req, outcome_handler done) {
  static std::atomic<uint64_t> next_id{1}; // unique per process, hence per connection too
  uint64_t id = next_id.fetch_add(1);
  req.set_id(id);
  pb::ClientFrame frame;
  *frame.mutable_request() = std::move(req);
  entry e;
  e.since = clock::now();
  append_frame(e.frame, frame.SerializeAsString()); // outside the lock: callers encode in parallel
  e.done = std::move(done);
  {
    std::lock_guard lock(mutex_);
    if (ended_ || closing_)
      return 0;
    entries_.emplace(id, std::move(e));
    queue_.push_back(id);
  }
  notify();
  return id;
}

bool connection::abandon(uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end())
    return true; // it ended meanwhile, its outcome unheard: it may have been answered, or lost after sending
  if (it->second.sent) {
    it->second.done = nullptr;
    return true;
  }
  entries_.erase(it); // its id in queue_ is skipped
  return false;
}

bool connection::silent_since(uint64_t id) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  return it != entries_.end() && last_heard_ < it->second.since;
}

void connection::close() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  notify();
}

void connection::fail(error why) {
  {
    std::lock_guard lock(mutex_);
    if (closing_)
      return;
    closing_ = true;
    failed_ = std::move(why);
  }
  notify();
}

size_t connection::load() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void connection::notify() {
  if (wake_write_ >= 0) {
    char b = 1;
    // A full pipe already holds a wake-up, so a failed write loses nothing.
    [[maybe_unused]] auto n = ::write(wake_write_, &b, 1);
  }
}

void connection::run() {
  ending end;
  bool closed_early;
  {
    std::lock_guard lock(mutex_);
    closed_early = closing_; // closed before it was started
    if (closed_early)
      end.why = failed_ ? *failed_ : make_error(errc::cancelled, "the client is closing");
  }
  if (closed_early) {
    end_all(end);
    finished_ = true;
    return;
  }
  auto handshake_deadline = clock::now() + settings_.connect_timeout;
  auto dialed = dial(address_, handshake_deadline, wake_read_, [this] {
    std::lock_guard lock(mutex_);
    return closing_;
  });
  if (dialed.fd < 0) {
    {
      std::lock_guard lock(mutex_);
      end.why = failed_ ? *failed_ : make_error(errc::unreachable, dialed.error);
    }
    end_all(end);
    finished_ = true;
    return;
  }
  fd_ = dialed.fd;
  pb::ClientFrame hello;
  hello.mutable_hello()->add_versions(protocol_version);
  hello.mutable_hello()->set_client_name(utf8_prefix(settings_.client_name, max_client_name, "bento-client-sdk"));
  append_frame(output_, hello.SerializeAsString());
  phase_ = phase::handshaking;

  char buffer[64 * 1024];
  std::string body;
  pending_outcomes outcomes;
  for (bool open = true; open;) {
    {
      std::lock_guard lock(mutex_);
      if (closing_) {
        end.why = failed_ ? *failed_ : make_error(errc::cancelled, "the client is closing");
        break;
      }
      if (phase_ == phase::ready)
        move_queued_to_output(outcomes);
    }
    deliver(outcomes);
    bool want_write = output_written_ < output_.size();
    pollfd fds[2] = {{fd_, static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0}, {wake_read_, POLLIN, 0}};
    int n = ::poll(fds, 2, phase_ == phase::handshaking ? millis_until(handshake_deadline) : -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      end.why = make_error(errc::unreachable, address_ + ": poll: " + std::strerror(errno));
      break;
    }
    if (n == 0) {
      end.why = make_error(errc::unreachable, address_ + ": no Welcome within "
                                                  + std::to_string(settings_.connect_timeout.count()) + " ms");
      break;
    }
    if (fds[1].revents & POLLIN)
      drain(wake_read_);
    if (want_write && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
      auto w = ::send(fd_, output_.data() + output_written_, output_.size() - output_written_, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        end.why = make_error(errc::unreachable, address_ + ": connection lost: " + std::strerror(errno));
        break;
      }
      if (w > 0) {
        output_written_ += static_cast<size_t>(w);
        stream_written_ += static_cast<uint64_t>(w);
        if (output_written_ == output_.size()) {
          output_.clear();
          output_written_ = 0;
        }
      }
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    auto r = ::recv(fd_, buffer, sizeof buffer, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      continue;
    if (r <= 0) {
      auto why = r == 0 ? std::string(": connection closed by the node")
                        : std::string(": connection lost: ") + std::strerror(errno);
      end.why = make_error(errc::unreachable, address_ + why);
      break;
    }
    {
      std::lock_guard lock(mutex_);
      last_heard_ = clock::now();
    }
    decoder_.feed(buffer, static_cast<size_t>(r));
    for (;;) {
      auto status = decoder_.next(body);
      if (status == frame_decoder::status::need_more)
        break;
      if (status != frame_decoder::status::frame && phase_ == phase::handshaking) {
        end.why = not_a_client_port(address_);
        open = false;
        break;
      }
      if (status != frame_decoder::status::frame) {
        end.why = status == frame_decoder::status::too_large
                    ? make_error(errc::frame_too_large, address_ + " sent a frame over "
                                                          + std::to_string(decoder_.limit()) + " bytes")
                    : make_error(errc::protocol_error, address_ + " sent an empty frame");
        open = false;
        break;
      }
      pb::ServerFrame frame;
      if (!frame.ParseFromString(body)) {
        end.why = phase_ == phase::handshaking
                    ? not_a_client_port(address_)
                    : make_error(errc::protocol_error, address_ + " sent a frame that is not a ServerFrame");
        open = false;
        break;
      }
      open = phase_ == phase::handshaking ? handshake_frame(frame, end) : response_frame(frame, end);
      if (!open)
        break;
    }
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  end_all(end);
  finished_ = true; // the last touch of this object by its thread
}

bool connection::handshake_frame(const pb::ServerFrame& frame, ending& end) {
  if (frame.has_goodbye()) {
    end.why = goodbye_error(frame.goodbye(), address_);
    end.requests_unread = true; // none was sent yet
    return false;
  }
  if (!frame.has_welcome()) {
    end.why = make_error(errc::protocol_error, address_ + " answered Hello with something else than Welcome");
    return false;
  }
  auto& w = frame.welcome();
  if (w.version() != protocol_version) {
    end.why = make_error(errc::protocol_error,
                         address_ + " chose version " + std::to_string(w.version()) + ", which was not offered");
    return false;
  }
  std::lock_guard lock(mutex_);
  max_frame_bytes_ = w.max_frame_bytes() == 0 ? default_frame_bytes : std::min(w.max_frame_bytes(), max_frame_limit);
  max_in_flight_ = w.max_in_flight() == 0 ? default_in_flight : w.max_in_flight();
  decoder_.set_limit(max_frame_bytes_);
  phase_ = phase::ready;
  return true;
}

bool connection::response_frame(pb::ServerFrame& frame, ending& end) {
  if (frame.has_goodbye()) {
    end.why = goodbye_error(frame.goodbye(), address_);
    // The node only says idle_timeout when nothing is in flight, and acts on nothing that arrives after it.
    end.requests_unread = end.why.code == errc::idle_timeout;
    return false;
  }
  if (!frame.has_response()) {
    end.why = make_error(errc::protocol_error, address_ + " sent a second Welcome");
    return false;
  }
  outcome_handler done;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(frame.response().id());
    // An id we did not send (or sent and never wrote) is the node's mistake; the request it may have meant
    // still ends with the connection.
    if (it == entries_.end() || !it->second.sent)
      return true;
    done = std::move(it->second.done);
    entries_.erase(it);
    --in_flight_;
  }
  if (done) {
    transport_outcome outcome;
    outcome.what = transport_outcome::kind::answered;
    outcome.response = std::move(*frame.mutable_response());
    done(std::move(outcome));
  }
  return true;
}

void connection::move_queued_to_output(pending_outcomes& refused) {
  while (!queue_.empty() && in_flight_ < max_in_flight_) {
    auto id = queue_.front();
    queue_.pop_front();
    auto it = entries_.find(id);
    if (it == entries_.end())
      continue; // abandoned before it was sent
    auto& e = it->second;
    if (e.frame.size() - frame_header_bytes > max_frame_bytes_) {
      transport_outcome outcome;
      outcome.what = transport_outcome::kind::not_sent;
      outcome.failure = make_error(errc::frame_too_large, "the request is over " + address_ + "'s frame limit of "
                                                            + std::to_string(max_frame_bytes_) + " bytes");
      refused.emplace_back(std::move(e.done), std::move(outcome));
      entries_.erase(it);
      continue;
    }
    e.sent = true;
    e.since = clock::now();
    e.stream_start = stream_written_ + (output_.size() - output_written_);
    output_ += e.frame;
    e.frame = std::string();
    ++in_flight_;
  }
}

void connection::end_all(const ending& end) {
  pending_outcomes outcomes;
  {
    std::lock_guard lock(mutex_);
    ended_ = true;
    for (auto& [id, e] : entries_) {
      if (!e.done)
        continue;
      transport_outcome outcome;
      bool reached = e.sent && e.stream_start < stream_written_ && !end.requests_unread;
      outcome.what = reached ? transport_outcome::kind::lost : transport_outcome::kind::not_sent;
      outcome.failure = end.why;
      outcomes.emplace_back(std::move(e.done), std::move(outcome));
    }
    entries_.clear();
    queue_.clear();
    in_flight_ = 0;
  }
  deliver(outcomes);
}

} // namespace bento::client::detail
