#include "client/sdk/task_thread.hpp"

namespace bento::client::detail {

task_thread::task_thread() : thread_([this] { run(); }) {}

void task_thread::stop(bool run_due) {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    run_due_ = run_due;
  }
  wake_.notify_all();
  if (thread_.joinable() && !on_this_thread())
    thread_.join();
}

task_thread::task_id task_thread::post_at(clock::time_point when, task t) {
  task_id id;
  bool first;
  {
    std::lock_guard lock(mutex_);
    if (stopping_)
      return 0; // 0 is never a task's id
    id = next_id_++;
    tasks_.emplace(std::make_pair(when, id), std::move(t));
    due_.emplace(id, when);
    first = tasks_.begin()->first.second == id;
  }
  if (first) // only a new earliest task changes how long the thread sleeps
    wake_.notify_one();
  return id;
}

bool task_thread::cancel(task_id id) {
  std::lock_guard lock(mutex_);
  auto it = due_.find(id);
  if (it == due_.end())
    return false;
  tasks_.erase(std::make_pair(it->second, id));
  due_.erase(it);
  return true;
}

void task_thread::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    bool due = !tasks_.empty() && tasks_.begin()->first.first <= clock::now();
    if (stopping_ && !(run_due_ && due))
      break;
    if (tasks_.empty()) {
      wake_.wait(lock);
      continue;
    }
    auto first = tasks_.begin();
    if (!due) {
      auto when = first->first.first; // a copy: cancel() may erase the task while this waits
      wake_.wait_until(lock, when);
      continue;
    }
    task t = std::move(first->second);
    due_.erase(first->first.second);
    tasks_.erase(first);
    lock.unlock();
    t();
    t = nullptr; // captured state dies outside the lock too
    lock.lock();
  }
}

} // namespace bento::client::detail
