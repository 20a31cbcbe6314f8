#pragma once
// Domain types shared by actors and edges. Plain structs, no CAF, no Protobuf: protocol/codec converts them to
// the versioned Protobuf schemas for storage and the wire.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "protocol/domain/errc.hpp"

namespace bento::domain {

enum class role : uint8_t { customer = 0, merchant = 1 };
enum class meal : uint8_t { breakfast = 0, lunch = 1, dinner = 2 };
enum class order_status : uint8_t { placed = 0, confirmed = 1, delivered = 2, cancelled = 3 };

const char* to_string(role x) noexcept;
const char* to_string(meal x) noexcept;
const char* to_string(order_status x) noexcept;
std::optional<role> parse_role(const std::string& s) noexcept;
std::optional<meal> parse_meal(const std::string& s) noexcept;
std::optional<order_status> parse_order_status(const std::string& s) noexcept;

/// Who is calling, as proven by a verified token. Edges build it; actors authorise against it.
struct principal {
  std::string user_id;
  std::string username;
  domain::role role = role::customer;
};

struct user {
  std::string id;
  std::string username;
  std::string email;
  domain::role role = role::customer;
  std::string place;
  std::string password_hash; // Argon2id encoded string; never leaves the user actor in a reply
  int64_t created_at_ms = 0;
  uint64_t version = 0;
};

struct restaurant {
  std::string id;
  std::string name;
  std::string place;
  std::string owner_id;
  int64_t created_at_ms = 0;
  uint64_t version = 0;
};

struct menu_item {
  std::string restaurant_id;
  std::string id;
  std::string name;
  std::string description;
  int64_t price_cents = 0;
  // A plain item (daily_stock == 0) has one pool of units whatever the day: `stock` is its free units. A daily
  // item (daily_stock > 0) offers daily_stock units per day, less what orders for that day use; its `stock` is
  // computed for the day shown (`stock_date`) and is not stored.
  int64_t stock = 0;
  int64_t daily_stock = 0;
  std::string stock_date;  // YYYY-MM-DD the shown stock belongs to (daily items in views; legacy records)
  std::vector<std::string> tags;
  std::vector<meal> meals; // empty = served at every meal
  std::string image_url;
  uint64_t version = 0; // changes with every change of the item's record (restaurant-wide counter): the ETag
  // Declaration of a plain item's pool: set when the item is created, re-created or switched to plain. Units
  // held by orders under an earlier declaration are frozen: releasing them adds nothing to this pool.
  uint64_t generation = 0;
};

struct order_line {
  std::string item_id;
  std::string name;
  int64_t price_cents = 0;
  int32_t qty = 0;
};

/// What a restaurant has set aside for one order. The restaurant keeps these so that reserving is idempotent
/// per order id: the order actor states the lines it wants reserved, never a delta.
/// Where the units of one held item came from: `frozen` of them were taken under an earlier declaration of the
/// item (or before it was deleted) and give nothing back when released; the rest belong to pool `generation`.
struct reservation_hold {
  std::string item_id;
  uint64_t generation = 0;
  int64_t frozen = 0;
};

/// What a restaurant holds for one order. An empty one is a tombstone that remembers the order's last change
/// number, so that a late or repeated older request cannot take units again.
struct reservation {
  std::string order_id;
  std::string stock_date;        // legacy records only
  std::vector<order_line> lines; // item_id + qty; name/price filled in replies
  std::string date;              // the order's day: a daily item's units come from that day's
  uint64_t seq = 0;              // the order's change number that set these lines (0: legacy record)
  std::vector<reservation_hold> holds; // per held item
  bool fenced = false;           // `seq` was fenced off by a settle, not applied: lines are an earlier change's
};

/// Per-restaurant bookkeeping kept beside its records.
struct restaurant_meta {
  std::string last_today;    // the latest local day the restaurant has seen: days before it never reopen
  uint64_t last_version = 0; // the last item version handed out
  // How the restaurant's records are laid out: 0 or 1, every reservation record is read at activation;
  // 2 (restaurant_records_layout), tombstones are indexed by day and reservations are read when an order needs
  // one, so activating a restaurant costs the same whatever its history.
  uint32_t records_layout = 0;
};
inline constexpr uint32_t restaurant_records_layout = 2;

/// A change an order has written down before asking its restaurant, so that a crash or a lost answer can be
/// settled: the restaurant either applied it (roll forward) or did not (roll back), never something else.
enum class intent_kind : uint8_t { place = 0, edit = 1, cancel = 2, deliver = 3 };

struct order_intent {
  intent_kind kind = intent_kind::place;
  uint64_t seq = 0;              // the reservation change number this intent sends
  std::vector<order_line> lines; // the reservation it asks for (item_id + qty); empty for cancel and deliver
  std::optional<std::string> merchant_note; // an edit's new merchant note
};

struct order {
  std::string id;
  std::string customer_id;
  std::string restaurant_id;
  std::string restaurant_name;
  std::string merchant_id;
  std::vector<order_line> lines;
  int64_t total_cents = 0;
  domain::meal meal = meal::lunch;
  std::string date; // YYYY-MM-DD
  std::string note;          // the customer's, set at placement
  std::string merchant_note; // the merchant's, set by edits
  order_status status = order_status::placed;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  std::string idempotency_key;
  std::string request_fingerprint; // what the idempotent request asked for, to detect key reuse
  // Present only between "intent written" and "outcome written"; settled on activation (see order_state).
  std::optional<order_intent> intent;
  uint64_t reservation_seq = 0; // the last reservation change number this order used
  bool committed = false; // false while a placement is only an intent (or after one that did not happen)
  uint64_t version = 0;
  // A keyed placement the restaurant refused outright (uncommitted orders only): the key names one attempt, so
  // every later try with it is answered this refusal. Without it, a try that was still on its way when the
  // client heard the refusal could place the order afterwards.
  std::optional<failure> refused;
};

/// In "stock.levels" (one per restaurant change): without `stock_date`, `stock` free units of a plain item, whose
/// record is now at `version`; with it, `stock` units of an item used (held by live orders or delivered) on day
/// `stock_date`. Earlier data dirs hold the two kinds as separate events, "stock.changed" and "stock.day_used".
struct stock_level {
  std::string item_id;
  int64_t stock = 0;
  std::string stock_date;
  uint64_t version = 0;
};

/// Everything that changes is recorded as an event carrying the new state (mail, bills, recommendations and
/// read models consume them).
/// A session ended before its token expired (logout): every node refuses the token from then on.
struct ended_session {
  std::string user_id;
  std::string token_id; // the token's random id
  int64_t issued_at_s = 0;
  int64_t expires_at_s = 0;
};

struct event {
  uint64_t seq = 0; // assigned by the store at commit, per shard (later: the shard's replicated log)
  std::string type; // e.g. "order.placed"
  std::string entity; // e.g. "order/o_..."
  int64_t at_ms = 0;
  std::variant<std::monostate, user, restaurant, menu_item, order, std::vector<stock_level>, ended_session> payload;
  std::string restaurant_id; // for menu/stock events
  uint16_t shard = 0;        // the shard of `entity`, whose sequence `seq` is in
};

} // namespace bento::domain
