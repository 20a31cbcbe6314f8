// The entity rules without CAF: restaurant stock, order life cycle, user throttle, catalog queries.
#include <catch2/catch.hpp>

#include "actors/catalog/catalog_state.hpp"
#include "actors/common/keys.hpp"
#include "actors/order/order_state.hpp"
#include "actors/restaurant/restaurant_state.hpp"
#include "protocol/domain/validation.hpp"
#include "actors/user/user_state.hpp"

using namespace bento::domain;
using namespace bento::actors;

namespace {

const principal merchant{"u_m", "mia", role::merchant};
const principal other_merchant{"u_m2", "max", role::merchant};
const principal customer{"u_c", "carl", role::customer};
const std::string today = "2025-01-15";

restaurant_state restaurant_with(std::vector<std::pair<std::string, int64_t>> stock) {
  restaurant_state st;
  REQUIRE(st.create(create_restaurant{merchant, "r1", "Mia's", "taipei"}, 1));
  for (auto& [id, n] : stock) {
    menu_item_input in;
    in.name = id;
    in.price_cents = 100;
    in.stock = n;
    REQUIRE(st.upsert_item(upsert_menu_item{merchant, "r1", id, in}, today));
  }
  return st;
}

int64_t stock_of(const restaurant_state& st, const std::string& id) {
  return st.items().at(id).stock;
}

} // namespace

TEST_CASE("restaurant: reserves all items or none", "[unit]") {
  auto st = restaurant_with({{"a", 5}, {"b", 1}});
  auto r = st.reserve(set_reservation{"r1", "o1", {{"a", "", 0, 3}, {"b", "", 0, 2}}, {}, {}}, today);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::out_of_stock);
  CHECK(r.error().item_id == "b");
  CHECK(stock_of(st, "a") == 5);
  CHECK(stock_of(st, "b") == 1);
  auto ok = st.reserve(set_reservation{"r1", "o1", {{"a", "", 0, 3}, {"b", "", 0, 1}}, {}, {}}, today);
  REQUIRE(ok);
  CHECK(stock_of(st, "a") == 2);
  CHECK(stock_of(st, "b") == 0);
  CHECK(ok->value.lines.size() == 2);
  CHECK(ok->value.lines[0].price_cents == 100);
}

TEST_CASE("restaurant: setting the same reservation twice reserves once", "[unit]") {
  auto st = restaurant_with({{"a", 5}});
  set_reservation cmd{"r1", "o1", {{"a", "", 0, 2}}, {}, {}};
  REQUIRE(st.reserve(cmd, today));
  REQUIRE(st.reserve(cmd, today));
  CHECK(stock_of(st, "a") == 3);
  // Raising by one takes one more; lowering gives back; empty releases everything.
  REQUIRE(st.reserve(set_reservation{"r1", "o1", {{"a", "", 0, 3}}, {}, {}}, today));
  CHECK(stock_of(st, "a") == 2);
  REQUIRE(st.reserve(set_reservation{"r1", "o1", {{"a", "", 0, 1}}, {}, {}}, today));
  CHECK(stock_of(st, "a") == 4);
  auto released = st.reserve(set_reservation{"r1", "o1", {}, {}, {}}, today);
  REQUIRE(released);
  CHECK(stock_of(st, "a") == 5);
  CHECK(released->change.reservation_erased == std::optional<std::string>("o1"));
  CHECK(st.reservations().empty());
}

TEST_CASE("restaurant: the last unit goes to exactly one order", "[unit]") {
  auto st = restaurant_with({{"a", 1}});
  CHECK(st.reserve(set_reservation{"r1", "o1", {{"a", "", 0, 1}}, {}, {}}, today));
  auto second = st.reserve(set_reservation{"r1", "o2", {{"a", "", 0, 1}}, {}, {}}, today);
  REQUIRE_FALSE(second);
  CHECK(second.error().code == errc::out_of_stock);
}

TEST_CASE("restaurant: duplicate lines add up before the stock check", "[unit]") {
  auto st = restaurant_with({{"a", 3}});
  auto r = st.reserve(set_reservation{"r1", "o1", {{"a", "", 0, 2}, {"a", "", 0, 2}}, {}, {}}, today);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::out_of_stock);
}

TEST_CASE("restaurant: unknown items, meals and owners are refused", "[unit]") {
  auto st = restaurant_with({{"a", 3}});
  auto unknown = st.reserve(set_reservation{"r1", "o1", {{"zzz", "", 0, 1}}, {}, {}}, today);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == errc::invalid_argument);
  menu_item_input lunch_only;
  lunch_only.name = "Bento";
  lunch_only.stock = 3;
  lunch_only.meals = {meal::lunch};
  REQUIRE(st.upsert_item(upsert_menu_item{merchant, "r1", "l", lunch_only}, today));
  auto wrong_meal = st.reserve(set_reservation{"r1", "o1", {{"l", "", 0, 1}}, meal::breakfast, {}}, today);
  REQUIRE_FALSE(wrong_meal);
  CHECK(wrong_meal.error().code == errc::meal_unavailable);
  auto not_owner = st.upsert_item(upsert_menu_item{other_merchant, "r1", "x", lunch_only}, today);
  REQUIRE_FALSE(not_owner);
  CHECK(not_owner.error().code == errc::forbidden);
  auto customer_create = restaurant_state().create(create_restaurant{customer, "r2", "C", "taipei"}, 1);
  REQUIRE_FALSE(customer_create);
  CHECK(customer_create.error().code == errc::forbidden);
}

TEST_CASE("restaurant: a menu holds a bounded number of items, edits of existing ones still pass", "[unit]") {
  auto st = restaurant_with({});
  menu_item_input in;
  in.name = "Dish";
  in.stock = 1;
  for (size_t i = 0; i < max_menu_items; ++i)
    REQUIRE(st.upsert_item(upsert_menu_item{merchant, "r1", "i" + std::to_string(i), in}, today));
  auto one_more = st.upsert_item(upsert_menu_item{merchant, "r1", "extra", in}, today);
  REQUIRE_FALSE(one_more);
  CHECK(one_more.error().code == errc::invalid_argument);
  in.stock = 5;
  CHECK(st.upsert_item(upsert_menu_item{merchant, "r1", "i0", in}, today));
  REQUIRE(st.delete_item(delete_menu_item{merchant, "r1", "i1"}));
  CHECK(st.upsert_item(upsert_menu_item{merchant, "r1", "extra", in}, today));
}

TEST_CASE("restaurant: daily stock resets on the first use of a new day", "[unit]") {
  restaurant_state st;
  REQUIRE(st.create(create_restaurant{merchant, "r1", "Mia's", "taipei"}, 1));
  menu_item_input in;
  in.name = "Soup";
  in.stock = 2;
  in.daily_stock = 10;
  REQUIRE(st.upsert_item(upsert_menu_item{merchant, "r1", "soup", in}, today));
  REQUIRE(st.reserve(set_reservation{"r1", "o1", {{"soup", "", 0, 2}}, {}, {}}, today));
  CHECK_FALSE(st.reserve(set_reservation{"r1", "o2", {{"soup", "", 0, 1}}, {}, {}}, today));
  auto tomorrow = "2025-01-16";
  CHECK(effective_stock(st.items().at("soup"), tomorrow) == 10);
  REQUIRE(st.reserve(set_reservation{"r1", "o2", {{"soup", "", 0, 4}}, {}, {}}, tomorrow));
  CHECK(stock_of(st, "soup") == 6);
  // Releasing yesterday's reservation does not inflate today's fresh stock.
  REQUIRE(st.reserve(set_reservation{"r1", "o1", {}, {}, {}}, tomorrow));
  CHECK(stock_of(st, "soup") == 6);
}

TEST_CASE("restaurant: a resetting item has a stock per day; orders for a later day take from that day's",
          "[unit]") {
  restaurant_state st;
  REQUIRE(st.create(create_restaurant{merchant, "r1", "Mia's", "taipei"}, 1));
  menu_item_input in;
  in.name = "Soup";
  in.stock = 10;
  in.daily_stock = 10;
  REQUIRE(st.upsert_item(upsert_menu_item{merchant, "r1", "soup", in}, today));
  menu_item_input plain;
  plain.name = "Tea";
  plain.stock = 5;
  REQUIRE(st.upsert_item(upsert_menu_item{merchant, "r1", "tea", plain}, today));
  const std::string tomorrow = "2025-01-16", day_after = "2025-01-17";
  auto reserve = [&](const char* oid, std::vector<order_line> lines, const std::string& day,
                     const std::string& now) { return st.reserve(set_reservation{"r1", oid, lines, {}, day}, now); };

  // Tonight's pre-orders for tomorrow leave tonight's stock alone and are capped by tomorrow's.
  REQUIRE(reserve("o1", {{"soup", "", 0, 4}}, tomorrow, today));
  CHECK(stock_of(st, "soup") == 10);
  CHECK(st.promised(tomorrow, "soup") == 4);
  auto too_many = reserve("o2", {{"soup", "", 0, 7}}, tomorrow, today);
  REQUIRE_FALSE(too_many);
  CHECK(too_many.error().code == errc::out_of_stock);
  REQUIRE(reserve("o2", {{"soup", "", 0, 6}}, tomorrow, today));
  CHECK_FALSE(reserve("o3", {{"soup", "", 0, 1}}, tomorrow, today));
  REQUIRE(reserve("o4", {{"soup", "", 0, 10}}, today, today));
  CHECK(stock_of(st, "soup") == 0);
  REQUIRE(reserve("o1", {}, tomorrow, today)); // cancelled: its units go back to tomorrow's stock
  CHECK(st.promised(tomorrow, "soup") == 6);
  CHECK(st.menu(today, tomorrow).items.at(0).stock == 4); // the menu for a day shows that day's stock
  CHECK(st.menu(today).items.at(0).stock == 0);
  CHECK(st.menu(today, tomorrow).items.at(1).stock == 5); // a plain item: the one stock

  // Tomorrow morning the fresh stock is 10 less what was promised for the day: never more than 10 in all.
  auto menu = st.menu(tomorrow);
  CHECK(menu.items.at(0).stock == 4);
  CHECK_FALSE(reserve("o5", {{"soup", "", 0, 5}}, tomorrow, tomorrow));
  REQUIRE(reserve("o5", {{"soup", "", 0, 4}}, tomorrow, tomorrow));
  CHECK(stock_of(st, "soup") == 0);
  CHECK(st.promised().empty()); // folded into the day's stock
  REQUIRE(reserve("o2", {{"soup", "", 0, 5}}, "", tomorrow)); // an edit keeps the order's day
  CHECK(stock_of(st, "soup") == 1);

  // The day after, o2's day has passed: it cannot grow, and cancelling it gives nothing to the new day.
  auto late = reserve("o2", {{"soup", "", 0, 6}}, "", day_after);
  REQUIRE_FALSE(late);
  CHECK(late.error().code == errc::invalid_argument);
  REQUIRE(reserve("o2", {}, "", day_after));
  CHECK(st.menu(day_after).items.at(0).stock == 10);
  // A malformed day from a peer is refused, not turned into a promise for a day that never comes.
  auto bad_day = reserve("o9", {{"soup", "", 0, 1}}, "someday", day_after);
  REQUIRE_FALSE(bad_day);
  CHECK(bad_day.error().code == errc::invalid_argument);
  CHECK(st.menu(day_after, "someday").items.at(0).stock == st.menu(day_after).items.at(0).stock);
  // A day cannot be swapped under an existing reservation.
  REQUIRE(reserve("o6", {{"soup", "", 0, 1}}, day_after, day_after));
  CHECK_FALSE(reserve("o6", {{"soup", "", 0, 1}}, "2025-01-20", day_after));

  // A plain item has one stock whatever the order's day.
  REQUIRE(reserve("o7", {{"tea", "", 0, 3}}, "2025-01-20", day_after));
  CHECK(stock_of(st, "tea") == 2);
  CHECK_FALSE(reserve("o8", {{"tea", "", 0, 3}}, day_after, day_after));
}

TEST_CASE("restaurant: an order may keep an item deleted from the menu", "[unit]") {
  auto st = restaurant_with({{"a", 5}, {"b", 5}});
  REQUIRE(st.reserve(set_reservation{"r1", "o1", {{"a", "", 0, 2}, {"b", "", 0, 1}}, {}, {}}, today));
  REQUIRE(st.delete_item(delete_menu_item{merchant, "r1", "a"}));
  auto keep = st.reserve(set_reservation{"r1", "o1", {{"a", "", 0, 2}, {"b", "", 0, 2}}, {}, {}}, today);
  REQUIRE(keep);
  CHECK(stock_of(st, "b") == 3);
  CHECK_FALSE(st.reserve(set_reservation{"r1", "o1", {{"a", "", 0, 3}}, {}, {}}, today));
}

namespace {

place_order placement(std::string key = "k") {
  place_order cmd;
  cmd.caller = customer;
  cmd.order_id = "o1";
  cmd.restaurant_id = "r1";
  cmd.lines = {{"a", 2}};
  cmd.for_meal = meal::lunch;
  cmd.idempotency_key = std::move(key);
  return cmd;
}

order_state placed_order() {
  order_state st;
  auto d = st.begin_place(placement(), 1736901000000);
  REQUIRE(d);
  reservation_result r;
  r.info = restaurant{"r1", "Mia's", "taipei", merchant.user_id, 1, 1};
  r.lines = {{"a", "A", 150, 2}};
  st.commit(st.complete_place(d->order, r, 1736901000001));
  return st;
}

} // namespace

TEST_CASE("order: placement computes totals and replays with the same key", "[unit]") {
  auto st = placed_order();
  auto& o = *st.current();
  CHECK(o.total_cents == 300);
  CHECK(o.merchant_id == merchant.user_id);
  CHECK(o.status == order_status::placed);
  CHECK_FALSE(o.pending_lines);
  auto again = st.begin_place(placement(), 1736901000002);
  REQUIRE(again);
  CHECK(again->replay);
  auto changed = placement();
  changed.lines = {{"a", 3}};
  auto mismatch = st.begin_place(changed, 1736901000003);
  REQUIRE_FALSE(mismatch);
  CHECK(mismatch.error().code == errc::idempotency_mismatch);
}

TEST_CASE("order: only customers place, dates are checked", "[unit]") {
  order_state st;
  auto cmd = placement();
  cmd.caller = merchant;
  CHECK(st.begin_place(cmd, 1736901000000).error().code == errc::forbidden);
  cmd = placement();
  cmd.date = "2025-01-14";
  CHECK(st.begin_place(cmd, 1736901000000).error().code == errc::invalid_argument);
  cmd.date = "2025-12-31";
  CHECK(st.begin_place(cmd, 1736901000000).error().code == errc::invalid_argument);
  cmd.date = "2025-01-20";
  CHECK(st.begin_place(cmd, 1736901000000));
}

TEST_CASE("order: transitions follow the state machine and the roles", "[unit]") {
  auto st = placed_order();
  auto deliver_early = st.plan_transition(transition_order{merchant, "o1", order_action::deliver}, 2);
  CHECK(deliver_early.error().code == errc::invalid_transition);
  auto customer_confirms = st.plan_transition(transition_order{customer, "o1", order_action::confirm}, 2);
  CHECK(customer_confirms.error().code == errc::forbidden);
  auto stranger = st.plan_transition(transition_order{other_merchant, "o1", order_action::confirm}, 2);
  CHECK(stranger.error().code == errc::not_found);
  auto confirm = st.plan_transition(transition_order{merchant, "o1", order_action::confirm}, 2);
  REQUIRE(confirm);
  st.commit(confirm->next);
  auto customer_cancel = st.plan_transition(transition_order{customer, "o1", order_action::cancel}, 3);
  CHECK(customer_cancel.error().code == errc::invalid_transition);
  auto merchant_cancel = st.plan_transition(transition_order{merchant, "o1", order_action::cancel}, 3);
  REQUIRE(merchant_cancel);
  CHECK(merchant_cancel->release_stock);
  auto deliver = st.plan_transition(transition_order{merchant, "o1", order_action::deliver}, 3);
  REQUIRE(deliver);
  CHECK(deliver->finalize);
  st.commit(deliver->next);
  CHECK(st.plan_transition(transition_order{merchant, "o1", order_action::cancel}, 4).error().code
        == errc::invalid_transition);
}

TEST_CASE("order: merchants edit placed orders and keep agreed prices", "[unit]") {
  auto st = placed_order();
  edit_order cmd{merchant, "o1", std::vector<line_request>{{"a", 1}, {"b", 2}}, std::string("no onions")};
  auto plan = st.plan_edit(cmd);
  REQUIRE(plan);
  reservation_result r;
  r.lines = {{"a", "A", 999, 1}, {"b", "B", 50, 2}};
  auto next = st.complete_edit(*plan, r, 5);
  CHECK(next.lines[0].price_cents == 150); // kept from placement
  CHECK(next.total_cents == 150 + 100);
  CHECK(next.note == "no onions");
  CHECK(st.plan_edit(edit_order{customer, "o1", {}, std::string("x")}).error().code == errc::forbidden);
}

TEST_CASE("catalog: filters by place, tag, meal and text, and pages with a cursor", "[unit]") {
  catalog_state cat;
  cat.load(restaurant{"r1", "Sea", "taipei", "m", 1, 1});
  cat.load(restaurant{"r2", "Land", "tainan", "m", 1, 1});
  for (int i = 0; i < 5; ++i) {
    menu_item item;
    item.restaurant_id = "r1";
    item.id = "fish" + std::to_string(i);
    item.name = "Fish " + std::to_string(i);
    item.tags = {"seafood"};
    item.meals = {i % 2 ? meal::lunch : meal::dinner};
    cat.load(item);
  }
  menu_item beef;
  beef.restaurant_id = "r2";
  beef.id = "beef";
  beef.name = "Beef noodles";
  beef.tags = {"meat"};
  cat.load(beef);

  menu_query q;
  q.place = "taipei";
  q.limit = 2;
  auto p1 = cat.query(q, today);
  REQUIRE(p1);
  CHECK(p1->items.size() == 2);
  REQUIRE_FALSE(p1->next_cursor.empty());
  q.cursor = p1->next_cursor;
  auto p2 = cat.query(q, today);
  REQUIRE(p2);
  CHECK(p2->items.size() == 2);
  CHECK(p2->items[0].item.id == "fish2");
  q.cursor = p2->next_cursor;
  auto p3 = cat.query(q, today);
  REQUIRE(p3);
  CHECK(p3->items.size() == 1);
  CHECK(p3->next_cursor.empty());

  menu_query by_tag;
  by_tag.tag = "meat";
  CHECK(cat.query(by_tag, today)->items.size() == 1);
  menu_query by_meal;
  by_meal.place = "taipei";
  by_meal.for_meal = meal::lunch;
  CHECK(cat.query(by_meal, today)->items.size() == 2);
  menu_query by_text;
  by_text.text = "NOODLE";
  CHECK(cat.query(by_text, today)->items.size() == 1);
  menu_query bad_cursor;
  bad_cursor.cursor = "zz";
  CHECK_FALSE(cat.query(bad_cursor, today));

  event stock_ev;
  stock_ev.type = "stock.changed";
  stock_ev.restaurant_id = "r2";
  stock_ev.payload = std::vector<stock_level>{{"beef", 7, today}};
  cat.apply(stock_ev);
  CHECK(cat.query(by_tag, today)->items[0].item.stock == 7);
  event deleted;
  deleted.type = "menu.item_deleted";
  deleted.payload = beef;
  cat.apply(deleted);
  CHECK(cat.query(by_tag, today)->items.empty());
  // A resetting item's stock on a new day is its daily stock less what orders promised for that day.
  menu_item soup;
  soup.restaurant_id = "r2";
  soup.id = "soup";
  soup.name = "Soup";
  soup.stock = 0;
  soup.daily_stock = 10;
  soup.stock_date = today;
  cat.load(soup);
  event promised;
  promised.type = "stock.promised";
  promised.restaurant_id = "r2";
  promised.payload = std::vector<stock_level>{{"soup", 3, "2025-01-16"}};
  cat.apply(promised);
  menu_query soups;
  soups.text = "soup";
  CHECK(cat.query(soups, today)->items.at(0).item.stock == 0);
  CHECK(cat.query(soups, "2025-01-16")->items.at(0).item.stock == 7);
  CHECK(cat.query(soups, "2025-01-17")->items.at(0).item.stock == 10);
  soups.date = "2025-01-16"; // asked on the day before: that day's stock, not today's
  CHECK(cat.query(soups, today)->items.at(0).item.stock == 7);
  soups.date.clear();
  promised.payload = std::vector<stock_level>{{"soup", 0, "2025-01-16"}};
  cat.apply(promised);
  CHECK(cat.query(soups, "2025-01-16")->items.at(0).item.stock == 10);

  restaurants_query tainan;
  tainan.place = "tainan";
  CHECK(cat.restaurants(tainan)->restaurants.size() == 1);
}

TEST_CASE("catalog: a rare filter over a large place looks at a bounded number of items per page", "[unit]") {
  catalog_state cat;
  cat.load(restaurant{"r1", "Big", "taipei", "u_m", 1, 1});
  const size_t total = 3 * catalog_state::scan_budget;
  for (size_t i = 0; i < total; ++i) {
    menu_item item;
    item.restaurant_id = "r1";
    char id[16];
    std::snprintf(id, sizeof id, "i%06zu", i);
    item.id = id;
    item.name = "dish";
    item.stock = 1;
    if (i % 4000 == 3999)
      item.tags = {"rare"};
    cat.load(item);
  }
  menu_query q;
  q.place = "taipei";
  q.tag = "rare";
  std::vector<std::string> found;
  int pages = 0;
  do {
    auto page = cat.query(q, today);
    REQUIRE(page);
    for (auto& e : page->items)
      found.push_back(e.item.id);
    q.cursor = page->next_cursor;
    ++pages;
  } while (!q.cursor.empty() && pages < 100);
  CHECK(found == std::vector<std::string>{"i003999", "i007999", "i011999"});
  CHECK(pages == 3); // three budgets' worth of items, every rare item found once
}

TEST_CASE("catalog: lists restaurants by place and name, in pages", "[unit]") {
  catalog_state cat;
  for (int i = 0; i < 7; ++i)
    cat.load(restaurant{"r" + std::to_string(i), "Shop " + std::to_string(6 - i), i % 2 ? "tainan" : "taipei",
                        "u_m", 1, 1});
  restaurants_query q;
  q.place = "taipei";
  q.limit = 3;
  auto p1 = cat.restaurants(q);
  REQUIRE(p1);
  REQUIRE(p1->restaurants.size() == 3);
  CHECK(p1->restaurants[0].name == "Shop 0"); // r6: by name, not by id
  CHECK(p1->restaurants[2].name == "Shop 4");
  REQUIRE_FALSE(p1->next_cursor.empty());
  q.cursor = p1->next_cursor;
  auto p2 = cat.restaurants(q);
  REQUIRE(p2);
  REQUIRE(p2->restaurants.size() == 1);
  CHECK(p2->restaurants[0].name == "Shop 6");
  CHECK(p2->next_cursor.empty());
  restaurants_query other = q;
  other.place = "tainan"; // a taipei cursor is not a tainan one
  CHECK_FALSE(cat.restaurants(other));
  restaurants_query all;
  all.limit = 0; // clamped to 1, never an empty page with a cursor
  auto one = cat.restaurants(all);
  REQUIRE(one);
  CHECK(one->restaurants.size() == 1);
  CHECK(one->restaurants[0].place == "tainan");
  all.limit = 100;
  CHECK(cat.restaurants(all)->restaurants.size() == 7);
}

TEST_CASE("keys: promise records read back, malformed ones do not", "[unit]") {
  auto key = bento::actors::keys::promised_record("r1", "2025-01-16", "soup");
  auto child = key.substr(std::string("r/r1/").size());
  auto p = bento::actors::keys::parse_promise(child, "7");
  REQUIRE(p);
  CHECK(p->day == "2025-01-16");
  CHECK(p->item_id == "soup");
  CHECK(p->units == 7);
  CHECK_FALSE(bento::actors::keys::parse_promise(child, "7x"));
  CHECK_FALSE(bento::actors::keys::parse_promise(child, ""));
  CHECK_FALSE(bento::actors::keys::parse_promise("d/2025-01-16", "7"));
  CHECK_FALSE(bento::actors::keys::parse_promise("i/soup", "7"));
}
