#pragma once
// Where a restaurant's state lives in the store: which records a change writes or erases, and how stored
// records load back. Plain C++ over keys and bytes, shared by the actor and by tests that crash and reload the
// rules without CAF or RocksDB.
#include <functional>
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

/// How the functions below read the entities column (the actor's shard store, a test's map).
struct record_reader {
  std::function<domain::outcome<std::optional<std::string>>(const std::string& key)> get;
  /// Visits keys under `prefix` in order; the visitor returns false to stop.
  std::function<domain::outcome<domain::unit_t>(
    const std::string& prefix, const std::function<bool(std::string_view, std::string_view)>& visit)>
    scan;
};

/// What reading a restaurant's records found: the key of a record that does not parse, if any.
using read_result = domain::outcome<std::optional<std::string>>;

/// Loads what a restaurant keeps in memory (header, meta, items, per-day counts; every reservation only for
/// records of an older layout), for finish_load() to complete. Its cost does not grow with the restaurant's
/// orders.
read_result load_restaurant(restaurant_state& st, const std::string& rid, const record_reader& reader);

/// Reads the order's reservation into `st` unless it is known there already.
read_result fetch_reservation(restaurant_state& st, const std::string& rid, const std::string& oid,
                              const record_reader& reader);

/// Forgets up to `limit` tombstones of closed days through their index (each one's record read first);
/// `more` tells whether entries of closed days are left.
read_result sweep_tombstones(restaurant_state& st, const std::string& rid, const record_reader& reader,
                             size_t limit, restaurant_change& change, bool& more);

} // namespace bento::actors
