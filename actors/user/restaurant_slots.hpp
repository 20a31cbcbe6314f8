#pragma once
// How many restaurants a merchant has, kept by the merchant's user actor (the single writer per merchant), as
// plain C++ rules. Creating a restaurant spans two entities, so it is two writes: a slot is recorded before
// the restaurant is asked to exist, and confirmed after. A crash between them leaves a "pending" slot that
// still counts, so no crash lets a merchant exceed the limit; a pending slot old enough that no creation can
// still be in flight is checked against the restaurant when the merchant is at the limit, and dropped if the
// restaurant never came to be, so no crash loses a slot for good.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::actors {

struct restaurant_slot {
  bool confirmed = false;
  int64_t since_ms = 0; // when a pending slot was recorded
};

class restaurant_slots {
public:
  bool loaded() const noexcept { return loaded_; }
  /// From the stored records (key suffix = restaurant id, value as encode() writes it); unreadable values
  /// count as pending since the epoch, so they are checked rather than trusted or ignored.
  void load(const std::string& rid, std::string_view value);
  void mark_loaded() { loaded_ = true; }

  /// Who may open a restaurant here: the merchant this user actor is, with a valid name and place.
  static std::optional<domain::failure> check(const domain::open_restaurant& cmd,
                                              const std::optional<domain::user>& merchant);

  size_t count() const noexcept { return slots_.size(); }
  /// Pending slots recorded before `now_ms - age_ms`: creations that can no longer be in flight.
  std::vector<std::string> stale(int64_t now_ms, int64_t age_ms) const;
  static domain::failure limit_reached(size_t limit);

  void reserve(const std::string& rid, int64_t now_ms) { slots_[rid] = restaurant_slot{false, now_ms}; }
  void confirm(const std::string& rid) { slots_[rid] = restaurant_slot{true, 0}; }
  void release(const std::string& rid) { slots_.erase(rid); }
  const restaurant_slot* find(const std::string& rid) const;

  static std::string encode(const restaurant_slot& s);

private:
  bool loaded_ = false;
  std::map<std::string, restaurant_slot> slots_; // by restaurant id
};

} // namespace bento::actors
