// Issue 6, parts 2 and 3, at the rules: menu edits while orders hold stock (kind switches, delete and
// re-create, restating stock, the morning after) and "today" moving backwards. Each case is a sequence the
// review found to oversell or to lose units; each checks the day never sells more than its daily stock and
// that a plain item's free units plus what orders hold equal what the merchant declared.
#include <catch2/catch.hpp>

#include "actors/restaurant/restaurant_records.hpp"
#include "actors/restaurant/restaurant_state.hpp"
#include "protocol/codec/entity_codec.hpp"

using namespace bento::domain;
using namespace bento::actors;

namespace {

const principal merchant{"u_m", "mia", role::merchant};
const std::string today = "2025-01-15", tomorrow = "2025-01-16";

struct rules {
  restaurant_state st;
  std::map<std::string, std::string> kv; // the records, to reload from as a restart would

  rules() { apply(st.create(create_restaurant{merchant, "r1", "Mia's", "taipei"}, 1)->change); }

  void apply(const restaurant_change& change) {
    for (auto& op : records_of(st, change)) {
      if (op.value)
        kv[op.key] = *op.value;
      else
        kv.erase(op.key);
    }
  }

  void restart() {
    restaurant_state fresh;
    for (auto& [key, value] : kv)
      REQUIRE(load_record(fresh, "r1", key, value));
    CHECK(fresh.finish_load().empty());
    st = std::move(fresh);
  }

  menu_item put(const std::string& iid, int64_t stock, int64_t daily, std::optional<uint64_t> if_match = {}) {
    menu_item_input in;
    in.name = iid;
    in.price_cents = 100;
    in.stock = stock;
    in.daily_stock = daily;
    auto r = st.upsert_item(upsert_menu_item{merchant, "r1", iid, in, if_match});
    REQUIRE(r);
    apply(r->change);
    return r->value.item;
  }

  outcome<reservation_result> hold(const std::string& oid, const std::string& iid, int32_t qty, uint64_t seq,
                                   const std::string& day, const std::string& now = today) {
    apply(st.advance_day(now));
    std::vector<order_line> lines;
    if (qty > 0)
      lines.push_back(order_line{iid, {}, 0, qty});
    auto r = st.reserve(set_reservation{"r1", oid, lines, std::nullopt, day, seq}, now);
    if (!r)
      return r.error();
    apply(r->change);
    return r->value;
  }

  int64_t offered(const std::string& iid, const std::string& day, const std::string& now = today) const {
    for (auto& i : st.menu(now, day).items)
      if (i.id == iid)
        return i.stock;
    return -1;
  }

  void remove(const std::string& iid) {
    auto r = st.delete_item(delete_menu_item{merchant, "r1", iid, std::nullopt});
    REQUIRE(r);
    apply(*r);
  }
};

} // namespace

TEST_CASE("stock rules: a plain item switched to daily counts what orders already hold for each day", "[unit]") {
  rules r;
  r.put("soup", 20, 0);
  REQUIRE(r.hold("o1", "soup", 8, 1, tomorrow));
  r.put("soup", 0, 10); // now a daily item of 10
  CHECK(r.offered("soup", tomorrow) == 2); // was 10: the 8 held were forgotten
  CHECK_FALSE(r.hold("o2", "soup", 3, 1, tomorrow));
  REQUIRE(r.hold("o2", "soup", 2, 1, tomorrow));
  REQUIRE(r.hold("o1", "soup", 0, 2, tomorrow)); // cancelled
  CHECK(r.offered("soup", tomorrow) == 8);
  CHECK(r.st.used(tomorrow, "soup") == 2); // at most 10 held for the day, whatever happens
}

TEST_CASE("stock rules: deleting and re-creating a daily item cannot sell a day twice", "[unit]") {
  rules r;
  r.put("soup", 0, 10);
  REQUIRE(r.hold("o1", "soup", 6, 1, tomorrow));
  r.remove("soup");
  r.put("soup", 0, 10);
  CHECK(r.offered("soup", tomorrow) == 4); // was 10: the delete had dropped every promise
  REQUIRE(r.hold("o2", "soup", 4, 1, tomorrow));
  REQUIRE(r.hold("o1", "soup", 0, 2, tomorrow)); // the old order cancels
  CHECK(r.offered("soup", tomorrow) == 6);
  CHECK(r.st.used(tomorrow, "soup") == 4);
}

TEST_CASE("stock rules: a re-created plain item offers what the merchant declares, not an old order's units",
          "[unit]") {
  rules r;
  r.put("tea", 7, 0);
  REQUIRE(r.hold("o1", "tea", 2, 1, today));
  r.remove("tea");
  r.put("tea", 5, 0);
  REQUIRE(r.hold("o1", "tea", 0, 2, today)); // cancelling the old order credits nothing to the new pool
  CHECK(r.offered("tea", today) == 5);       // was 7 (5 declared, 7 offered)
  // Shrinking an order that holds units of both declarations gives back only the new pool's.
  REQUIRE(r.hold("o3", "tea", 2, 1, today));
  CHECK(r.offered("tea", today) == 3);
  r.put("tea", 3, 4); // to daily and back to plain: a new declaration of 6 free
  r.put("tea", 6, 0);
  REQUIRE(r.hold("o3", "tea", 4, 2, today)); // +2 from the new pool
  CHECK(r.offered("tea", today) == 4);
  REQUIRE(r.hold("o3", "tea", 1, 3, today)); // -3: the 2 frozen go first, then 1 back to the pool
  CHECK(r.offered("tea", today) == 5);
  CHECK(r.offered("tea", today) + r.st.held_in_pool("tea") == 6);
}

TEST_CASE("stock rules: daily to plain to daily keeps a live order's units counted, and only while it lives",
          "[unit]") {
  rules r;
  r.put("soup", 0, 10);
  REQUIRE(r.hold("o1", "soup", 6, 1, tomorrow));
  r.put("soup", 5, 0);
  r.put("soup", 0, 10);
  CHECK(r.offered("soup", tomorrow) == 4); // o1 still holds 6 for tomorrow
  r.put("soup", 5, 0);
  REQUIRE(r.hold("o1", "soup", 0, 2, tomorrow)); // cancelled while plain: nothing goes to the plain pool
  CHECK(r.offered("soup", today) == 5);
  r.put("soup", 0, 10);
  CHECK(r.offered("soup", tomorrow) == 10); // was 4: a stale promise made 6 units unsellable
}

TEST_CASE("stock rules: a stale PUT is refused, a PATCH leaves stock alone, versions survive deletes", "[unit]") {
  rules r;
  auto read = r.put("tea", 10, 0);
  REQUIRE(r.hold("o1", "tea", 4, 1, today)); // sold since the merchant read version `read.version`
  menu_item_input in;
  in.name = "Tea";
  in.price_cents = 120;
  in.stock = 10;
  auto stale = r.st.upsert_item(upsert_menu_item{merchant, "r1", "tea", in, read.version});
  REQUIRE_FALSE(stale);
  CHECK(stale.error().code == errc::precondition_failed);
  CHECK(r.offered("tea", today) == 6); // was 10 offered + 4 held
  patch_menu_item price;
  price.caller = merchant;
  price.restaurant_id = "r1";
  price.item_id = "tea";
  price.price_cents = 150;
  price.if_match = r.st.items().at("tea").version;
  auto patched = r.st.patch_item(price);
  REQUIRE(patched);
  r.apply(patched->change);
  CHECK(patched->value.item.price_cents == 150);
  CHECK(r.offered("tea", today) == 6);
  CHECK(patched->value.item.version > read.version);
  // A daily item's stock is not the merchant's to state item by item.
  patch_menu_item restock = price;
  restock.price_cents.reset();
  restock.if_match.reset();
  restock.daily_stock = 10;
  restock.stock = 3;
  auto refused = r.st.patch_item(restock);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::invalid_argument);
  // Switching a daily item to plain needs its free units.
  r.put("soup", 0, 10);
  patch_menu_item to_plain;
  to_plain.caller = merchant;
  to_plain.restaurant_id = "r1";
  to_plain.item_id = "soup";
  to_plain.daily_stock = 0;
  CHECK(r.st.patch_item(to_plain).error().code == errc::invalid_argument);
  // If-None-Match: * creates only; a version read before a delete never matches the re-created item.
  auto create_only = r.st.upsert_item(upsert_menu_item{merchant, "r1", "tea", in, std::nullopt, true});
  CHECK(create_only.error().code == errc::precondition_failed);
  auto before_delete = r.st.items().at("tea").version;
  r.remove("tea");
  r.restart();
  auto again = r.put("tea", 1, 0);
  CHECK(again.version > before_delete);
  CHECK(r.st.upsert_item(upsert_menu_item{merchant, "r1", "tea", in, before_delete}).error().code
        == errc::precondition_failed);
}

TEST_CASE("stock rules: saving a daily item's original body the morning after brings nothing back", "[unit]") {
  rules r;
  r.put("soup", 10, 10);
  REQUIRE(r.hold("o1", "soup", 4, 1, tomorrow)); // a promise for tomorrow
  CHECK(r.offered("soup", tomorrow, tomorrow) == 6);
  r.put("soup", 10, 10); // the morning after, the merchant saves the item as first written
  CHECK(r.offered("soup", tomorrow, tomorrow) == 6); // was 10 (+4 held = 14 of 10)
  CHECK_FALSE(r.hold("o2", "soup", 7, 1, tomorrow, tomorrow));
}

TEST_CASE("stock rules: a clock stepped back never reopens a day nor moves a day's units", "[unit]") {
  rules r;
  r.put("soup", 0, 10);
  REQUIRE(r.hold("o1", "soup", 10, 1, tomorrow, tomorrow)); // tomorrow comes and sells out
  // NTP steps the clock back across midnight (or BENTO_TZ moves west across a restart): "today" reads as
  // the day before. Orders for that day are refused (it has passed), and the sold-out day stays sold out.
  r.restart();
  CHECK(r.st.meta().last_today == tomorrow);
  auto back = r.hold("o2", "soup", 3, 1, today, today);
  REQUIRE_FALSE(back);
  CHECK(back.error().code == errc::invalid_argument);
  CHECK_FALSE(r.hold("o3", "soup", 1, 1, tomorrow, today));
  CHECK(r.offered("soup", {}, today) == 0); // the menu shows the latest day seen, not the one before
  // A later day is its own: promises for it are judged against its own count, whatever day the node thought.
  REQUIRE(r.hold("o4", "soup", 10, 1, "2025-01-17", today));
  CHECK(r.offered("soup", "2025-01-17", "2025-01-17") == 0);
  CHECK(r.st.used(tomorrow, "soup") == 10);
  auto regressed = r.st.advance_day(today);
  CHECK(regressed.clock_regressed);
}

TEST_CASE("stock rules: records of the earlier stock format load as the same stock", "[unit]") {
  // Before per-day counts: a daily item kept today's units in its record (stock, stock_date) and counted
  // promises for later days only; plain items counted nothing per day.
  rules r;
  restaurant_state legacy;
  std::map<std::string, std::string> kv;
  kv["r/r1"] = bento::codec::encode(restaurant{"r1", "Mia's", "taipei", merchant.user_id, 1, 1});
  menu_item soup;
  soup.restaurant_id = "r1";
  soup.id = "soup";
  soup.name = "Soup";
  soup.daily_stock = 10;
  soup.stock = 7; // 3 taken today
  soup.stock_date = today;
  soup.version = 4;
  kv["r/r1/i/soup"] = bento::codec::encode(soup);
  menu_item tea = soup;
  tea.id = "tea";
  tea.daily_stock = 0;
  tea.stock = 5;
  tea.stock_date.clear();
  kv["r/r1/i/tea"] = bento::codec::encode(tea);
  kv["r/r1/d/" + tomorrow + "/soup"] = "2"; // promised for tomorrow
  kv["r/r1/v/o1"] = bento::codec::encode(reservation{"o1", today, {{"tea", "Tea", 100, 2}}, tomorrow});
  for (auto& [key, value] : kv)
    REQUIRE(load_record(legacy, "r1", key, value));
  auto upgrade = legacy.finish_load();
  CHECK(upgrade.meta_changed);
  CHECK(legacy.menu(today, today).items.at(0).stock == 7);
  CHECK(legacy.menu(today, tomorrow).items.at(0).stock == 8);
  CHECK(legacy.used(tomorrow, "tea") == 2); // a plain item's hold now counts for its day
  // Switch tea to daily: tomorrow counts the 2 the old order holds.
  menu_item_input in;
  in.name = "Tea";
  in.daily_stock = 3;
  auto switched = legacy.upsert_item(upsert_menu_item{merchant, "r1", "tea", in});
  REQUIRE(switched);
  CHECK(legacy.menu(today, tomorrow).items.at(1).stock == 1);
  CHECK(legacy.held_in_pool("tea") == 0);
}

TEST_CASE("stock rules: a change fenced off by settling stays 'not applied' however often it is settled", "[unit]") {
  rules r;
  r.put("rice", 5, 0);
  auto settle = [&](uint64_t seq) {
    auto s = r.st.settle(settle_reservation{"r1", "o1", seq, today}, today);
    r.apply(s.change);
    return s.value;
  };
  // Order o1's placement (change 1) never reached the restaurant: settling fences it off.
  CHECK_FALSE(settle(1).applied);
  // Settled again (two settles in flight after a failover, a retry): still not applied. It used to say
  // "applied" with no lines, and the order rolled forward to a placed order with nothing in it.
  auto again = settle(1);
  CHECK_FALSE(again.applied);
  CHECK(again.held.lines.empty());
  r.restart();
  CHECK_FALSE(settle(1).applied);
  // A late copy of the fenced change is refused; the next change number goes through and settles as applied.
  CHECK_FALSE(r.hold("o1", "rice", 1, 1, today));
  REQUIRE(r.hold("o1", "rice", 2, 2, today));
  CHECK(settle(2).applied);
  CHECK(r.offered("rice", today) == 3);
}

TEST_CASE("stock rules: records of the layout without a tombstone index are indexed once, then read on demand",
          "[unit]") {
  rules r;
  r.put("rice", 5, 0);
  REQUIRE(r.hold("o1", "rice", 2, 1, today));
  REQUIRE(r.hold("o2", "rice", 1, 1, today));
  REQUIRE(r.hold("o2", "rice", 0, 2, today)); // o2 cancelled: a tombstone for today
  // Written by the previous version: no index, a meta without a layout.
  for (auto it = r.kv.begin(); it != r.kv.end();)
    it = it->first.rfind("r/r1/t/", 0) == 0 ? r.kv.erase(it) : std::next(it);
  restaurant_meta old_meta;
  REQUIRE(bento::codec::decode(r.kv.at("r/r1/m"), old_meta));
  old_meta.records_layout = 0;
  r.kv["r/r1/m"] = bento::codec::encode(old_meta);

  record_reader reader;
  reader.get = [&](const std::string& key) -> outcome<std::optional<std::string>> {
    auto it = r.kv.find(key);
    return it == r.kv.end() ? std::optional<std::string>() : std::optional<std::string>(it->second);
  };
  reader.scan = [&](const std::string& prefix,
                    const std::function<bool(std::string_view, std::string_view)>& visit) -> outcome<unit_t> {
    for (auto it = r.kv.lower_bound(prefix); it != r.kv.end() && it->first.rfind(prefix, 0) == 0; ++it)
      if (!visit(it->first, it->second))
        break;
    return unit;
  };
  restaurant_state old;
  auto loaded = load_restaurant(old, "r1", reader);
  REQUIRE(loaded);
  REQUIRE_FALSE(*loaded);
  CHECK(old.reservations().size() == 2); // the old layout: every record read once
  auto upgrade = old.finish_load();
  CHECK(upgrade.meta_changed);
  REQUIRE(upgrade.tombstones_put.size() == 1);
  CHECK(upgrade.tombstones_put[0] == std::make_pair(today, std::string("o2")));
  r.st = std::move(old);
  r.apply(upgrade);
  CHECK(r.kv.count("r/r1/t/" + today + "/o2"));

  // From now on an activation reads no reservation; an order's record comes when a command needs it.
  restaurant_state fresh;
  REQUIRE(load_restaurant(fresh, "r1", reader));
  CHECK(fresh.reservations().empty());
  CHECK(fresh.finish_load().empty());
  CHECK_FALSE(fresh.reservation_known("o1"));
  REQUIRE(fetch_reservation(fresh, "r1", "o1", reader));
  REQUIRE(fresh.reservation_known("o1"));
  CHECK(fresh.reservations().at("o1").lines.at(0).qty == 2);
  REQUIRE(fetch_reservation(fresh, "r1", "o9", reader));
  CHECK_FALSE(fresh.reservation_known("o9")); // not stored: nothing to keep

  // The next day, the sweep forgets o2's tombstone and its entry, a batch at a time.
  r.st = std::move(fresh);
  r.apply(r.st.advance_day(tomorrow));
  restaurant_change sweep;
  bool more = true;
  REQUIRE(sweep_tombstones(r.st, "r1", reader, 10, sweep, more));
  CHECK_FALSE(more);
  CHECK(sweep.reservations_erased == std::vector<std::string>{"o2"});
  r.apply(sweep);
  CHECK_FALSE(r.kv.count("r/r1/v/o2"));
  CHECK_FALSE(r.kv.count("r/r1/t/" + today + "/o2"));
  CHECK(r.kv.count("r/r1/v/o1")); // live orders stay
}

TEST_CASE("stock rules: an order writes its items' short stock records, a menu edit folds them back; all reload",
          "[unit]") {
  rules r;
  r.put("tea", 10, 0);
  auto item_record = r.kv.at("r/r1/i/tea");
  REQUIRE(r.hold("o1", "tea", 3, 1, today));
  CHECK(r.kv.at("r/r1/i/tea") == item_record); // the order did not rewrite the item's description
  REQUIRE(r.kv.count("r/r1/s/tea") == 1);
  auto version = r.st.items().at("tea").version;
  r.restart();
  CHECK(r.offered("tea", today) == 7);
  CHECK(r.st.items().at("tea").version == version);
  // A price change keeps the stock: the item record now holds the 7 left, and the stock record is gone.
  patch_menu_item price{merchant, "r1", "tea"};
  price.price_cents = 120;
  auto patched = r.st.patch_item(price);
  REQUIRE(patched);
  CHECK(patched->value.item.version > version); // versions keep rising across the reload
  r.apply(patched->change);
  CHECK(r.kv.count("r/r1/s/tea") == 0);
  REQUIRE(r.hold("o2", "tea", 2, 1, today));
  r.restart();
  CHECK(r.offered("tea", today) == 5);
  CHECK(r.offered("tea", today) + r.st.held_in_pool("tea") == 10);
  CHECK(r.st.items().at("tea").price_cents == 120);
  r.remove("tea");
  CHECK(r.kv.count("r/r1/s/tea") == 0);
  CHECK(r.kv.count("r/r1/i/tea") == 0);
  // A stock record that does not parse is reported, like any other record.
  restaurant_state st;
  for (auto bad : {"7", "x:1", "7:", ":1", "7:1:2", "7 :1"})
    CHECK_FALSE(load_record(st, "r1", "r/r1/s/tea", bad));
  CHECK_FALSE(load_record(st, "r1", "r/r1/s/", "7:1"));
}
