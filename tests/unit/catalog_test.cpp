// The catalog read model over a real store: queries, its event feed, restarts and the rebuild from entity
// records. It keeps nothing in memory, so every test can reopen it on the same store.
#include <catch2/catch.hpp>

#include "actors/catalog/catalog_state.hpp"
#include "actors/common/keys.hpp"
#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/calendar.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento;
using namespace bento::domain;
using namespace bento::actors;

namespace {

const std::string today = "2025-01-15";

std::unique_ptr<store::entity_store> open_db(const std::string& path) {
  auto s = store::entity_store::open(store::store_options{path, false, 8u << 20});
  REQUIRE(s);
  return std::move(*s);
}

/// Commits a batch as the entity owning it would: in that entity's shard.
void commit_as(store::entity_store& db, const std::string& entity, store::write_batch& b) {
  REQUIRE(store::shard_store(db, shard_of(entity, db.shard_count())).commit(b));
}

/// The shard of restaurant r1, where these tests' events go.
shard_id r1_shard(const store::entity_store& db) {
  return shard_of("restaurant/r1", db.shard_count());
}

struct catalog_fixture {
  test::temp_dir dir;
  std::unique_ptr<store::entity_store> db = open_db(dir / "db");
  catalog_state cat{*db};

  catalog_fixture() { REQUIRE(cat.open(today)); }

  /// What a restaurant actor does: commit an event with its batch. The catalog sees it when it catches up.
  void emit(event ev) {
    store::write_batch b;
    auto entity = ev.entity;
    b.append_event(std::move(ev));
    commit_as(*db, entity, b);
  }
};

event restaurant_created(const restaurant& r) {
  return event{0, "restaurant.created", "restaurant/" + r.id, 1, r, r.id};
}

event item_upserted(const menu_item& item) {
  return event{0, "menu.item_upserted", "restaurant/" + item.restaurant_id, 1, item, item.restaurant_id};
}

event levels(const char* type, const std::string& rid, std::vector<stock_level> l) {
  return event{0, type, "restaurant/" + rid, 1, std::move(l), rid};
}

menu_item item_of(const std::string& rid, const std::string& iid, int64_t stock, int64_t daily = 0) {
  menu_item item;
  item.restaurant_id = rid;
  item.id = iid;
  item.name = iid;
  item.stock = stock;
  item.daily_stock = daily;
  item.stock_date = today;
  return item;
}

int64_t shown_stock(const catalog_state& cat, const std::string& text, const std::string& day = {},
                    const std::string& on = today) {
  menu_query q;
  q.text = text;
  q.date = day;
  auto page = cat.query(q, on);
  REQUIRE(page);
  REQUIRE(page->items.size() == 1);
  return page->items[0].item.stock;
}

} // namespace

TEST_CASE("catalog: filters by place, tag, meal and text, and pages with a cursor", "[unit]") {
  catalog_fixture f;
  auto& cat = f.cat;
  REQUIRE(cat.load(restaurant{"r1", "Sea", "taipei", "m", 1, 1}));
  REQUIRE(cat.load(restaurant{"r2", "Land", "tainan", "m", 1, 1}));
  for (int i = 0; i < 5; ++i) {
    menu_item item;
    item.restaurant_id = "r1";
    item.id = "fish" + std::to_string(i);
    item.name = "Fish " + std::to_string(i);
    item.tags = {"seafood"};
    item.meals = {i % 2 ? meal::lunch : meal::dinner};
    REQUIRE(cat.load(item));
  }
  menu_item beef;
  beef.restaurant_id = "r2";
  beef.id = "beef";
  beef.name = "Beef noodles";
  beef.tags = {"meat"};
  REQUIRE(cat.load(beef));
  CHECK(cat.item_count() == 6);
  CHECK(cat.restaurant_count() == 2);

  menu_query q;
  q.place = "taipei";
  q.limit = 2;
  auto p1 = cat.query(q, today);
  REQUIRE(p1);
  CHECK(p1->items.size() == 2);
  CHECK(p1->items[0].restaurant_name == "Sea");
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
  menu_query tainan_with_taipei_cursor;
  tainan_with_taipei_cursor.place = "tainan";
  tainan_with_taipei_cursor.cursor = p1->next_cursor;
  CHECK_FALSE(cat.query(tainan_with_taipei_cursor, today));

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

  f.emit(levels("stock.changed", "r2", {{"beef", 7, today}}));
  REQUIRE(cat.catch_up(today));
  CHECK(cat.query(by_tag, today)->items[0].item.stock == 7);
  menu_item gone;
  gone.restaurant_id = "r2";
  gone.id = "beef";
  f.emit(event{0, "menu.item_deleted", "restaurant/r2", 1, gone, "r2"});
  REQUIRE(cat.catch_up(today));
  CHECK(cat.query(by_tag, today)->items.empty());
  CHECK(cat.item_count() == 5);

  restaurants_query tainan;
  tainan.place = "tainan";
  CHECK(cat.restaurants(tainan)->restaurants.size() == 1);
}

TEST_CASE("catalog: a daily item shows its daily stock less the asked day's used units", "[unit]") {
  catalog_fixture f;
  auto& cat = f.cat;
  REQUIRE(cat.load(restaurant{"r2", "Land", "tainan", "m", 1, 1}));
  // The daily item's own stock field means nothing: only daily_stock and the day's used units count.
  REQUIRE(cat.load(item_of("r2", "soup", 0, 10)));
  REQUIRE(cat.load(item_of("r2", "rice", 4)));
  CHECK(shown_stock(cat, "soup") == 10);
  // stock.promised (today's restaurants) and stock.day_used (per-day usage records) mean the same.
  f.emit(levels("stock.promised", "r2", {{"soup", 3, "2025-01-16"}}));
  f.emit(levels("stock.day_used", "r2", {{"soup", 2, today}}));
  REQUIRE(cat.catch_up(today));
  CHECK(shown_stock(cat, "soup") == 8);
  CHECK(shown_stock(cat, "soup", "2025-01-16") == 7);
  CHECK(shown_stock(cat, "soup", "2025-01-17") == 10);
  CHECK(shown_stock(cat, "soup", {}, "2025-01-16") == 7); // asked on that day: it is today then
  CHECK(shown_stock(cat, "rice", "2025-01-17") == 4);    // a plain item has one stock whatever the day
  f.emit(levels("stock.day_used", "r2", {{"soup", 12, "2025-01-16"}}));
  REQUIRE(cat.catch_up(today));
  CHECK(shown_stock(cat, "soup", "2025-01-16") == 0); // never below zero
  f.emit(levels("stock.promised", "r2", {{"soup", 0, "2025-01-16"}}));
  REQUIRE(cat.catch_up(today));
  CHECK(shown_stock(cat, "soup", "2025-01-16") == 10);
  // stock.changed is a plain item's free units: it never changes what a daily item shows.
  f.emit(levels("stock.changed", "r2", {{"soup", 6, today}}));
  REQUIRE(cat.catch_up(today));
  CHECK(shown_stock(cat, "soup") == 8);
  CHECK(shown_stock(cat, "soup", "2025-01-16") == 10);
  // Used units of days that have passed are dropped when the day changes.
  f.emit(levels("stock.day_used", "r2", {{"soup", 5, "2025-01-20"}}));
  REQUIRE(cat.catch_up(today));
  REQUIRE(cat.catch_up("2025-01-16"));
  CHECK(f.db->get(store::column::catalog, "u/" + today + "/r2/soup")->has_value() == false);
  CHECK(shown_stock(cat, "soup", "2025-01-20", "2025-01-16") == 5);
}

TEST_CASE("catalog: one stock.levels event carries a plain item's free units and a daily item's used units",
          "[unit]") {
  // What a restaurant writes per change since the two kinds share an event (an order changes both).
  catalog_fixture f;
  auto& cat = f.cat;
  REQUIRE(cat.load(restaurant{"r2", "Land", "tainan", "m", 1, 1}));
  REQUIRE(cat.load(item_of("r2", "soup", 0, 10)));
  REQUIRE(cat.load(item_of("r2", "rice", 4)));
  f.emit(levels("stock.levels", "r2", {{"rice", 3, ""}, {"soup", 2, today}, {"soup", 4, "2025-01-16"},
                                       {"rice", 9, "2025-01-16"}, {"ghost", 1, ""}}));
  REQUIRE(cat.catch_up(today));
  CHECK(shown_stock(cat, "rice") == 3);               // free units, whatever the day
  CHECK(shown_stock(cat, "rice", "2025-01-16") == 3); // a plain item's used count changes nothing it shows
  CHECK(shown_stock(cat, "soup") == 8);
  CHECK(shown_stock(cat, "soup", "2025-01-16") == 6);
  // A level without a day never changes a daily item; a used count of zero drops the day's record.
  f.emit(levels("stock.levels", "r2", {{"soup", 1, ""}, {"soup", 0, today}}));
  REQUIRE(cat.catch_up(today));
  CHECK(shown_stock(cat, "soup") == 10);
  CHECK(shown_stock(cat, "soup", "2025-01-16") == 6);
}

TEST_CASE("catalog: a round that changes a key several times stores its last value", "[unit]") {
  // One catch-up round writes each key once (its last value): the earlier steps must not win, whichever way a
  // key went (upserted then deleted, deleted then upserted again, counted up many times).
  catalog_fixture f;
  auto& cat = f.cat;
  f.emit(restaurant_created(restaurant{"r1", "Sea", "taipei", "m", 1, 1}));
  f.emit(item_upserted(item_of("r1", "fish", 3)));
  f.emit(item_upserted(item_of("r1", "crab", 2)));
  for (int used = 1; used <= 30; ++used)
    f.emit(levels("stock.day_used", "r1", {{"fish", used, today}}));
  f.emit(levels("stock.changed", "r1", {{"fish", 2, today}}));
  f.emit(levels("stock.changed", "r1", {{"fish", 1, today}}));
  menu_item gone;
  gone.restaurant_id = "r1";
  gone.id = "crab";
  f.emit(event{0, "menu.item_deleted", "restaurant/r1", 1, gone, "r1"});
  f.emit(item_upserted(item_of("r1", "eel", 5)));
  gone.id = "eel";
  f.emit(event{0, "menu.item_deleted", "restaurant/r1", 1, gone, "r1"});
  f.emit(item_upserted(item_of("r1", "eel", 9)));
  REQUIRE(cat.catch_up(today)); // all of the above in one round
  auto check = [](const catalog_state& c, store::entity_store& db) {
    CHECK(c.item_count() == 2);
    menu_query all;
    all.place = "taipei";
    auto page = c.query(all, today);
    REQUIRE(page);
    REQUIRE(page->items.size() == 2);
    CHECK(page->items[0].item.id == "eel");
    CHECK(page->items[0].item.stock == 9);
    CHECK(page->items[1].item.id == "fish");
    CHECK(page->items[1].item.stock == 1);
    CHECK(db.get(store::column::catalog, "u/" + today + "/r1/fish")->value_or("") == "30");
  };
  check(cat, *f.db);
  catalog_state reopened{*f.db}; // what was stored, not what the first one holds in memory
  REQUIRE(reopened.open(today));
  check(reopened, *f.db);
}

TEST_CASE("catalog: a rare filter over a large place looks at a bounded number of items per page", "[unit]") {
  catalog_fixture f;
  auto& cat = f.cat;
  REQUIRE(cat.load(restaurant{"r1", "Big", "taipei", "u_m", 1, 1}));
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
    REQUIRE(cat.load(item));
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
  catalog_fixture f;
  auto& cat = f.cat;
  for (int i = 0; i < 7; ++i)
    REQUIRE(cat.load(restaurant{"r" + std::to_string(i), "Shop " + std::to_string(6 - i),
                                i % 2 ? "tainan" : "taipei", "u_m", 1, 1}));
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

TEST_CASE("catalog: reopened on the same store it has everything, and replays the events it missed", "[unit]") {
  test::temp_dir dir;
  auto db = open_db(dir / "db");
  auto emit = [&](event ev) {
    store::write_batch b;
    auto entity = ev.entity;
    b.append_event(std::move(ev));
    commit_as(*db, entity, b);
  };
  {
    catalog_state cat(*db);
    REQUIRE(cat.open(today));
    emit(restaurant_created(restaurant{"r1", "Sea", "taipei", "m", 1, 1}));
    emit(item_upserted(item_of("r1", "fish", 3)));
    emit(event{0, "order.placed", "order/o1", 1, order{}, "r1"}); // not the catalog's: skipped, still counted
    REQUIRE(cat.catch_up(today));
    CHECK(cat.applied_seq(r1_shard(*db)) == db->last_event_seq(r1_shard(*db)));
  }
  // Events committed while no catalog runs (a crash after the commit, before the catalog applied them).
  emit(item_upserted(item_of("r1", "crab", 2)));
  emit(levels("stock.changed", "r1", {{"fish", 1, today}}));
  db->resume_event_sequences(); // as after a restart: nothing in the store's memory, events are read back
  catalog_state reopened(*db);
  REQUIRE(reopened.open(today));
  CHECK(reopened.applied_seq(r1_shard(*db)) == db->last_event_seq(r1_shard(*db)));
  CHECK(reopened.restaurant_count() == 1);
  CHECK(reopened.item_count() == 2);
  CHECK(shown_stock(reopened, "fish") == 1);
  CHECK(shown_stock(reopened, "crab") == 2);
}

TEST_CASE("catalog: a data dir without catalog state is built once from the entity records", "[unit]") {
  test::temp_dir dir;
  auto db = open_db(dir / "db");
  // What an older node left: entity records and their events, no catalog column.
  store::write_batch old;
  restaurant r{"r1", "Sea", "taipei", "m", 1, 1};
  old.put(store::column::entities, keys::restaurant_record("r1"), codec::encode(r));
  old.put(store::column::entities, keys::item_record("r1", "fish"), codec::encode(item_of("r1", "fish", 3)));
  old.put(store::column::entities, keys::item_record("r1", "soup"), codec::encode(item_of("r1", "soup", 0, 10)));
  old.put(store::column::entities, keys::promised_record("r1", "2025-01-16", "soup"), "4");
  old.put(store::column::entities, keys::promised_record("r1", "2025-01-10", "soup"), "9"); // a past day
  old.put(store::column::entities, keys::reservation_record("r1", "o1"), "ignored");
  old.append_event(restaurant_created(r));
  commit_as(*db, "restaurant/r1", old);
  auto seq_before = db->last_event_seq(r1_shard(*db));
  {
    catalog_state cat(*db);
    REQUIRE(cat.open(today));
    CHECK(cat.applied_seq(r1_shard(*db)) == seq_before);
    CHECK(cat.restaurant_count() == 1);
    CHECK(cat.item_count() == 2);
    CHECK(shown_stock(cat, "fish") == 3);
    CHECK(shown_stock(cat, "soup", "2025-01-16") == 6);
    CHECK_FALSE(db->get(store::column::catalog, "u/2025-01-10/r1/soup")->has_value());
  }
  // Once built, it is not built again: a later change to the entity records alone (no event) is not seen,
  // while events are.
  store::write_batch silent;
  silent.put(store::column::entities, keys::item_record("r1", "ghost"), codec::encode(item_of("r1", "ghost", 1)));
  commit_as(*db, "restaurant/r1", silent);
  store::write_batch loud;
  loud.append_event(item_upserted(item_of("r1", "crab", 2)));
  commit_as(*db, "restaurant/r1", loud);
  catalog_state again(*db);
  REQUIRE(again.open(today));
  CHECK(again.item_count() == 3);
  menu_query ghost;
  ghost.text = "ghost";
  CHECK(again.query(ghost, today)->items.empty());
}

namespace {

/// A restaurant id whose shard differs from r1's.
std::string other_shard_rid(const store::entity_store& db) {
  for (int k = 2;; ++k) {
    auto rid = "r" + std::to_string(k);
    if (shard_of("restaurant/" + rid, db.shard_count()) != r1_shard(db))
      return rid;
  }
}

/// What installing a snapshot does to r1's shard: its records and events replaced wholesale. The snapshot's
/// sender had pruned its events, so they resume far past what this node's catalog applied.
void install_r1_snapshot(store::entity_store& db, const std::vector<menu_item>& items,
                         const std::vector<std::pair<std::string, int64_t>>& used_tomorrow) {
  auto shard = r1_shard(db);
  auto sp = shard_prefix(shard);
  store::write_batch b;
  b.erase_range(store::column::entities, sp + "r/r1/", sp + "r/r1/\xff"); // its record is put again below
  restaurant r{"r1", "Sea", "taipei", "m", 1, 1};
  b.put(store::column::entities, sp + keys::restaurant_record("r1"), codec::encode(r));
  for (auto& item : items)
    b.put(store::column::entities, sp + keys::item_record("r1", item.id), codec::encode(item));
  for (auto& [iid, units] : used_tomorrow)
    b.put(store::column::entities, sp + keys::promised_record("r1", "2025-01-16", iid), std::to_string(units));
  auto last = db.last_event_seq(shard) + 50;
  b.erase_range(store::column::events, sp, sp + std::string(8, '\xff'));
  event newest{last, "order.placed", "order/o9", 1, order{}, "r1"};
  newest.shard = shard;
  b.put(store::column::events, store::event_key(shard, last), codec::encode(newest));
  REQUIRE(db.commit(b));
  db.resume_event_sequence(shard);
}

} // namespace

TEST_CASE("catalog: a shard whose events have a gap (a snapshot from a replica that pruned them) is rebuilt from "
          "its records; other shards keep theirs",
          "[unit]") {
  catalog_fixture f;
  auto& cat = f.cat;
  auto rid2 = other_shard_rid(*f.db);
  f.emit(restaurant_created(restaurant{"r1", "Sea", "taipei", "m", 1, 1}));
  f.emit(item_upserted(item_of("r1", "fish", 3)));
  f.emit(item_upserted(item_of("r1", "crab", 2)));
  f.emit(item_upserted(item_of("r1", "soup", 0, 10)));
  f.emit(levels("stock.day_used", "r1", {{"soup", 4, "2025-01-16"}}));
  f.emit(restaurant_created(restaurant{rid2, "Hill", "taipei", "m", 1, 1}));
  f.emit(item_upserted(item_of(rid2, "tea", 5)));
  REQUIRE(cat.catch_up(today));
  REQUIRE(cat.item_count() == 4);
  auto other_applied = cat.applied_seq(shard_of("restaurant/" + rid2, f.db->shard_count()));

  // Meanwhile on the leader: fish sold down to 1, crab deleted, eel added, 7 soups used tomorrow; all of those
  // events pruned there before the snapshot was taken.
  auto fish = item_of("r1", "fish", 1);
  auto eel = item_of("r1", "eel", 6);
  install_r1_snapshot(*f.db, {fish, eel, item_of("r1", "soup", 0, 10)}, {{"soup", 7}});
  REQUIRE(cat.catch_up(today));
  CHECK(cat.shard_rebuilds() == 1);
  CHECK(cat.applied_seq(r1_shard(*f.db)) == f.db->last_event_seq(r1_shard(*f.db)));
  CHECK(cat.restaurant_count() == 2);
  CHECK(cat.item_count() == 4); // fish, eel, soup, tea
  CHECK(shown_stock(cat, "fish") == 1);
  CHECK(shown_stock(cat, "eel") == 6);
  CHECK(shown_stock(cat, "soup", "2025-01-16") == 3);
  CHECK(shown_stock(cat, "tea") == 5);
  menu_query crab;
  crab.text = "crab";
  CHECK(cat.query(crab, today)->items.empty());
  CHECK(cat.applied_seq(shard_of("restaurant/" + rid2, f.db->shard_count())) == other_applied);
  restaurants_query all;
  all.place = "taipei";
  CHECK(cat.restaurants(all)->restaurants.size() == 2);

  // After the rebuild the shard's events are replayed as usual, and a reopened catalog agrees.
  f.emit(item_upserted(item_of("r1", "eel", 2)));
  REQUIRE(cat.catch_up(today));
  CHECK(shown_stock(cat, "eel") == 2);
  CHECK(cat.shard_rebuilds() == 1);
  catalog_state reopened(*f.db);
  REQUIRE(reopened.open(today));
  CHECK(reopened.shard_rebuilds() == 0);
  CHECK(reopened.item_count() == 4);
  CHECK(shown_stock(reopened, "eel") == 2);
}

TEST_CASE("catalog: a shard rebuild that a crash cut short is done again at the next open", "[unit]") {
  test::temp_dir dir;
  auto db = open_db(dir / "db");
  {
    catalog_state cat(*db);
    REQUIRE(cat.open(today));
    store::write_batch b;
    restaurant r{"r1", "Sea", "taipei", "m", 1, 1};
    b.put(store::column::entities, keys::restaurant_record("r1"), codec::encode(r));
    b.put(store::column::entities, keys::item_record("r1", "fish"), codec::encode(item_of("r1", "fish", 3)));
    b.append_event(restaurant_created(r));
    b.append_event(item_upserted(item_of("r1", "fish", 3)));
    b.append_event(item_upserted(item_of("r1", "crab", 2))); // a record the snapshot below no longer has
    commit_as(*db, "restaurant/r1", b);
    REQUIRE(cat.catch_up(today));
    REQUIRE(cat.item_count() == 2);
  }
  // The snapshot landed and the rebuild began (its mark is written first), then the process died.
  install_r1_snapshot(*db, {item_of("r1", "fish", 1)}, {});
  store::write_batch mark;
  mark.put(store::column::catalog, "m/rebuilding/" + std::to_string(r1_shard(*db)), "1");
  REQUIRE(db->commit(mark));
  catalog_state reopened(*db);
  REQUIRE(reopened.open(today));
  CHECK(reopened.shard_rebuilds() == 1);
  CHECK(reopened.item_count() == 1);
  CHECK(shown_stock(reopened, "fish") == 1);
  CHECK_FALSE(db->get(store::column::catalog, "m/rebuilding/" + std::to_string(r1_shard(*db)))->has_value());
}

TEST_CASE("catalog: events it applied are pruned past the retention, those it has not read are kept", "[unit]") {
  catalog_fixture f;
  auto& cat = f.cat;
  auto shard = r1_shard(*f.db);
  f.emit(restaurant_created(restaurant{"r1", "Sea", "taipei", "m", 1, 1}));
  f.emit(item_upserted(item_of("r1", "fish", 3)));
  f.emit(item_upserted(item_of("r1", "crab", 2)));
  REQUIRE(cat.catch_up(today));
  auto applied = cat.applied_seq(shard);
  // Written, not yet read: pruning must leave them (and the catalog must not take their absence for a gap).
  f.emit(item_upserted(item_of("r1", "eel", 4)));
  f.emit(levels("stock.changed", "r1", {{"fish", 1, today}}));
  auto pruned = cat.prune_events(now_ms() + 1000, 1000);
  REQUIRE(pruned);
  CHECK(*pruned == applied - 1);
  CHECK(cat.events_pruned() == applied - 1);
  CHECK(f.db->first_event_seq(shard) == applied);
  // Too recent: nothing goes.
  CHECK(*cat.prune_events(0, 1000) == 0);
  REQUIRE(cat.catch_up(today));
  CHECK(cat.shard_rebuilds() == 0);
  CHECK(shown_stock(cat, "eel") == 4);
  CHECK(shown_stock(cat, "fish") == 1);
  CHECK(cat.item_count() == 3);
}
