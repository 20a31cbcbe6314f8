#include "actors/catalog/page_board.hpp"

#include "protocol/domain/calendar.hpp"

namespace bento::actors {

page_board::page_board(std::shared_ptr<std::atomic<bool>> announced) : announced_(std::move(announced)) {}

std::string page_board::key_of(const domain::menu_query& q, const std::string& today) {
  std::string k;
  for (auto* part : {&q.place, &q.tag, &q.text, &q.cursor, &q.date, &today}) {
    k += std::to_string(part->size());
    k += ':';
    k += *part;
  }
  k += q.for_meal ? std::to_string(static_cast<int>(*q.for_meal)) : "-";
  k += '/' + std::to_string(q.limit);
  return k;
}

std::optional<domain::menu_page> page_board::find_current(const domain::menu_query& q) const {
  // Read before the board: an announcement set after this is a write not acknowledged before the query began.
  if (!announced_ || announced_->load(std::memory_order_acquire)) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  auto key = key_of(q, domain::local_date(domain::now_ms()));
  std::optional<domain::menu_page> found;
  {
    std::lock_guard lock(mutex_);
    if (open_)
      if (auto it = pages_.find(key); it != pages_.end())
        found = it->second;
  }
  (found ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  return found;
}

void page_board::close() {
  std::lock_guard lock(mutex_);
  open_ = false;
}

void page_board::open() {
  std::lock_guard lock(mutex_);
  open_ = true;
}

void page_board::reset(uint64_t revision) {
  std::lock_guard lock(mutex_);
  pages_.clear();
  entries_ = 0;
  revision_ = revision;
  open_ = true;
}

uint64_t page_board::revision() const {
  std::lock_guard lock(mutex_);
  return revision_;
}

std::optional<domain::menu_page> page_board::find(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = pages_.find(key);
  if (it == pages_.end())
    return std::nullopt;
  return it->second;
}

void page_board::put(std::string key, const domain::menu_page& page) {
  auto size = page.items().size() + 1; // an empty page costs its key
  std::lock_guard lock(mutex_);
  if (entries_ + size > max_entries) {
    pages_.clear();
    entries_ = 0;
  }
  entries_ += size;
  pages_.insert_or_assign(std::move(key), page);
}

} // namespace bento::actors
