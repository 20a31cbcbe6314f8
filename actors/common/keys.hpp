#pragma once
// Entity keys (what the router routes on) and store keys (where an entity's records live). Ids never contain
// '/', which validation guarantees, so prefixes cannot collide.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace bento::actors::keys {

inline std::string user_entity(const std::string& username) { return "user/" + username; }
inline std::string restaurant_entity(const std::string& id) { return "restaurant/" + id; }
inline std::string order_entity(const std::string& id) { return "order/" + id; }

// entities column
inline std::string user_record(const std::string& username) { return "u/" + username; }
inline std::string restaurant_record(const std::string& id) { return "r/" + id; }
inline std::string restaurant_children(const std::string& id) { return "r/" + id + "/"; }
inline std::string item_record(const std::string& rid, const std::string& iid) { return "r/" + rid + "/i/" + iid; }
inline std::string item_records(const std::string& rid) { return "r/" + rid + "/i/"; }
inline std::string reservation_records(const std::string& rid) { return "r/" + rid + "/v/"; }
inline std::string reservation_record(const std::string& rid, const std::string& oid) {
  return "r/" + rid + "/v/" + oid;
}
// An empty value per reservation tombstone (a record with no lines), by the tombstone's day: the day after it
// the tombstone can go, and the index finds those without reading every reservation.
inline std::string tombstone_records(const std::string& rid) { return "r/" + rid + "/t/"; }
inline std::string tombstone_record(const std::string& rid, const std::string& date, const std::string& oid) {
  return "r/" + rid + "/t/" + date + "/" + oid;
}
inline std::string day_used_records(const std::string& rid) { return "r/" + rid + "/d/"; }
// Units of an item used on a day (held by live orders for that day or delivered; decimal count), by day then
// item. (Before per-day counts existed, the same keys held promises for later days, with the same meaning.)
inline std::string promised_record(const std::string& rid, const std::string& date, const std::string& iid) {
  return "r/" + rid + "/d/" + date + "/" + iid;
}
inline std::string day_used_record(const std::string& rid, const std::string& date, const std::string& iid) {
  return promised_record(rid, date, iid);
}
/// Whether `text` is exactly one decimal integer in T's range, into `out` (counts and versions in record values).
template <class T>
bool whole_number(std::string_view text, T& out) {
  auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}
// A plain item's free units and its version after the last order that changed them ("<stock>:<version>"):
// an order rewrites this short record, not the item's whole record with its description, tags and image, so
// what an order writes does not grow with its items' descriptions. Present only when newer than the item
// record's own stock: a merchant's write of the item record erases it.
inline std::string item_stock_records(const std::string& rid) { return "r/" + rid + "/s/"; }
inline std::string item_stock_record(const std::string& rid, const std::string& iid) {
  return "r/" + rid + "/s/" + iid;
}
inline std::string item_stock_value(int64_t stock, uint64_t version) {
  return std::to_string(stock) + ":" + std::to_string(version);
}
struct item_stock {
  std::string item_id;
  int64_t stock = 0;
  uint64_t version = 0;
};
/// Reads an item_stock_record: `child` is what follows "r/<rid>/" ("s/<item>"), `value` its "<stock>:<version>".
inline std::optional<item_stock> parse_item_stock(std::string_view child, std::string_view value) {
  if (child.rfind("s/", 0) != 0 || child.size() == 2)
    return std::nullopt;
  item_stock s;
  s.item_id = std::string(child.substr(2));
  auto colon = value.find(':');
  if (colon == std::string_view::npos || !whole_number(value.substr(0, colon), s.stock) ||
      !whole_number(value.substr(colon + 1), s.version))
    return std::nullopt;
  return s;
}
// The restaurant's bookkeeping (latest day seen, last item version).
inline std::string restaurant_meta_record(const std::string& rid) { return "r/" + rid + "/m"; }

struct promise_record {
  std::string day;
  std::string item_id;
  int64_t units = 0;
};
/// Reads a promised_record: `child` is what follows "r/<rid>/" ("d/<day>/<item>"), `value` its count.
inline std::optional<promise_record> parse_promise(std::string_view child, std::string_view value) {
  if (child.rfind("d/", 0) != 0)
    return std::nullopt;
  auto rest = child.substr(2);
  auto slash = rest.find('/');
  promise_record p;
  if (slash == std::string_view::npos || !whole_number(value, p.units))
    return std::nullopt;
  p.day = std::string(rest.substr(0, slash));
  p.item_id = std::string(rest.substr(slash + 1));
  return p;
}
inline std::string order_record(const std::string& id) { return "o/" + id; }

// indexes column: orders by customer and by merchant, by order date, newest last in key order
inline std::string customer_orders(const std::string& customer_id) { return "oc/" + customer_id + "/"; }
inline std::string merchant_orders(const std::string& merchant_id) { return "om/" + merchant_id + "/"; }
// The same orders by status first ("ocs/<customer>/<status>/<date>/..."), so that a listing filtered by status
// (and month within it) reads only matching entries. Same suffix as the plain index, so a key of one maps to
// the other.
inline std::string customer_orders_by_status(const std::string& customer_id, const char* status) {
  return "ocs/" + customer_id + "/" + status + "/";
}
inline std::string merchant_orders_by_status(const std::string& merchant_id, const char* status) {
  return "oms/" + merchant_id + "/" + status + "/";
}
inline std::string order_index_suffix(const std::string& date, int64_t created_at_ms, const std::string& oid) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%015lld", static_cast<long long>(created_at_ms));
  return date + "/" + buf + "/" + oid;
}
// An order whose stock change is in flight (intent written, outcome not yet): swept at start so that a crash
// between the restaurant's commit and the order's cannot leave stock held for an order nobody will touch again.
inline const std::string pending_orders_prefix = "po/";
inline std::string pending_order(const std::string& oid) { return pending_orders_prefix + oid; }
inline std::string user_by_id(const std::string& id) { return "uid/" + id; }

// The cluster's metadata (member states): one record, in the shard of this entity key, so it is replicated by
// that shard's group and every node holds a copy.
inline const std::string cluster_members_entity = "cluster/members";
inline const std::string cluster_members_record = "cm/members";

// Ended sessions (logouts) of the shard's users, ordered by when their tokens expire, so that every node can
// load the live ones at start and a logout can drop the expired ones with one range.
inline const std::string ended_sessions_prefix = "ended/";
inline std::string ended_sessions_until(int64_t expires_at_s) {
  auto digits = std::to_string(std::max<int64_t>(0, expires_at_s));
  return ended_sessions_prefix + std::string(digits.size() < 12 ? 12 - digits.size() : 0, '0') + digits + "/";
}
inline std::string ended_session(int64_t expires_at_s, const std::string& token_id) {
  return ended_sessions_until(expires_at_s) + token_id;
}
// entities column, written by user/<username> only: one record per restaurant the merchant created or is
// creating ("pending <ms>" until the restaurant is known to exist, then "ok").
inline std::string restaurant_slots(const std::string& username) { return "u/" + username + "/r/"; }
inline std::string restaurant_slot(const std::string& username, const std::string& rid) {
  return restaurant_slots(username) + rid;
}

} // namespace bento::actors::keys
