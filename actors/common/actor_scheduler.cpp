#include "actors/common/actor_scheduler.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/detail/set_thread_name.hpp>
#include <caf/detail/thread_safe_actor_clock.hpp>
#include <caf/policy/work_sharing.hpp>
#include <caf/policy/work_stealing.hpp>
#include <caf/scheduler/coordinator.hpp>

namespace bento::actors {

namespace {

/// CAF's clock keeps its schedule on one thread and takes every change as an event from the others, waking
/// that thread for each. This one wakes it only for an event due before the time it sleeps until (or when many
/// wait): a request timeout five seconds out, or its cancellation, waits for the next wake-up, which comes
/// before anything in the schedule is due. Events are applied in the order they came, before any timeout fires,
/// so a cancellation still lands before the timeout it cancels.
class lazy_wake_clock final : public caf::detail::thread_safe_actor_clock {
public:
  using time_point = caf::actor_clock::time_point;

  void set_ordinary_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type, uint64_t id) override {
    push(new ordinary_timeout(t, self->ctrl(), type, id), t);
  }
  void set_multi_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type, uint64_t id) override {
    push(new multi_timeout(t, self->ctrl(), type, id), t);
  }
  void set_request_timeout(time_point t, caf::abstract_actor* self, caf::message_id id) override {
    push(new request_timeout(t, self->ctrl(), id), t);
  }
  void cancel_ordinary_timeout(caf::abstract_actor* self, caf::atom_value type) override {
    push(new ordinary_timeout_cancellation(self->id(), type), time_point::max());
  }
  void cancel_request_timeout(caf::abstract_actor* self, caf::message_id id) override {
    push(new request_timeout_cancellation(self->id(), id), time_point::max());
  }
  void cancel_timeouts(caf::abstract_actor* self) override {
    push(new timeouts_cancellation(self->id()), time_point::max());
  }
  void schedule_message(time_point t, caf::strong_actor_ptr receiver, caf::mailbox_element_ptr content) override {
    push(new actor_msg(t, std::move(receiver), std::move(content)), t);
  }
  void schedule_message(time_point t, caf::group target, caf::strong_actor_ptr sender,
                        caf::message content) override {
    push(new group_msg(t, std::move(target), std::move(sender), std::move(content)), t);
  }
  void cancel_all() override { push(new drop_all, time_point::min()); }

  /// The clock's thread: returns after stop().
  void run() {
    std::vector<unique_event_ptr> batch;
    std::unique_lock<std::mutex> guard(mtx_);
    for (;;) {
      batch.swap(incoming_);
      wake_ = false;
      sleeping_until_ = time_point::min(); // awake: nothing needs to wake it
      guard.unlock();
      bool running = apply(batch);
      batch.clear();
      if (!running)
        return;
      trigger_expired_timeouts();
      guard.lock();
      if (!incoming_.empty())
        continue; // came while it worked: their times are not in the schedule yet
      auto next = schedule_.empty() ? time_point::max() : schedule_.begin()->first;
      sleeping_until_ = next;
      if (next == time_point::max())
        cv_.wait(guard, [this] { return wake_; });
      else
        cv_.wait_until(guard, next, [this] { return wake_; });
    }
  }

  void stop() { push(new shutdown, time_point::min()); }

private:
  /// Past this many events waiting, the thread is woken anyway: cancellations hold no memory for long.
  static constexpr size_t max_backlog = 4096;

  void push(event* e, time_point due) {
    unique_event_ptr ptr{e};
    std::unique_lock<std::mutex> guard(mtx_);
    incoming_.push_back(std::move(ptr));
    if (wake_ || (due >= sleeping_until_ && incoming_.size() < max_backlog))
      return;
    wake_ = true;
    guard.unlock();
    cv_.notify_one();
  }

  template <class Event>
  void schedule(unique_event_ptr& x) {
    add_schedule_entry(std::unique_ptr<Event>{static_cast<Event*>(x.release())});
  }

  /// Applies the events in order; false after a shutdown.
  bool apply(std::vector<unique_event_ptr>& batch) {
    for (auto& x : batch) {
      switch (x->subtype) {
        case ordinary_timeout_cancellation_type:
          handle(static_cast<ordinary_timeout_cancellation&>(*x));
          break;
        case request_timeout_cancellation_type:
          handle(static_cast<request_timeout_cancellation&>(*x));
          break;
        case timeouts_cancellation_type:
          handle(static_cast<timeouts_cancellation&>(*x));
          break;
        case drop_all_type:
          schedule_.clear();
          actor_lookup_.clear();
          break;
        case shutdown_type:
          schedule_.clear();
          actor_lookup_.clear();
          return false;
        case ordinary_timeout_type:
          schedule<ordinary_timeout>(x);
          break;
        case multi_timeout_type:
          schedule<multi_timeout>(x);
          break;
        case request_timeout_type:
          schedule<request_timeout>(x);
          break;
        case actor_msg_type:
          schedule<actor_msg>(x);
          break;
        case group_msg_type:
          schedule<group_msg>(x);
          break;
        default: // no other event is ever pushed
          break;
      }
    }
    return true;
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<unique_event_ptr> incoming_;
  time_point sleeping_until_ = time_point::min();
  bool wake_ = false;
};

/// CAF's coordinator with the clock above. CAF's own clock thread still starts, and idles.
template <class Policy>
class node_coordinator final : public caf::scheduler::coordinator<Policy> {
public:
  using super = caf::scheduler::coordinator<Policy>;

  explicit node_coordinator(caf::actor_system& sys) : super(sys) {}

  static caf::actor_system::module* make(caf::actor_system& sys, caf::detail::type_list<>) {
    return new node_coordinator(sys);
  }

  lazy_wake_clock& clock() noexcept override { return clock_; }

protected:
  void start() override {
    thread_ = std::thread([this] {
      caf::detail::set_thread_name("bento.clock");
      this->system().thread_started();
      clock_.run();
      this->system().thread_terminates();
    });
    super::start();
  }

  void stop() override {
    super::stop();
    clock_.stop();
    thread_.join();
  }

private:
  lazy_wake_clock clock_;
  std::thread thread_;
};

} // namespace

void use_node_scheduler(caf::actor_system_config& cfg, const std::string& policy) {
  if (policy == "stealing")
    cfg.load<node_coordinator<caf::policy::work_stealing>>();
  else
    cfg.load<node_coordinator<caf::policy::work_sharing>>();
}

} // namespace bento::actors
