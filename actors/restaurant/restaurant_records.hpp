#pragma once
// Where a restaurant's state lives in the store: which records a change writes or erases, and how stored
// records load back. Plain C++ over keys and bytes, shared by the actor and by tests that crash and reload the
// rules without CAF or RocksDB.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/restaurant/restaurant_state.hpp"

namespace bento::actors {

struct record_op {
  std::string key;
  std::optional<std::string> value; // none: erase
};

/// The records (entities column) that `change` touched, with their values in `st` after the change.
std::vector<record_op> records_of(const restaurant_state& st, const restaurant_change& change);

/// Feeds one stored record of restaurant `rid` into `st`; false when the record does not parse.
bool load_record(restaurant_state& st, const std::string& rid, std::string_view key, std::string_view value);

} // namespace bento::actors
