#include "client/sdk/dispatcher.hpp"

#include <algorithm>
#include <optional>
#include <random>
#include <set>
#include <utility>

#include "client/sdk/utf8.hpp"
#include "client/sdk/wire.hpp"

namespace bento::client::detail {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int max_attempts = 16;
constexpr int max_not_leader_hops = 3; // then undirected: some node forwards it, whatever the map says
constexpr milliseconds first_backoff{20};
constexpr milliseconds max_backoff{1000};

error error_of(const pb::Response& r) {
  error e;
  e.code = errc_from_string(r.error());
  e.code_text = r.error();
  e.message = r.message();
  e.item_id = r.item_id();
  e.retry_after_ms = r.retry_after_ms();
  return e;
}

call_reply failed(error e) {
  call_reply r;
  r.failure = std::move(e);
  return r;
}

/// How long a read or PLACE_ORDER waits on a connection from which nothing at all comes before it gives up on
/// that node and tries another: half its budget, leaving the other half for the retry.
milliseconds stall_window(milliseconds budget) {
  return std::max(budget / 2, std::min(budget, milliseconds(200)));
}

/// A node's answer that settles what a request did (with an idempotency key: what the first of its attempts
/// did, whichever node took it). The other codes say only that this attempt did nothing, or not even that.
bool definitive(errc code) {
  switch (code) {
  case errc::invalid_argument: case errc::unauthorized: case errc::forbidden: case errc::not_found:
  case errc::already_exists: case errc::out_of_stock: case errc::meal_unavailable: case errc::invalid_transition:
  case errc::idempotency_key_reused: case errc::precondition_failed: case errc::superseded:
  case errc::unknown_method:
    return true;
  default:
    return false;
  }
}

/// 0.5x to 1.5x, so that clients turned away together do not come back together.
milliseconds jittered(milliseconds d) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> spread(d.count() / 2, d.count() + d.count() / 2);
  return milliseconds(spread(rng));
}

} // namespace

class call : public std::enable_shared_from_this<call> {
public:
  call(dispatcher& d, call_spec spec, reply_handler done, clock::time_point deadline, milliseconds budget)
    : d_(d), spec_(std::move(spec)), done_(std::move(done)), deadline_(deadline), budget_(budget) {}

  const call_spec& spec() const { return spec_; }

  /// False when the call has already finished (the timer is then the caller's to cancel).
  bool set_deadline_timer(task_thread::task_id id) {
    std::lock_guard lock(mutex_);
    deadline_timer_ = id;
    return !finished_;
  }

  void attempt();
  void expire();
  void finish(call_reply&& reply);

private:
  /// Half the budget after attempt `n` was sent: if nothing has come on its connection since, the node seems
  /// stuck: end that connection, so that this call (and the others on it) try elsewhere.
  void check_stall(int n);
  void give_up_on(connection& conn, const std::string& address, milliseconds silent_for);
  /// Under mutex_: a failure of a write that may have reached a node says its outcome is unknown.
  void settle(error& e);
  void on_outcome(transport_outcome&& o, const std::string& address, int attempt_no);
  void on_answer(const pb::Response& r, const std::string& address);
  void retry_later(const error& e, const std::string& address, bool avoid_node);
  error give_up_error(errc fallback, const std::string& message);

  dispatcher& d_;
  const call_spec spec_;
  reply_handler done_;
  const clock::time_point deadline_;
  const milliseconds budget_;

  std::mutex mutex_;
  bool finished_ = false;
  int attempts_ = 0;
  int not_leader_hops_ = 0;
  int backoff_step_ = 0;
  bool undirected_ = false;
  bool maybe_sent_ = false;           // some attempt may have reached a node
  int heard_attempt_ = 0;             // the latest attempt whose outcome arrived
  std::set<std::string> excluded_;    // nodes that refused this call's connection: not again
  std::set<std::string> disfavoured_; // nodes that dropped it or shed it: only if nothing else
  std::optional<error> last_error_;
  node_pool::ticket current_;         // the attempt waiting for its outcome
  std::string current_address_;       // where it went
  task_thread::task_id deadline_timer_ = 0;
  task_thread::task_id retry_timer_ = 0;
  task_thread::task_id stall_timer_ = 0;
};

error call::give_up_error(errc fallback, const std::string& message) {
  std::lock_guard lock(mutex_);
  return last_error_ ? *last_error_ : make_error(fallback, message);
}

void call::attempt() {
  int n;
  route to;
  {
    std::lock_guard lock(mutex_);
    if (finished_)
      return;
    retry_timer_ = 0;
    n = ++attempts_;
    to = d_.router_.pick(spec_.key, excluded_, disfavoured_, !undirected_);
  }
  if (d_.stopping())
    return finish(failed(make_error(errc::cancelled, "the client is closing")));
  if (n > max_attempts)
    return finish(failed(give_up_error(errc::unreachable, "no node answered")));
  if (to.address.empty())
    return finish(failed(give_up_error(errc::unreachable, "no node to send to")));

  pb::Request req;
  req.set_method(spec_.method);
  req.set_payload(spec_.payload);
  req.set_token(spec_.token);
  req.set_idempotency_key(spec_.idempotency_key);
  req.set_key(spec_.key);
  req.set_direct(to.direct);
  auto self = shared_from_this();
  auto sent = d_.pool_.send(to.address, std::move(req), [self, address = to.address, n](transport_outcome&& o) {
    self->on_outcome(std::move(o), address, n);
  });
  if (!sent)
    return finish(failed(make_error(errc::cancelled, "the client is closing")));
  bool late;
  {
    std::lock_guard lock(mutex_);
    late = finished_; // the deadline passed meanwhile: nobody waits for this one
    if (!late && attempts_ == n && heard_attempt_ != n) {
      current_ = *sent;
      current_address_ = to.address;
    }
  }
  if (late) {
    node_pool::abandon(*sent);
    return;
  }
  if (!spec_.retry_when_lost)
    return; // a write waits for its answer as long as it may: going elsewhere would not undo it
  auto when = clock::now() + stall_window(budget_);
  if (when >= deadline_)
    return;
  auto id = d_.timers_.post_at(when, [self, n] { self->check_stall(n); });
  task_thread::task_id stale;
  {
    std::lock_guard lock(mutex_);
    stale = finished_ ? id : std::exchange(stall_timer_, id);
  }
  if (stale != 0)
    d_.timers_.cancel(stale);
}

void call::check_stall(int n) {
  node_pool::ticket t;
  std::string address;
  {
    std::lock_guard lock(mutex_);
    if (finished_ || attempts_ != n || current_.id == 0)
      return;
    t = current_;
    address = current_address_;
  }
  auto conn = t.conn.lock();
  if (conn && conn->silent_since(t.id))
    give_up_on(*conn, address, stall_window(budget_)); // this call hears of it like the others: lost or not sent
}

void call::give_up_on(connection& conn, const std::string& address, milliseconds silent_for) {
  d_.router_.node_failed(address); // first: the calls the connection's end sends elsewhere must not pick it
  conn.fail(make_error(errc::unreachable, address + " sent nothing for " + std::to_string(silent_for.count())
                                            + " ms while a request waited; the connection is given up"));
}

void call::on_outcome(transport_outcome&& o, const std::string& address, int attempt_no) {
  {
    std::lock_guard lock(mutex_);
    if (finished_ || attempt_no != attempts_)
      return;
    current_ = {};
    heard_attempt_ = attempt_no;
  }
  switch (o.what) {
  case transport_outcome::kind::answered:
    return on_answer(o.response, address);
  case transport_outcome::kind::not_sent: {
    auto code = o.failure.code;
    if (code == errc::frame_too_large)
      return finish(failed(std::move(o.failure))); // as large for every node
    bool node_at_fault = code != errc::idle_timeout && code != errc::cancelled;
    if (code == errc::unreachable || code == errc::too_many_connections || code == errc::shutting_down)
      d_.router_.node_failed(address);
    {
      std::lock_guard lock(mutex_);
      if (node_at_fault)
        excluded_.insert(address);
      last_error_ = std::move(o.failure);
    }
    return attempt();
  }
  case transport_outcome::kind::lost:
    if (!spec_.retry_when_lost) {
      auto e = make_error(errc::outcome_unknown, "the connection ended after the request was sent, so it may or "
                                                 "may not have taken effect (" + describe(o.failure) + ")");
      return finish(failed(std::move(e)));
    }
    {
      std::lock_guard lock(mutex_);
      disfavoured_.insert(address);
      maybe_sent_ = true;
      last_error_ = std::move(o.failure);
    }
    return attempt();
  }
}

void call::on_answer(const pb::Response& r, const std::string& address) {
  auto& routes = d_.router_;
  if (r.error().empty()) {
    routes.node_ok(address);
    // An undirected request names the key's leader when another node leads: learn the route.
    if (!r.leader().empty() && r.leader() != address && !spec_.key.empty() && routes.note_leader(spec_.key, r.leader()))
      d_.refresh_map(true);
    call_reply ok;
    ok.ok = true;
    ok.payload = r.payload();
    return finish(std::move(ok));
  }
  auto e = error_of(r);
  switch (e.code) {
  case errc::not_leader: // answered without acting: safe to send again, for any method
    {
      std::lock_guard lock(mutex_);
      if (++not_leader_hops_ >= max_not_leader_hops || r.leader().empty())
        undirected_ = true;
      last_error_ = e;
    }
    if (r.leader().empty())
      routes.forget_leader(spec_.key);
    else
      routes.note_leader(spec_.key, r.leader());
    d_.refresh_map(true);
    return attempt();
  case errc::unavailable: // no leader right now: the map is changing too
    d_.refresh_map(true);
    return retry_later(e, address, false);
  case errc::overloaded:
    return retry_later(e, address, true);
  case errc::outcome_unknown:
    {
      std::lock_guard lock(mutex_);
      maybe_sent_ = true;
    }
    if (spec_.retry_outcome_unknown)
      return retry_later(e, address, false);
    break;
  default:
    break;
  }
  finish(failed(std::move(e)));
}

void call::retry_later(const error& e, const std::string& address, bool avoid_node) {
  milliseconds delay;
  {
    std::lock_guard lock(mutex_);
    delay = e.retry_after_ms > 0 ? milliseconds(e.retry_after_ms)
                                 : jittered(std::min(max_backoff, first_backoff * (1 << std::min(backoff_step_, 10))));
    ++backoff_step_;
  }
  auto when = clock::now() + delay;
  if (when >= deadline_)
    return finish(failed(e)); // the node's own answer says more than a timeout would
  auto self = shared_from_this();
  {
    std::lock_guard lock(mutex_);
    if (finished_)
      return;
    last_error_ = e;
    if (avoid_node)
      disfavoured_.insert(address);
  }
  auto id = d_.timers_.post_at(when, [self] { self->attempt(); });
  if (id == 0)
    return finish(failed(make_error(errc::cancelled, "the client is closing")));
  std::lock_guard lock(mutex_);
  retry_timer_ = id;
}

void call::expire() {
  node_pool::ticket t;
  std::string address;
  {
    std::lock_guard lock(mutex_);
    if (finished_)
      return;
    t = current_;
    address = current_address_;
  }
  // The attempt still waiting: drop it, learning whether it may have reached the node, and whether anything
  // at all came from that node meanwhile.
  std::shared_ptr<connection> conn;
  bool reached = false, silent = false;
  if (t.id != 0) {
    conn = t.conn.lock();
    silent = conn && conn->silent_since(t.id);
    reached = conn ? conn->abandon(t.id) : true;
  }
  auto code = errc::timeout;
  std::string message = "no answer within " + std::to_string(budget_.count()) + " ms";
  {
    std::lock_guard lock(mutex_);
    if (finished_)
      return;
    if (current_.id == t.id)
      current_ = {};
    maybe_sent_ = maybe_sent_ || reached;
    if (spec_.write && maybe_sent_) {
      code = errc::outcome_unknown;
      message += "; the request was sent, so it may or may not have taken effect";
    }
    if (last_error_)
      message += " (last: " + describe(*last_error_) + ")";
  }
  if (silent)
    give_up_on(*conn, address, budget_);
  finish(failed(make_error(code, message)));
}

void call::settle(error& e) {
  if (!spec_.write || !maybe_sent_)
    return;
  if (e.code != errc::outcome_unknown && e.code != errc::cancelled && !definitive(e.code))
    e = make_error(errc::outcome_unknown, "an earlier attempt was sent and may have taken effect; the last one "
                                          "failed (" + describe(e) + ")");
  if (!spec_.idempotency_key.empty() && (e.code == errc::outcome_unknown || e.code == errc::cancelled))
    e.idempotency_key = spec_.idempotency_key;
}

void call::finish(call_reply&& reply) {
  auto keep = shared_from_this(); // d_.finished() may drop the last other reference
  node_pool::ticket ticket;
  task_thread::task_id timers[3];
  reply_handler done;
  {
    std::lock_guard lock(mutex_);
    if (finished_)
      return;
    finished_ = true;
    ticket = std::move(current_);
    timers[0] = deadline_timer_;
    timers[1] = retry_timer_;
    timers[2] = stall_timer_;
    done = std::move(done_);
  }
  for (auto id : timers)
    if (id != 0)
      d_.timers_.cancel(id);
  // Cancelled at shutdown: the late answer, or the request itself if unsent, is dropped.
  bool reached = ticket.id != 0 && node_pool::abandon(ticket);
  if (!reply.ok) {
    std::lock_guard lock(mutex_);
    maybe_sent_ = maybe_sent_ || reached;
    settle(reply.failure);
  }
  d_.finished(this);
  done(std::move(reply));
}

// --- dispatcher ---

dispatcher::dispatcher(const options& opts)
  : timeout_(opts.timeout), leader_routing_(opts.leader_routing), router_(opts.nodes, opts.leader_routing),
    pool_({opts.client_name, opts.connect_timeout}, opts.connections_per_node) {}

bool dispatcher::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void dispatcher::finished(call* c) {
  std::lock_guard lock(mutex_);
  live_.erase(c);
}

void dispatcher::start(call_spec spec, reply_handler done) {
  if (!valid_utf8(spec.token) || !valid_utf8(spec.idempotency_key))
    return done(failed(make_error(errc::invalid_argument, "the token and the idempotency key must be UTF-8")));
  if (!valid_utf8(spec.key))
    spec.key.clear(); // not routable; the node refuses the id inside the payload as invalid_argument
  auto deadline = clock::now() + timeout_;
  bool keyed = !spec.key.empty();
  auto c = std::make_shared<call>(*this, std::move(spec), std::move(done), deadline, timeout_);
  {
    std::lock_guard lock(mutex_);
    if (!stopping_)
      live_.emplace(c.get(), c);
  }
  if (stopping())
    return c->finish(failed(make_error(errc::cancelled, "the client is closing")));
  auto timer = timers_.post_at(deadline, [c] { c->expire(); });
  if (!c->set_deadline_timer(timer))
    timers_.cancel(timer);
  if (keyed)
    refresh_map(false);
  c->attempt();
}

void dispatcher::refresh_map(bool urgent) {
  if (!leader_routing_ || stopping() || !router_.begin_refresh(urgent))
    return;
  call_spec s;
  s.method = pb::SHARD_MAP;
  s.retry_when_lost = true;
  start(std::move(s), [this](call_reply&& r) {
    shard_map m;
    bool ok = r.ok && parse_reply(r.payload, m);
    if (ok)
      router_.adopt(m);
    router_.end_refresh(ok);
  });
}

void dispatcher::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_)
      return;
    stopping_ = true;
  }
  pool_.shutdown(); // calls on a connection hear of its end, find the client stopping, and finish
  timers_.stop(false);
  std::unordered_map<call*, std::shared_ptr<call>> waiting; // for a retry delay, or for nothing
  {
    std::lock_guard lock(mutex_);
    waiting.swap(live_);
  }
  for (auto& [ptr, c] : waiting)
    c->finish(failed(make_error(errc::cancelled, "the client is closing")));
}

} // namespace bento::client::detail
