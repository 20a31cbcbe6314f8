// Plain domain rules: calendar, validation, ids, codec round trips.
#include <catch2/catch.hpp>

#include "bento/v1/entities.pb.h"

#include "protocol/codec/command_codec.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/calendar.hpp"
#include "protocol/domain/ids.hpp"
#include "protocol/domain/validation.hpp"

using namespace bento::domain;

TEST_CASE("calendar: validates dates strictly", "[unit]") {
  CHECK(is_valid_date("2024-02-29"));
  CHECK_FALSE(is_valid_date("2023-02-29"));
  CHECK_FALSE(is_valid_date("2024-13-01"));
  CHECK_FALSE(is_valid_date("2024-1-01"));
  CHECK_FALSE(is_valid_date("2024-01-01x"));
  CHECK_FALSE(is_valid_date("abcd-ef-gh"));
  CHECK(is_valid_month("2024-12"));
  CHECK_FALSE(is_valid_month("2024-00"));
  CHECK(add_days("2024-02-28", 1) == "2024-02-29");
  CHECK(add_days("2024-12-31", 1) == "2025-01-01");
  CHECK(add_days("2025-03-01", -1) == "2025-02-28");
}

TEST_CASE("calendar: picks the next meal slot in the configured zone", "[unit]") {
  REQUIRE(set_time_zone("Asia/Taipei"));
  // 2025-01-15 00:30 UTC = 08:30 in Taipei (UTC+8): breakfast the same day.
  int64_t t = 1736901000000;
  auto slot = next_meal_slot(t);
  CHECK(slot.meal == meal::breakfast);
  CHECK(slot.date == "2025-01-15");
  // 12:30 UTC = 20:30 Taipei: after dinner, tomorrow's breakfast.
  slot = next_meal_slot(t + 12 * 3600 * 1000LL);
  CHECK(slot.meal == meal::breakfast);
  CHECK(slot.date == "2025-01-16");
  // 04:30 UTC = 12:30 Taipei: lunch.
  CHECK(next_meal_slot(t + 4 * 3600 * 1000LL).meal == meal::lunch);
  CHECK(next_meal_slot(t + 8 * 3600 * 1000LL).meal == meal::dinner);
}

TEST_CASE("calendar: today's date follows the second asked and the zone set, however often it is asked",
          "[unit]") {
  // local_date remembers the last second it formatted (per thread): a remembered date must never outlive its
  // second or its zone.
  REQUIRE(set_time_zone("Asia/Taipei"));
  int64_t before_midnight = 1736956799000; // 2025-01-15 23:59:59 Taipei (15:59:59 UTC)
  for (int i = 0; i < 3; ++i) {
    CHECK(local_date(before_midnight) == "2025-01-15");
    CHECK(local_date(before_midnight + 999) == "2025-01-15");
    CHECK(local_date(before_midnight + 1000) == "2025-01-16"); // the next second is the next day
  }
  CHECK(local_date(before_midnight + 1000) == "2025-01-16");
  CHECK(local_date(before_midnight) == "2025-01-15"); // back in time: formatted again
  REQUIRE(set_time_zone("UTC"));
  CHECK(local_date(before_midnight) == "2025-01-15"); // 15:59:59 UTC
  CHECK(local_date(before_midnight + 9 * 3600 * 1000LL) == "2025-01-16");
  REQUIRE(set_time_zone("America/Los_Angeles"));
  CHECK(local_date(before_midnight + 9 * 3600 * 1000LL) == "2025-01-15"); // same second, another zone
  REQUIRE(set_time_zone("Asia/Taipei"));
  CHECK(local_date(before_midnight + 9 * 3600 * 1000LL) == "2025-01-16");
}

TEST_CASE("calendar: refuses unknown or hostile zone names", "[unit]") {
  CHECK_FALSE(set_time_zone("Mars/Olympus"));
  CHECK_FALSE(set_time_zone("../../etc/passwd"));
  CHECK_FALSE(set_time_zone(""));
  CHECK(set_time_zone("Asia/Taipei"));
}

TEST_CASE("validation: usernames, passwords and emails", "[unit]") {
  CHECK_FALSE(check_username("alice_01.x-y"));
  CHECK(check_username("al"));
  CHECK(check_username("Alice"));
  CHECK(check_username(std::string(33, 'a')));
  CHECK(check_username("al ice"));
  CHECK_FALSE(check_password("12345678"));
  CHECK(check_password("1234567"));
  CHECK(check_password(std::string(129, 'x')));
  CHECK_FALSE(check_password(std::string(40, 'x') + "\xe4\xbd\xa0")); // multi-byte counts as one
  CHECK(check_password("abcdefg\xff"));                                 // invalid UTF-8
  CHECK_FALSE(check_email("a@b.co"));
  CHECK(check_email("ab.co"));
  CHECK(check_email("a@b"));
  CHECK(check_email("a@@b.co"));
  CHECK(check_email("a b@c.co"));
}

TEST_CASE("validation: menu items and order lines", "[unit]") {
  menu_item_input in;
  in.name = "Katsu";
  in.price_cents = 100;
  in.stock = 5;
  CHECK_FALSE(check_menu_item(in));
  auto bad = in;
  bad.price_cents = -1;
  CHECK(check_menu_item(bad));
  bad = in;
  bad.name = "   ";
  CHECK(check_menu_item(bad));
  bad = in;
  bad.tags = {"Sea Food"};
  CHECK(check_menu_item(bad));
  bad = in;
  bad.meals = {meal::lunch, meal::lunch};
  CHECK(check_menu_item(bad));
  bad = in;
  bad.image_url = "javascript:alert(1)";
  CHECK(check_menu_item(bad));
  CHECK(check_lines({}));
  CHECK(check_lines({{"a", 0}}));
  CHECK(check_lines({{"a", 1001}}));
  CHECK(check_lines({{"a/b", 1}}));
  CHECK_FALSE(check_lines({{"a", 1000}}));
}

TEST_CASE("ids: keyed order ids are stable per customer and key", "[unit]") {
  auto a = order_id_for_key("u_1", "key");
  CHECK(a == order_id_for_key("u_1", "key"));
  CHECK(a != order_id_for_key("u_2", "key"));
  CHECK(a != order_id_for_key("u_1", "key2"));
  CHECK_FALSE(check_id("order id", a));
  CHECK(random_id("r_") != random_id("r_"));
  std::string back;
  REQUIRE(from_hex(to_hex(std::string("\x00\xff", 2)), back));
  CHECK(back == std::string("\x00\xff", 2));
  CHECK_FALSE(from_hex("zz", back));
}

TEST_CASE("codec: entities survive a round trip", "[unit]") {
  order o;
  o.id = "o_1";
  o.customer_id = "u_1";
  o.lines = {{"katsu", "Katsu", 1200, 2}};
  o.total_cents = 2400;
  o.meal = meal::dinner;
  o.status = order_status::confirmed;
  o.intent = order_intent{intent_kind::edit, 7, {{"katsu", "", 0, 1}}, std::string("no onions")};
  o.reservation_seq = 7;
  o.merchant_note = "out of miso";
  o.committed = true;
  order back;
  REQUIRE(bento::codec::decode(bento::codec::encode(o), back));
  CHECK(back.lines.size() == 1);
  CHECK(back.lines[0].qty == 2);
  CHECK(back.meal == meal::dinner);
  CHECK(back.status == order_status::confirmed);
  REQUIRE(back.intent.has_value());
  CHECK(back.intent->kind == intent_kind::edit);
  CHECK(back.intent->seq == 7);
  CHECK(back.intent->lines.size() == 1);
  CHECK(back.intent->merchant_note == std::optional<std::string>("no onions"));
  CHECK(back.reservation_seq == 7);
  CHECK(back.merchant_note == "out of miso");
  o.intent.reset();
  REQUIRE(bento::codec::decode(bento::codec::encode(o), back));
  CHECK_FALSE(back.intent.has_value());
  CHECK_FALSE(back.refused.has_value());
  // A keyed placement's refusal is kept with its record; a code that is no outright refusal is not trusted.
  o.refused = fail(errc::out_of_stock, "katsu: 0 left", "katsu");
  REQUIRE(bento::codec::decode(bento::codec::encode(o), back));
  REQUIRE(back.refused.has_value());
  CHECK(back.refused->code == errc::out_of_stock);
  CHECK(back.refused->message == "katsu: 0 left");
  CHECK(back.refused->item_id == "katsu");
  o.refused = fail(errc::outcome_unknown, "not a refusal");
  REQUIRE(bento::codec::decode(bento::codec::encode(o), back));
  CHECK_FALSE(back.refused.has_value());
  o.refused.reset();

  // An intent written by an earlier version (lines only) still reads as one, of the kind it must have been.
  bento::v1::Order legacy;
  legacy.set_id("o_2");
  legacy.set_committed(true);
  legacy.mutable_pending(); // no lines: a cancellation
  REQUIRE(bento::codec::decode(legacy.SerializeAsString(), back));
  REQUIRE(back.intent.has_value());
  CHECK(back.intent->kind == intent_kind::cancel);
  CHECK(back.intent->seq == 0);
  legacy.set_committed(false);
  legacy.mutable_pending()->add_lines()->set_item_id("katsu");
  REQUIRE(bento::codec::decode(legacy.SerializeAsString(), back));
  CHECK(back.intent->kind == intent_kind::place);

  menu_item i;
  i.id = "x";
  i.tags = {"a", "b"};
  i.meals = {meal::breakfast, meal::dinner};
  event ev{7, "menu.item_upserted", "restaurant/r", 1, i, "r"};
  event ev_back;
  REQUIRE(bento::codec::decode(bento::codec::encode(ev), ev_back));
  REQUIRE(std::holds_alternative<menu_item>(ev_back.payload));
  CHECK(std::get<menu_item>(ev_back.payload).meals.size() == 2);
  CHECK(ev_back.seq == 7);

  reservation r{"o_1", "2025-01-15", {{"katsu", "Katsu", 1200, 2}}, "2025-01-17", 4, {{"katsu", 9, 1}}};
  reservation r_back;
  REQUIRE(bento::codec::decode(bento::codec::encode(r), r_back));
  CHECK(r_back.date == "2025-01-17");
  CHECK(r_back.seq == 4);
  REQUIRE(r_back.holds.size() == 1);
  CHECK(r_back.holds[0].generation == 9);
  CHECK(r_back.holds[0].frozen == 1);
  restaurant_meta meta{"2025-01-16", 42}, meta_back;
  REQUIRE(bento::codec::decode(bento::codec::encode(meta), meta_back));
  CHECK(meta_back.last_today == "2025-01-16");
  CHECK(meta_back.last_version == 42);
  menu_item gen;
  gen.generation = 5;
  menu_item gen_back;
  REQUIRE(bento::codec::decode(bento::codec::encode(gen), gen_back));
  CHECK(gen_back.generation == 5);
  r.date.clear(); // a record from before reservations kept their day: its day is the one it was taken on
  REQUIRE(bento::codec::decode(bento::codec::encode(r), r_back));
  CHECK(r_back.date == "2025-01-15");
  set_reservation cmd{"r_1", "o_1", {{"katsu", "", 0, 1}}, meal::lunch, "2025-01-17", 3};
  set_reservation cmd_back;
  REQUIRE(bento::codec::decode(bento::codec::encode(cmd), cmd_back));
  CHECK(cmd_back.date == "2025-01-17");
  CHECK(cmd_back.seq == 3);
  settle_reservation settle{"r_1", "o_1", 3, "2025-01-17"}, settle_back;
  REQUIRE(bento::codec::decode(bento::codec::encode(settle), settle_back));
  CHECK(settle_back.seq == 3);
  CHECK(settle_back.date == "2025-01-17");
  settle_result settled, settled_back;
  settled.applied = true;
  settled.held.lines = {{"katsu", "Katsu", 1200, 1}};
  REQUIRE(bento::codec::decode(bento::codec::encode(settled), settled_back));
  CHECK(settled_back.applied);
  CHECK(settled_back.restaurant_exists);
  CHECK(settled_back.held.lines.size() == 1);
  patch_menu_item patch;
  patch.price_cents = 900;
  patch.tags = std::vector<std::string>{};
  patch.if_match = 12;
  patch_menu_item patch_back;
  REQUIRE(bento::codec::decode(bento::codec::encode(patch), patch_back));
  CHECK(patch_back.price_cents == std::optional<int64_t>(900));
  CHECK_FALSE(patch_back.name.has_value());
  REQUIRE(patch_back.tags.has_value()); // "no tags" is not "unchanged"
  CHECK(patch_back.tags->empty());
  CHECK_FALSE(patch_back.meals.has_value());
  CHECK(patch_back.if_match == std::optional<uint64_t>(12));
}

TEST_CASE("codec: garbage does not decode", "[unit]") {
  order o;
  CHECK_FALSE(bento::codec::decode(std::string("\xff\xff\xff\xff", 4), o));
}

TEST_CASE("codec: commands keep their optional fields across the wire", "[unit]") {
  place_order cmd;
  cmd.caller = principal{"u_1", "carl", role::customer};
  cmd.order_id = "o_1";
  cmd.restaurant_id = "r_1";
  cmd.lines = {{"a", 2}, {"b", 1}};
  cmd.for_meal = meal::dinner;
  cmd.idempotency_key = "k";
  cmd.fresh_id = true;
  place_order back;
  REQUIRE(bento::codec::decode(bento::codec::encode(cmd), back));
  CHECK_FALSE(back.fresh_id); // only this node's edge vouches that a command was never delivered before
  CHECK(back.caller.username == "carl");
  CHECK(back.lines.size() == 2);
  CHECK(back.for_meal == std::optional<meal>(meal::dinner));
  CHECK_FALSE(back.date.has_value());
  CHECK(back.idempotency_key == "k");

  edit_order edit{principal{"u_m", "mia", role::merchant}, "o_1", std::nullopt, std::string("")};
  edit_order edit_back;
  REQUIRE(bento::codec::decode(bento::codec::encode(edit), edit_back));
  CHECK_FALSE(edit_back.lines.has_value());
  REQUIRE(edit_back.merchant_note.has_value());
  CHECK(edit_back.merchant_note->empty());
  edit.lines = std::vector<line_request>{};
  REQUIRE(bento::codec::decode(bento::codec::encode(edit), edit_back));
  CHECK(edit_back.lines.has_value());

  list_orders q;
  q.status = order_status::cancelled;
  q.limit = 7;
  list_orders q_back;
  REQUIRE(bento::codec::decode(bento::codec::encode(q), q_back));
  CHECK(q_back.status == std::optional<order_status>(order_status::cancelled));
  CHECK_FALSE(q_back.month.has_value());
  CHECK(q_back.limit == 7);
}

TEST_CASE("codec: replies and failures round trip; unknown codes are not trusted", "[unit]") {
  catalog_page page;
  page.items.push_back(catalog_entry{"Mia's", menu_item{}});
  page.items[0].item.id = "katsu";
  page.next_cursor = "ab";
  menu_page back;
  REQUIRE(bento::codec::decode(bento::codec::encode(menu_page(page)), back));
  REQUIRE(back.items().size() == 1);
  CHECK(back.items()[0].item.id == "katsu");
  CHECK(back.next_cursor() == "ab");

  failure f{errc::out_of_stock, "no", "katsu"};
  failure f_back;
  REQUIRE(bento::codec::decode(bento::codec::encode(f), f_back));
  CHECK(f_back.code == errc::out_of_stock);
  CHECK(f_back.item_id == "katsu");
  failure hostile;
  std::string bytes = "\x08\xc8\x01"; // field 1 (code) = 200
  REQUIRE(bento::codec::decode(bytes, hostile));
  CHECK(hostile.code == errc::outcome_unknown);
  place_order garbage;
  CHECK_FALSE(bento::codec::decode(std::string("\xff\xff\xff", 3), garbage));
}
