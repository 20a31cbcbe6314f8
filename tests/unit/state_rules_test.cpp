// The entity rules without CAF: restaurant stock, order life cycle, user throttle. (Catalog: catalog_test.cpp.)
#include <catch2/catch.hpp>

#include "actors/common/keys.hpp"
#include "actors/order/order_state.hpp"
#include "actors/restaurant/restaurant_state.hpp"
#include "protocol/codec/entity_codec.hpp"
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
    REQUIRE(st.upsert_item(upsert_menu_item{merchant, "r1", id, in}));
  }
  return st;
}


/// Units of an item the reservations in memory hold (all of them, in these tests).
int64_t held_of(const restaurant_state& st, const std::string& item_id) {
  int64_t units = 0;
  for (auto& [oid, r] : st.reservations())
    for (auto& l : r.lines)
      if (l.item_id == item_id)
        units += l.qty;
  return units;
}

int64_t stock_of(const restaurant_state& st, const std::string& id) {
  return st.items().at(id).stock;
}

set_reservation hold(const char* oid, std::vector<order_line> lines, uint64_t seq, std::string day = {}) {
  return set_reservation{"r1", oid, std::move(lines), std::nullopt, std::move(day), seq};
}

} // namespace

TEST_CASE("restaurant: reserves all items or none", "[unit]") {
  auto st = restaurant_with({{"a", 5}, {"b", 1}});
  auto r = st.reserve(hold("o1", {{"a", "", 0, 3}, {"b", "", 0, 2}}, 1), today);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::out_of_stock);
  CHECK(r.error().item_id == "b");
  CHECK(stock_of(st, "a") == 5);
  CHECK(stock_of(st, "b") == 1);
  auto ok = st.reserve(hold("o1", {{"a", "", 0, 3}, {"b", "", 0, 1}}, 1), today);
  REQUIRE(ok);
  CHECK(stock_of(st, "a") == 2);
  CHECK(stock_of(st, "b") == 0);
  CHECK(ok->value.lines.size() == 2);
  CHECK(ok->value.lines[0].price_cents == 100);
}

TEST_CASE("restaurant: a change applied once is answered again, an older one is refused", "[unit]") {
  auto st = restaurant_with({{"a", 5}});
  REQUIRE(st.reserve(hold("o1", {{"a", "", 0, 2}}, 1), today));
  auto again = st.reserve(hold("o1", {{"a", "", 0, 2}}, 1), today);
  REQUIRE(again);
  CHECK(again->change.empty());
  CHECK(stock_of(st, "a") == 3);
  // Raising takes more; lowering gives back; empty releases everything but remembers the change number.
  REQUIRE(st.reserve(hold("o1", {{"a", "", 0, 3}}, 2), today));
  CHECK(stock_of(st, "a") == 2);
  REQUIRE(st.reserve(hold("o1", {{"a", "", 0, 1}}, 3), today));
  CHECK(stock_of(st, "a") == 4);
  auto released = st.reserve(hold("o1", {}, 4), today);
  REQUIRE(released);
  CHECK(stock_of(st, "a") == 5);
  CHECK(st.reservations().at("o1").lines.empty());
  CHECK(held_of(st, "a") == 0);
  // A late copy of the placement (change 1) cannot take the units again.
  auto late = st.reserve(hold("o1", {{"a", "", 0, 2}}, 1), today);
  REQUIRE_FALSE(late);
  CHECK(late.error().code == errc::superseded);
  CHECK(stock_of(st, "a") == 5);
}

TEST_CASE("restaurant: the last unit goes to exactly one order", "[unit]") {
  auto st = restaurant_with({{"a", 1}});
  CHECK(st.reserve(hold("o1", {{"a", "", 0, 1}}, 1), today));
  auto second = st.reserve(hold("o2", {{"a", "", 0, 1}}, 1), today);
  REQUIRE_FALSE(second);
  CHECK(second.error().code == errc::out_of_stock);
}

TEST_CASE("restaurant: duplicate lines add up before the stock check", "[unit]") {
  auto st = restaurant_with({{"a", 3}});
  auto r = st.reserve(hold("o1", {{"a", "", 0, 2}, {"a", "", 0, 2}}, 1), today);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::out_of_stock);
}

TEST_CASE("restaurant: unknown items, meals and owners are refused", "[unit]") {
  auto st = restaurant_with({{"a", 3}});
  auto unknown = st.reserve(hold("o1", {{"zzz", "", 0, 1}}, 1), today);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == errc::invalid_argument);
  menu_item_input lunch_only;
  lunch_only.name = "Bento";
  lunch_only.stock = 3;
  lunch_only.meals = {meal::lunch};
  REQUIRE(st.upsert_item(upsert_menu_item{merchant, "r1", "l", lunch_only}));
  auto wrong_meal = st.reserve(set_reservation{"r1", "o1", {{"l", "", 0, 1}}, meal::breakfast, {}, 1}, today);
  REQUIRE_FALSE(wrong_meal);
  CHECK(wrong_meal.error().code == errc::meal_unavailable);
  auto not_owner = st.upsert_item(upsert_menu_item{other_merchant, "r1", "x", lunch_only});
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
    REQUIRE(st.upsert_item(upsert_menu_item{merchant, "r1", "i" + std::to_string(i), in}));
  auto one_more = st.upsert_item(upsert_menu_item{merchant, "r1", "extra", in});
  REQUIRE_FALSE(one_more);
  CHECK(one_more.error().code == errc::invalid_argument);
  in.stock = 5;
  CHECK(st.upsert_item(upsert_menu_item{merchant, "r1", "i0", in}));
  REQUIRE(st.delete_item(delete_menu_item{merchant, "r1", "i1"}));
  CHECK(st.upsert_item(upsert_menu_item{merchant, "r1", "extra", in}));
}

TEST_CASE("restaurant: a daily item offers its daily stock on each day, less what that day's orders use",
          "[unit]") {
  restaurant_state st;
  REQUIRE(st.create(create_restaurant{merchant, "r1", "Mia's", "taipei"}, 1));
  menu_item_input in;
  in.name = "Soup";
  in.daily_stock = 10;
  REQUIRE(st.upsert_item(upsert_menu_item{merchant, "r1", "soup", in}));
  menu_item_input plain;
  plain.name = "Tea";
  plain.stock = 5;
  REQUIRE(st.upsert_item(upsert_menu_item{merchant, "r1", "tea", plain}));
  const std::string tomorrow = "2025-01-16", day_after = "2025-01-17";
  auto soup_on = [&](const std::string& day, const std::string& now) { return st.menu(now, day).items.at(0).stock; };

  REQUIRE(st.reserve(hold("o1", {{"soup", "", 0, 4}}, 1, tomorrow), today));
  CHECK(soup_on(today, today) == 10); // today's stock is untouched
  CHECK(soup_on(tomorrow, today) == 6);
  auto too_many = st.reserve(hold("o2", {{"soup", "", 0, 7}}, 1, tomorrow), today);
  REQUIRE_FALSE(too_many);
  CHECK(too_many.error().code == errc::out_of_stock);
  REQUIRE(st.reserve(hold("o2", {{"soup", "", 0, 6}}, 1, tomorrow), today));
  CHECK_FALSE(st.reserve(hold("o3", {{"soup", "", 0, 1}}, 1, tomorrow), today));
  REQUIRE(st.reserve(hold("o4", {{"soup", "", 0, 10}}, 1, today), today));
  CHECK(soup_on(today, today) == 0);
  REQUIRE(st.reserve(hold("o1", {}, 2, tomorrow), today)); // cancelled: its units go back to tomorrow
  CHECK(st.used(tomorrow, "soup") == 6);
  CHECK(soup_on(tomorrow, today) == 4);
  CHECK(st.menu(today, tomorrow).items.at(1).stock == 5); // a plain item: the one stock

  // Tomorrow the same count holds: never more than 10 in all, however the day was reached.
  st.advance_day(tomorrow);
  CHECK(soup_on(tomorrow, tomorrow) == 4);
  CHECK_FALSE(st.reserve(hold("o5", {{"soup", "", 0, 5}}, 1, tomorrow), tomorrow));
  REQUIRE(st.reserve(hold("o5", {{"soup", "", 0, 4}}, 1, tomorrow), tomorrow));
  CHECK(soup_on(tomorrow, tomorrow) == 0);
  REQUIRE(st.reserve(hold("o2", {{"soup", "", 0, 5}}, 2), tomorrow)); // an edit keeps the order's day
  CHECK(soup_on(tomorrow, tomorrow) == 1);
  CHECK(st.used().count(today) == 0); // a closed day's counts are forgotten

  // The day after, o2's day has passed: it cannot grow, and cancelling it gives nothing to the new day.
  st.advance_day(day_after);
  auto late = st.reserve(hold("o2", {{"soup", "", 0, 6}}, 3), day_after);
  REQUIRE_FALSE(late);
  CHECK(late.error().code == errc::invalid_argument);
  REQUIRE(st.reserve(hold("o2", {}, 3), day_after));
  CHECK(soup_on(day_after, day_after) == 10);
  // A malformed day from a peer is refused.
  auto bad_day = st.reserve(hold("o9", {{"soup", "", 0, 1}}, 1, "someday"), day_after);
  REQUIRE_FALSE(bad_day);
  CHECK(bad_day.error().code == errc::invalid_argument);
  // A day cannot be swapped under an existing reservation.
  REQUIRE(st.reserve(hold("o6", {{"soup", "", 0, 1}}, 1, day_after), day_after));
  CHECK_FALSE(st.reserve(hold("o6", {{"soup", "", 0, 1}}, 2, "2025-01-20"), day_after));

  // A plain item has one stock whatever the order's day.
  REQUIRE(st.reserve(hold("o7", {{"tea", "", 0, 3}}, 1, "2025-01-20"), day_after));
  CHECK(stock_of(st, "tea") == 2);
  CHECK_FALSE(st.reserve(hold("o8", {{"tea", "", 0, 3}}, 1, day_after), day_after));
}

TEST_CASE("restaurant: an order may keep an item deleted from the menu", "[unit]") {
  auto st = restaurant_with({{"a", 5}, {"b", 5}});
  REQUIRE(st.reserve(hold("o1", {{"a", "", 0, 2}, {"b", "", 0, 1}}, 1), today));
  REQUIRE(st.delete_item(delete_menu_item{merchant, "r1", "a"}));
  auto keep = st.reserve(hold("o1", {{"a", "", 0, 2}, {"b", "", 0, 2}}, 2), today);
  REQUIRE(keep);
  CHECK(keep->value.lines.at(0).name == "a"); // from the order's own line
  CHECK(stock_of(st, "b") == 3);
  CHECK_FALSE(st.reserve(hold("o1", {{"a", "", 0, 3}}, 3), today));
  REQUIRE(st.reserve(hold("o1", {{"a", "", 0, 1}}, 3), today)); // shrinking is always granted
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

const restaurant mias{"r1", "Mia's", "taipei", merchant.user_id, 1, 1};

order_state placed_order() {
  order_state st;
  auto d = st.begin_place(placement(), 1736901000000);
  REQUIRE(d);
  st.commit(d->order);
  st.commit(st.applied(reservation_result{mias, {{"a", "A", 150, 2}, {"b", "B", 50, 1}}}, 1736901000001));
  return st;
}

} // namespace

TEST_CASE("order: placement computes totals and replays with the same key", "[unit]") {
  auto st = placed_order();
  auto& o = *st.current();
  CHECK(o.total_cents == 350);
  CHECK(o.merchant_id == merchant.user_id);
  CHECK(o.status == order_status::placed);
  CHECK_FALSE(o.intent);
  CHECK(o.reservation_seq == 1);
  auto again = st.begin_place(placement(), 1736901000002);
  REQUIRE(again);
  CHECK(again->replay);
  auto changed = placement();
  changed.lines = {{"a", 3}};
  auto mismatch = st.begin_place(changed, 1736901000003);
  REQUIRE_FALSE(mismatch);
  CHECK(mismatch.error().code == errc::idempotency_mismatch);
}

TEST_CASE("order: an idle order is held encoded only, and reads back the same", "[unit]") {
  order_state st;
  auto d = st.begin_place(placement(), 1736901000000);
  REQUIRE(d);
  st.commit(d->order, bento::codec::encode(d->order));
  st.shrink(); // a change in flight stays decoded
  CHECK(st.decoded());
  CHECK(st.has_intent());
  auto done = st.applied(reservation_result{mias, {{"a", "A", 150, 2}, {"b", "B", 50, 1}}}, 1736901000001);
  auto bytes = bento::codec::encode(done);
  st.commit(done, bytes);
  st.shrink();
  CHECK_FALSE(st.decoded());
  CHECK(st.exists());
  CHECK_FALSE(st.has_intent()); // answered without decoding
  CHECK_FALSE(st.unsettled());
  CHECK_FALSE(st.decoded());
  auto read = st.read(customer);
  REQUIRE(read);
  CHECK(st.decoded());
  CHECK(bento::codec::encode(*read) == bytes);
  CHECK(read->total_cents == 350);
  CHECK(read->lines.size() == done.lines.size());
  // A change to the encoded order works as on the decoded one.
  st.shrink();
  auto confirm = st.plan_transition(transition_order{merchant, done.id, order_action::confirm}, 1736901000002);
  REQUIRE(confirm);
  CHECK(confirm->next.status == order_status::confirmed);
  CHECK(confirm->next.version == done.version + 1);
  // Without its bytes, the order stays decoded (nothing to stand for it).
  st.commit(confirm->next);
  st.shrink();
  CHECK(st.decoded());
  CHECK(st.current()->status == order_status::confirmed);
  st.reset();
  CHECK_FALSE(st.exists());
  CHECK(st.current() == nullptr);
}

TEST_CASE("order: an idle order the store holds keeps nothing, and reads back the same", "[unit]") {
  order_state st;
  st.shrink(true); // nothing to release: no order appears
  CHECK_FALSE(st.exists());
  CHECK_FALSE(st.released());
  auto d = st.begin_place(placement(), 1736901000000);
  REQUIRE(d);
  st.commit(d->order, bento::codec::encode(d->order));
  st.shrink(true); // a change in flight is never released
  CHECK_FALSE(st.released());
  CHECK(st.has_intent());
  auto done = st.applied(reservation_result{mias, {{"a", "A", 150, 2}, {"b", "B", 50, 1}}}, 1736901000001);
  auto bytes = bento::codec::encode(done);
  st.commit(done, bytes);
  st.shrink(true);
  CHECK(st.released());
  CHECK_FALSE(st.decoded());
  CHECK(st.exists()); // answered without the record
  CHECK_FALSE(st.has_intent());
  CHECK_FALSE(st.unsettled());
  st.reload(bytes); // what the store gives back
  CHECK_FALSE(st.released());
  auto read = st.read(customer);
  REQUIRE(read);
  CHECK(bento::codec::encode(*read) == bytes);
  // Released straight from its decoded form (a record committed without bytes) works the same.
  st.commit(done);
  st.shrink(true);
  CHECK(st.released());
  st.reload(bytes);
  auto confirm = st.plan_transition(transition_order{merchant, done.id, order_action::confirm}, 1736901000002);
  REQUIRE(confirm);
  CHECK(confirm->next.version == done.version + 1);
  st.commit(confirm->next, bento::codec::encode(confirm->next)); // a new record is held again
  CHECK_FALSE(st.released());
  CHECK(st.current()->status == order_status::confirmed);
  st.shrink(true);
  st.reset();
  CHECK_FALSE(st.exists());
  CHECK_FALSE(st.released());
}

TEST_CASE("order: a placement that did not happen leaves its change numbers for the retry", "[unit]") {
  order_state st;
  auto d = st.begin_place(placement(), 1736901000000);
  REQUIRE(d);
  CHECK(d->order.intent->seq == 1);
  st.commit(d->order);
  // The restaurant never applied it (and fenced change 1 off when asked).
  settle_result r;
  r.held.info = mias;
  st.commit(st.settled(r, 1736901000005));
  CHECK_FALSE(st.current()->committed);
  CHECK_FALSE(st.current()->intent);
  CHECK(st.read(customer).error().code == errc::not_found);
  auto retry = st.begin_place(placement(), 1736901000006);
  REQUIRE(retry);
  CHECK_FALSE(retry->replay);
  CHECK(retry->order.intent->seq == 2);
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
  CHECK_FALSE(confirm->next.intent);
  st.commit(confirm->next);
  auto customer_cancel = st.plan_transition(transition_order{customer, "o1", order_action::cancel}, 3);
  CHECK(customer_cancel.error().code == errc::invalid_transition);
  auto merchant_cancel = st.plan_transition(transition_order{merchant, "o1", order_action::cancel}, 3);
  REQUIRE(merchant_cancel);
  REQUIRE(merchant_cancel->next.intent);
  CHECK(merchant_cancel->next.intent->kind == intent_kind::cancel);
  CHECK(merchant_cancel->next.status == order_status::confirmed); // until the restaurant has released
  auto deliver = st.plan_transition(transition_order{merchant, "o1", order_action::deliver}, 3);
  REQUIRE(deliver);
  CHECK(deliver->next.status == order_status::delivered);
  REQUIRE(deliver->next.intent);
  CHECK(deliver->next.intent->kind == intent_kind::deliver);
  st.commit(deliver->next);
  CHECK(st.finalize_request().seq == deliver->next.intent->seq);
  CHECK(st.plan_transition(transition_order{merchant, "o1", order_action::cancel}, 4).error().code
        == errc::invalid_transition);
}

TEST_CASE("order: merchants change quantities of what was ordered, keep prices and the customer's note",
          "[unit]") {
  auto st = placed_order();
  edit_order cmd{merchant, "o1", std::vector<line_request>{{"a", 1}}, std::string("no onions left")};
  auto next = st.plan_edit(cmd, 5);
  REQUIRE(next);
  REQUIRE(next->intent);
  CHECK(next->intent->lines.size() == 1); // b dropped
  st.commit(*next);
  auto done = st.applied(reservation_result{mias, {{"a", "A", 999, 1}}}, 6);
  CHECK(done.lines.size() == 1);
  CHECK(done.lines[0].price_cents == 150); // kept from placement
  CHECK(done.total_cents == 150);
  CHECK(done.merchant_note == "no onions left");
  CHECK(done.note.empty()); // the customer's stays theirs

  auto fresh = placed_order();
  auto added = fresh.plan_edit(edit_order{merchant, "o1", std::vector<line_request>{{"caviar", 1000}}, {}}, 5);
  REQUIRE_FALSE(added);
  CHECK(added.error().code == errc::invalid_argument);
  auto note_only = fresh.plan_edit(edit_order{merchant, "o1", std::nullopt, std::string("ready at 12")}, 5);
  REQUIRE(note_only);
  CHECK_FALSE(note_only->intent);
  CHECK(note_only->merchant_note == "ready at 12");
  CHECK(fresh.plan_edit(edit_order{customer, "o1", {}, std::string("x")}, 5).error().code == errc::forbidden);
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
