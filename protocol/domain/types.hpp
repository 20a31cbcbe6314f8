#pragma once
// Domain types shared by actors and edges. Plain structs, no CAF, no Protobuf: protocol/codec converts them to
// the versioned Protobuf schemas for storage and the wire.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

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
  int64_t stock = 0;       // units left for stock_date
  int64_t daily_stock = 0; // stock is reset to this at the first access of a new local day (0 = no reset)
  std::string stock_date;  // YYYY-MM-DD (local, BENTO_TZ) the stock value belongs to
  std::vector<std::string> tags;
  std::vector<meal> meals; // empty = served at every meal
  std::string image_url;
  uint64_t version = 0;
};

struct order_line {
  std::string item_id;
  std::string name;
  int64_t price_cents = 0;
  int32_t qty = 0;
};

/// What a restaurant has set aside for one order. The restaurant keeps these so that reserving is idempotent
/// per order id: the order actor states the lines it wants reserved, never a delta.
struct reservation {
  std::string order_id;
  std::string stock_date;
  std::vector<order_line> lines; // item_id + qty; name/price filled in replies
  std::string date;              // the order's day: the pool a resetting item's units come from (empty: stock_date)
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
  std::string note;
  order_status status = order_status::placed;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  std::string idempotency_key;
  std::string request_fingerprint; // what the idempotent request asked for, to detect key reuse
  // Crash-recovery intent: lines the order was changing its reservation to when it wrote this record. Present
  // only between "intent written" and "outcome written"; on reactivation the order re-asserts `lines`.
  std::optional<std::vector<order_line>> pending_lines;
  bool committed = false; // false while a placement is only an intent
  uint64_t version = 0;
};

/// "stock.changed": `stock` units left for `stock_date`. "stock.promised": `stock` units of a resetting item
/// promised to orders for the later day `stock_date` (taken off that day's fresh stock when it comes).
struct stock_level {
  std::string item_id;
  int64_t stock = 0;
  std::string stock_date;
};

/// Everything that changes is recorded as an event carrying the new state (mail, bills, recommendations and
/// read models consume them).
struct event {
  uint64_t seq = 0; // assigned by the store at commit
  std::string type; // e.g. "order.placed"
  std::string entity; // e.g. "order/o_..."
  int64_t at_ms = 0;
  std::variant<std::monostate, user, restaurant, menu_item, order, std::vector<stock_level>> payload;
  std::string restaurant_id; // for menu/stock events
};

} // namespace bento::domain
