#pragma once
// The catalog's answered pages, shared with the edges. Browsing asks the same few pages over and over; the
// catalog keeps each page it answered until its state changes, and an edge may answer a query with one of them
// on its own thread (no hop to the catalog's thread and back) when nothing is announced that the catalog has
// not read yet. The catalog closes the board to edges before it clears the announcement flag and reads new
// events, and opens it again once its pages are of the state it reached (emptied if that state changed), so a
// page found with no announcement pending shows every change acknowledged before the query: the same
// guarantee as asking the catalog ("a merchant who edits a price and then browses sees the new one").
// Bounded by the entries the pages hold, not by pages: a query picks its page size (up to 100) and its text, so
// anyone can ask for distinct full pages; an entry is at most ~11 KB (the item limits), so this stays ~45 MB.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "protocol/domain/commands.hpp"

namespace bento::actors {

class page_board {
public:
  /// `announced`: the flag the store's listener sets when it announces new events to the catalog (and the
  /// catalog clears before reading them); none: edges never answer from the board.
  explicit page_board(std::shared_ptr<std::atomic<bool>> announced = nullptr);

  static std::string key_of(const domain::menu_query& q, const std::string& today);

  /// An edge's lookup: the page the catalog would answer now, if it holds one and no announcement is pending.
  std::optional<domain::menu_page> find_current(const domain::menu_query& q) const;

  // The catalog's side (its own thread).
  /// Edges find nothing until open() or reset(): the catalog is about to read events.
  void close();
  /// The catalog's state is still `revision`: its pages count again, for edges too.
  void open();
  /// Empties the board and opens it, taking `revision` as the state pages are of.
  void reset(uint64_t revision);
  uint64_t revision() const;
  std::optional<domain::menu_page> find(const std::string& key) const;
  /// Keeps a page answered at the board's revision (emptying the board first when it would exceed the cap).
  void put(std::string key, const domain::menu_page& page);

  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  static constexpr size_t max_entries = 4096;

private:
  std::shared_ptr<std::atomic<bool>> announced_;
  mutable std::mutex mutex_;
  uint64_t revision_ = 0;
  bool open_ = true;
  std::unordered_map<std::string, domain::menu_page> pages_;
  size_t entries_ = 0;
  mutable std::atomic<uint64_t> hits_{0}, misses_{0};
};

} // namespace bento::actors
