#pragma once
// One thread running tasks in time order. The SDK keeps two: one for its own timers (call deadlines, retry
// delays), whose tasks are short and never block, and one for users' callbacks, so a slow callback delays
// other callbacks but never a socket or a timer.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace bento::client::detail {

class task_thread {
public:
  using clock = std::chrono::steady_clock;
  using task = std::function<void()>;
  using task_id = uint64_t;

  task_thread();
  ~task_thread() { stop(false); }
  task_thread(const task_thread&) = delete;
  task_thread& operator=(const task_thread&) = delete;

  task_id post(task t) { return post_at(clock::now(), std::move(t)); }
  task_id post_at(clock::time_point when, task t);
  /// Whether the task was still waiting (and now never runs).
  bool cancel(task_id id);
  bool on_this_thread() const { return std::this_thread::get_id() == thread_.get_id(); }
  /// Joins the thread, first running the tasks already due if `run_due` (callbacks owed to users), else
  /// dropping them. Later posts are dropped. Not from a task of its own.
  void stop(bool run_due);

private:
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  // Ordered by time, then by posting order, so tasks due at once run first-come first-served.
  std::map<std::pair<clock::time_point, task_id>, task> tasks_;
  std::map<task_id, clock::time_point> due_;
  task_id next_id_ = 1;
  bool stopping_ = false;
  bool run_due_ = false;
  std::thread thread_;
};

} // namespace bento::client::detail
