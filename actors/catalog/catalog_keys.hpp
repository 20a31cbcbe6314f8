#pragma once
// Keys of the catalog read model in the store's `catalog` column (node-local: each node builds its own from
// events). Place and name may hold any printable text, so they are separated by NUL, which validation keeps
// out of them; ids never hold '/'. The item and restaurant-list keys after their one-letter prefix are what
// clients get back (hex) as cursors, the same bytes as when the catalog lived in memory.
#include <string>

namespace bento::actors::catalog_keys {

inline const std::string applied = "m/applied/local"; // legacy: one seq for the whole node (before shards)
inline const std::string built = "m/built";           // present once the catalog was built from the entities
// The last applied event seq of a shard (every shard has its own sequence).
inline std::string applied_of(uint16_t shard) { return "m/applied/" + std::to_string(shard); }
inline const std::string counts = "m/counts";         // "<restaurants> <items>"
// Present while one shard's part is rebuilt from its entity records (a start finishes what a crash cut short).
inline const std::string rebuilding_prefix = "m/rebuilding/";
inline std::string rebuilding(uint16_t shard) { return rebuilding_prefix + std::to_string(shard); }

inline const std::string restaurant_prefix = "r/";
inline std::string restaurant(const std::string& rid) { return "r/" + rid; }

// restaurants by (place, name, id) -> rid
inline const std::string by_place_prefix = "p/";
inline std::string by_place_suffix(const std::string& place, const std::string& name, const std::string& rid) {
  return place + '\0' + name + '\0' + rid;
}

// items by (place, restaurant, item) -> MenuItem
inline const std::string item_prefix = "i/";
inline std::string item_suffix(const std::string& place, const std::string& rid, const std::string& iid) {
  return place + '\0' + rid + '\0' + iid;
}

// stock of an item, small and rewritten on every stock change (so the item record is not):
// "p<units>" plain item; "d" daily item; "d<units>@<day>" daily item whose restaurant still reports a day's
// stock outright (the stock model before per-day usage records).
inline std::string stock(const std::string& rid, const std::string& iid) { return "s/" + rid + "/" + iid; }

// units of a daily item used on a day, by day first so that past days are dropped with one ordered scan
inline const std::string used_prefix = "u/";
inline std::string used(const std::string& day, const std::string& rid, const std::string& iid) {
  return "u/" + day + "/" + rid + "/" + iid;
}

} // namespace bento::actors::catalog_keys
