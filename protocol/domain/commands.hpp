#pragma once
// Commands and replies: the one vocabulary both edges (HTTP now, the binary client protocol next) translate
// into. Each command names the entity it addresses; the router uses that key, the entity actor the rest.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "protocol/domain/types.hpp"

namespace bento::domain {

// --- users -------------------------------------------------------------------------------------------------

struct register_user {
  std::string username; // entity key: user/<username>
  std::string password;
  std::string email;
  domain::role role = role::customer;
  std::string place;
  std::string client_address = {}; // who asks (the edge's per-client key): the password gate's fair share
};

struct verify_login {
  std::string username;
  std::string password;
  std::string client_address = {}; // who asks (the edge's per-client key): the password gate's fair share
};

struct get_user {
  std::string username;
};

/// A logout, taken by the user's actor: its batch records the ended session in the user's shard (so it is
/// replicated and survives any node) and announces it to every node's revocation list.
struct end_session {
  std::string username; // entity key: user/<username>
  ended_session session;
};

// --- cluster administration ------------------------------------------------------------------------------------

/// Records a member's administrative state in the cluster's metadata: "leaving" (decommissioned: its voting
/// seats move to the other members) or "replaced" (down longer than BENTO_REPLACE_AFTER_S: the same, without
/// its help). Served by the node that leads the shard of keys::cluster_members_entity; true once committed.
struct set_member_state {
  std::string node;
  std::string state;
};

/// A user as others may see it (never the password hash).
struct user_view {
  std::string id;
  std::string username;
  std::string email;
  domain::role role = role::customer;
  std::string place;
  int64_t created_at_ms = 0;
};

// --- restaurants and menus -----------------------------------------------------------------------------------

struct create_restaurant {
  principal caller;
  std::string restaurant_id; // chosen by the edge: entity key restaurant/<id>
  std::string name;
  std::string place;
};

/// A merchant asks for a new restaurant. Routed to the merchant's user actor (user/<caller.username>), the
/// single writer of how many restaurants the merchant has, which then sends `create` to the restaurant.
struct open_restaurant {
  create_restaurant create;
};

struct menu_item_input {
  std::string name;
  std::string description;
  int64_t price_cents = 0;
  int64_t stock = 0;
  int64_t daily_stock = 0;
  std::vector<std::string> tags;
  std::vector<meal> meals;
  std::string image_url;
};

/// PUT: states the whole item. For a plain item `input.stock` is its free units now; a daily item's stock is
/// computed per day and `input.stock` is ignored.
struct upsert_menu_item {
  principal caller;
  std::string restaurant_id;
  std::string item_id;
  menu_item_input input;
  std::optional<uint64_t> if_match; // the version the caller read (If-Match); stale: precondition_failed
  bool if_none_match = false;       // If-None-Match: * (create only)
};

/// PATCH: changes only the fields given; a price or name change leaves stock alone.
struct patch_menu_item {
  principal caller;
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

struct upsert_result {
  menu_item item;
  bool created = false;
};

struct delete_menu_item {
  principal caller;
  std::string restaurant_id;
  std::string item_id;
  std::optional<uint64_t> if_match;
};

struct get_menu {
  std::string restaurant_id;
  std::string date; // whose stock to show (YYYY-MM-DD, today or later); empty: today
};

/// One restaurant's menu as shown for one day.
struct menu_snapshot {
  restaurant info;
  std::vector<menu_item> items;
};

/// An edge's encoding of an immutable value (the HTTP edge's JSON of a menu, the client protocol's bytes), made
/// by the first reader that needs it and shared by the rest.
class encoding_memo {
public:
  std::shared_ptr<const std::string> get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return value_;
  }
  void set(std::shared_ptr<const std::string> value) const {
    std::lock_guard<std::mutex> lock(mutex_);
    value_ = std::move(value);
  }

private:
  mutable std::mutex mutex_;
  mutable std::shared_ptr<const std::string> value_;
};

/// A read answer that many readers share: built once, immutable, copied as a pointer, encoded once per edge.
/// An entity hands the same one to every reader until a write changes what it shows.
template <class T>
class shared_reply {
public:
  shared_reply() : held_(std::make_shared<const holder>(T{})) {}
  explicit shared_reply(T value) : held_(std::make_shared<const holder>(std::move(value))) {}
  const T& value() const { return held_->value; }
  const encoding_memo& json() const { return held_->json; }
  const encoding_memo& binary() const { return held_->binary; }
  bool same_as(const shared_reply& other) const { return held_ == other.held_; }

private:
  struct holder {
    explicit holder(T v) : value(std::move(v)) {}
    T value;
    encoding_memo json;
    encoding_memo binary;
  };
  std::shared_ptr<const holder> held_; // never null
};

struct menu_view : shared_reply<menu_snapshot> {
  using shared_reply::shared_reply;
  menu_view(restaurant info, std::vector<menu_item> items)
    : shared_reply(menu_snapshot{std::move(info), std::move(items)}) {}
  const restaurant& info() const { return value().info; }
  const std::vector<menu_item>& items() const { return value().items; }
};

/// Sets what restaurant `restaurant_id` holds for `order_id` to exactly `lines` (item_id + qty), all or none.
/// `seq` is the order's change number: a repeat of the change the restaurant applied last changes nothing and
/// answers what it holds; an older one is refused (superseded). Empty lines release everything.
struct set_reservation {
  std::string restaurant_id;
  std::string order_id;
  std::vector<order_line> lines;
  std::optional<meal> for_meal; // checked against the items' meals when present
  std::string date;             // the order's day (YYYY-MM-DD); empty: the reservation's own, else today
  uint64_t seq = 0;
  // A first placement whose order lives in the restaurant's shard (every order without an Idempotency-Key):
  // the order's record with its intent (codec::encode). The restaurant writes the order as placed (record,
  // listing entries, event) in the reservation's own batch, instead of the order's two writes around it.
  // Empty: the order wrote its intent already and writes its outcome itself.
  std::string order_record;
};

struct reservation_result {
  restaurant info;
  std::vector<order_line> lines; // with current names and prices
  // The order's placed record (codec::encode), when the restaurant wrote it with the reservation
  // (set_reservation::order_record): the order adopts it instead of writing its own.
  std::string order_record;
};

/// The order is delivered: the reservation is consumed (its units stay used; nothing is given back).
/// Idempotent. Answers true.
struct finalize_reservation {
  std::string restaurant_id;
  std::string order_id;
  uint64_t seq = 0;
};

/// Settles an order's interrupted change `seq`: answers whether the restaurant applied it and what it holds,
/// and if it did not, fences it off (a late copy of that change is then refused), so the answer stays true.
/// Never changes stock, so the restaurant can always grant it.
struct settle_reservation {
  std::string restaurant_id;
  std::string order_id;
  uint64_t seq = 0;
  std::string date; // the order's day (keeps the fence's record until the day has passed)
};

struct settle_result {
  reservation_result held;
  bool applied = false;
  bool restaurant_exists = true;
};

// --- orders ---------------------------------------------------------------------------------------------------

struct line_request {
  std::string item_id;
  int32_t qty = 0;
};

struct place_order {
  principal caller;
  std::string order_id; // derived from (customer, Idempotency-Key) when a key is given
  std::string restaurant_id;
  std::vector<line_request> lines;
  std::optional<meal> for_meal;
  std::optional<std::string> date;
  std::string note;
  std::string idempotency_key;
  // Set by the edge that drew `order_id` just now, on a command handed straight to this node's own router
  // (api_service, domain_client): it was never delivered before, so its restaurant need not read the order's
  // record and reservation to find an earlier delivery's writes. Never carried to a peer (the forward codec
  // leaves it out) nor through the cluster router, whose retries resend a command.
  bool fresh_id = false;
};

struct get_order {
  principal caller;
  std::string order_id;
};

enum class order_action : uint8_t { confirm, deliver, cancel };

struct transition_order {
  principal caller;
  std::string order_id;
  order_action action = order_action::confirm;
};

/// A merchant's edit: new quantities of lines already in the order (lines left out are dropped), and/or the
/// merchant's own note. The customer's note is theirs and stays.
struct edit_order {
  principal caller;
  std::string order_id;
  std::optional<std::vector<line_request>> lines;
  std::optional<std::string> merchant_note;
};

struct list_orders {
  principal caller;
  std::optional<order_status> status;
  std::optional<std::string> month; // YYYY-MM of the order date
  uint32_t limit = 100;
  std::string cursor;
};

struct order_list {
  std::vector<order> orders;
  std::string next_cursor;
};

// --- catalog (read model) ---------------------------------------------------------------------------------

struct menu_query {
  std::string place;
  std::string tag;
  std::optional<meal> for_meal;
  std::string text; // case-insensitive substring of name or description
  uint32_t limit = 20;
  std::string cursor;
  std::string date; // whose stock to show (YYYY-MM-DD, today or later); empty: today
};

struct catalog_entry {
  std::string restaurant_name;
  menu_item item;
};

struct catalog_page {
  std::vector<catalog_entry> items;
  std::string next_cursor;
};

struct menu_page : shared_reply<catalog_page> {
  using shared_reply::shared_reply;
  const std::vector<catalog_entry>& items() const { return value().items; }
  const std::string& next_cursor() const { return value().next_cursor; }
};

struct restaurants_query {
  std::string place; // empty: every place
  uint32_t limit = 50;
  std::string cursor;
};

struct restaurant_list {
  std::vector<restaurant> restaurants; // by place, then name, then id
  std::string next_cursor;
};

} // namespace bento::domain
