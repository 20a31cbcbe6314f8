#pragma once
// What the protocol's operations take and return, as plain structs. Times are milliseconds since the Unix
// epoch, dates "YYYY-MM-DD", months "YYYY-MM", money integer cents. An empty string or 0 means "not given"
// where the protocol says so (docs/protocol.md); std::optional marks fields whose absence is distinct.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bento::client {

enum class role { unspecified, customer, merchant };
enum class meal { unspecified, breakfast, lunch, dinner };
enum class order_status { any, placed, confirmed, delivered, cancelled }; // `any` only as a filter

// --- replies ---------------------------------------------------------------------------------------------------

struct user {
  std::string id;
  std::string username;
  std::string email;
  client::role role = client::role::unspecified;
  std::string place;
  int64_t created_at_ms = 0;
};

struct session {
  std::string token;
  int64_t expires_at_ms = 0;
  client::user user;
};

struct restaurant {
  std::string id;
  std::string name;
  std::string place;
  std::string owner_id;
  int64_t created_at_ms = 0;
};

struct restaurant_list {
  std::vector<restaurant> restaurants;
  std::string next_cursor; // empty: the last page
};

struct menu_item {
  std::string id;
  std::string name;
  std::string description;
  int64_t price_cents = 0;
  int64_t stock = 0;
  int64_t daily_stock = 0;
  std::vector<std::string> tags;
  std::vector<meal> meals;
  std::string image_url;
  uint64_t version = 0;
  std::string stock_date;      // a daily item: the day whose stock `stock` is
  std::string restaurant_id;   // in search results
  std::string restaurant_name; // in search results
};

struct menu {
  client::restaurant restaurant;
  std::vector<menu_item> items;
};

struct menu_page {
  std::vector<menu_item> items;
  std::string next_cursor;
};

struct item_written {
  menu_item item;
  bool created = false;
};

struct order_line {
  std::string item_id;
  std::string name;
  int64_t price_cents = 0;
  int32_t qty = 0;
};

struct order {
  std::string id;
  order_status status = order_status::any;
  std::string customer_id;
  std::string restaurant_id;
  std::string restaurant_name;
  std::vector<order_line> lines;
  int64_t total_cents = 0;
  client::meal meal = client::meal::unspecified;
  std::string date;
  std::string note;
  std::string merchant_note;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

struct order_list {
  std::vector<order> orders;
  std::string next_cursor;
};

struct member {
  std::string id;
  std::string address;        // cluster address
  std::string state;          // up, suspect, down, joining, leaving
  uint64_t incarnation = 0;
  uint32_t shards_led = 0;
  uint32_t shards_replicated = 0;
  std::string client_address; // host:port of its client port, when known
};

struct cluster_status {
  bool clustered = false;
  std::string node_id;
  uint32_t shards = 0;
  uint32_t replicas = 0;
  std::vector<member> members;
};

struct shard_map {
  uint64_t epoch = 0;
  uint32_t shards = 0;
  std::vector<std::string> leaders; // per shard: the leader's client address, or empty
  std::vector<std::string> nodes;   // client addresses of every member serving clients
};

// --- requests --------------------------------------------------------------------------------------------------

struct register_request {
  std::string username;
  std::string password;
  std::string email;
  client::role role = client::role::customer;
  std::string place;
};

struct create_restaurant_request {
  std::string name;
  std::string place;
};

struct list_restaurants_request {
  std::string place;
  uint32_t limit = 0; // 0: the node's default (50)
  std::string cursor;
};

struct get_menu_request {
  std::string restaurant_id;
  std::string date; // empty: today
};

struct get_item_request {
  std::string restaurant_id;
  std::string item_id;
  std::string date; // whose stock to show; empty: today
};

struct put_item_request {
  std::string restaurant_id;
  std::string item_id;
  std::string name;
  std::string description;
  int64_t price_cents = 0;
  int64_t stock = 0;
  int64_t daily_stock = 0;
  std::vector<std::string> tags;
  std::vector<meal> meals;
  std::string image_url;
  std::optional<uint64_t> if_match; // only if the item is at this version
  bool create_only = false;         // only if the item does not exist yet
};

/// Only the fields that hold a value change.
struct patch_item_request {
  std::string restaurant_id;
  std::string item_id;
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<int64_t> price_cents;
  std::optional<int64_t> stock;
  std::optional<int64_t> daily_stock;
  std::optional<std::vector<std::string>> tags;
  std::optional<std::vector<meal>> meals;
  std::optional<std::string> image_url;
  std::optional<uint64_t> if_match;
};

struct delete_item_request {
  std::string restaurant_id;
  std::string item_id;
  std::optional<uint64_t> if_match;
};

struct search_menu_request {
  std::string place;
  std::string tag;
  client::meal meal = client::meal::unspecified;
  std::string query;
  uint32_t limit = 0; // 0: the node's default (20)
  std::string cursor;
  std::string date;
};

struct line_request {
  std::string item_id;
  int32_t qty = 0;
};

struct place_order_request {
  std::string restaurant_id;
  std::vector<line_request> lines;
  client::meal meal = client::meal::unspecified;
  std::string date; // empty: today
  std::string note;
  /// The same key gives the same order. The SDK makes one up when empty, and keeps it across its retries.
  std::optional<std::string> idempotency_key;
};

struct list_orders_request {
  order_status status = order_status::any;
  std::string month; // YYYY-MM
  uint32_t limit = 0; // 0: the node's default (100)
  std::string cursor;
};

struct edit_order_request {
  std::string order_id;
  std::optional<std::vector<line_request>> lines; // present: the order's new lines
  std::optional<std::string> merchant_note;
};

} // namespace bento::client
