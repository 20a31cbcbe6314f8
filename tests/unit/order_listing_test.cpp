// Order listings against a real store: the status index, the scan budget, cursors, and the fair queue that
// decides which listing runs next.
#include <catch2/catch.hpp>

#include "actors/common/keys.hpp"
#include "actors/order_index/listing_queue.hpp"
#include "actors/order_index/order_listing.hpp"
#include "actors/order_index/order_index_writes.hpp"
#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/ids.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento;
using namespace bento::domain;
using store::column;

namespace {

std::unique_ptr<store::entity_store> open_db(const std::string& path) {
  auto s = store::entity_store::open(store::store_options{path, false, 8u << 20});
  REQUIRE(s);
  return std::move(*s);
}

const principal carl{"u_c", "carl", role::customer};
const principal mia{"u_m", "mia", role::merchant};

order make_order(int i, order_status status, const std::string& date = "2025-01-15") {
  order o;
  o.id = "o" + std::to_string(100000 + i);
  o.customer_id = carl.user_id;
  o.merchant_id = mia.user_id;
  o.date = date;
  o.created_at_ms = 1000 + i;
  o.status = status;
  o.committed = true;
  return o;
}

/// Commits in the shard of order `oid`, as its order actor would: listings merge the shards' indexes.
void commit_for(store::entity_store& db, const std::string& oid, store::write_batch& b) {
  REQUIRE(store::shard_store(db, shard_of(actors::keys::order_entity(oid), db.shard_count())).commit(b));
}

/// The order's record and its index entries in one batch, as its order actor writes them.
void store_order(store::entity_store& db, const order* before, const order& after) {
  store::write_batch b;
  b.put(column::entities, actors::keys::order_record(after.id), codec::encode(after));
  actors::add_index_writes(b, before, after);
  commit_for(db, after.id, b);
}

void write_orders(store::entity_store& db, int from, int to, order_status status,
                  const std::string& date = "2025-01-15") {
  for (int i = from; i < to; ++i)
    store_order(db, nullptr, make_order(i, status, date));
}

std::vector<std::string> ids_of(const order_list& list) {
  std::vector<std::string> out;
  for (auto& o : list.orders)
    out.push_back(o.id);
  return out;
}

} // namespace

TEST_CASE("order listing: a status filter reads only that status's entries, however many others there are",
          "[unit]") {
  test::temp_dir dir;
  auto db = open_db(dir / "db");
  write_orders(*db, 0, 3, order_status::delivered); // the oldest: behind every other order newest-first
  write_orders(*db, 3, 3003, order_status::placed);
  list_orders q;
  q.caller = carl;
  q.status = order_status::delivered;
  // A budget of 10 entries finds all three: the listing never walks past the 3000 placed orders. (Filtering
  // the plain index, as listings did before, looked at 3003 entries for this page.)
  auto page = actors::query_orders(*db, q, 10);
  REQUIRE(page);
  CHECK(ids_of(*page) == std::vector<std::string>{"o100002", "o100001", "o100000"});
  CHECK(page->next_cursor.empty());
  q.caller = mia;
  q.month = "2025-01";
  CHECK(actors::query_orders(*db, q, 10)->orders.size() == 3);
  q.month = "2025-02";
  CHECK(actors::query_orders(*db, q, 10)->orders.empty());
}

TEST_CASE("order listing: a status change moves the order between status entries in the same batch", "[unit]") {
  test::temp_dir dir;
  auto db = open_db(dir / "db");
  auto placed = make_order(1, order_status::placed);
  store_order(*db, nullptr, placed);
  auto delivered = placed;
  delivered.status = order_status::delivered;
  // Only the status entries move: the plain ones name the order, whose record the batch rewrites.
  store::write_batch moved;
  actors::add_index_writes(moved, &placed, delivered);
  CHECK(moved.ops().size() == 4);
  for (auto& op : moved.ops())
    CHECK((op.key.find("/placed/") != std::string::npos || op.key.find("/delivered/") != std::string::npos));
  store_order(*db, &placed, delivered);
  for (auto who : {carl, mia}) {
    list_orders q;
    q.caller = who;
    q.status = order_status::placed;
    CHECK(actors::query_orders(*db, q)->orders.empty());
    q.status = order_status::delivered;
    auto now = actors::query_orders(*db, q);
    REQUIRE(now);
    REQUIRE(now->orders.size() == 1);
    CHECK(now->orders[0].status == order_status::delivered);
    q.status.reset();
    CHECK(actors::query_orders(*db, q)->orders.size() == 1);
  }
  // An intent (not committed) has no entries at all.
  auto intent = make_order(2, order_status::placed);
  intent.committed = false;
  store::write_batch third;
  actors::add_index_writes(third, nullptr, intent);
  CHECK(third.empty());
}

TEST_CASE("order listing: a page stops at its scan budget with a cursor that continues, nothing lost or repeated",
          "[unit]") {
  test::temp_dir dir;
  auto db = open_db(dir / "db");
  write_orders(*db, 0, 25, order_status::placed);
  // Undecodable entries (a future format, a torn manual edit) are looked at, skipped and still counted.
  store::write_batch junk;
  junk.put(column::indexes, actors::keys::customer_orders(carl.user_id) + "2025-01-15/000000000001010/zz", "\xff");
  commit_for(*db, "zz", junk);
  list_orders q;
  q.caller = carl;
  q.limit = 100;
  std::vector<std::string> seen;
  int pages = 0;
  do {
    auto page = actors::query_orders(*db, q, 10);
    REQUIRE(page);
    CHECK(page->orders.size() <= 10);
    for (auto& id : ids_of(*page))
      seen.push_back(id);
    q.cursor = page->next_cursor;
    ++pages;
  } while (!q.cursor.empty() && pages < 20);
  CHECK(pages == 3); // 26 entries, 10 a page
  REQUIRE(seen.size() == 25);
  for (int i = 0; i < 25; ++i)
    CHECK(seen[static_cast<size_t>(i)] == "o" + std::to_string(100024 - i));
}

TEST_CASE("order listing: cursors are checked; a plain-index cursor continues a status listing", "[unit]") {
  test::temp_dir dir;
  auto db = open_db(dir / "db");
  write_orders(*db, 0, 6, order_status::placed);
  list_orders q;
  q.caller = carl;
  q.limit = 2;
  auto p1 = actors::query_orders(*db, q);
  REQUIRE(p1);
  REQUIRE_FALSE(p1->next_cursor.empty());
  // A cursor handed out by a listing without status (or before the status index existed) continues the same
  // position in the status index.
  list_orders by_status = q;
  by_status.status = order_status::placed;
  by_status.cursor = p1->next_cursor;
  auto p2 = actors::query_orders(*db, by_status);
  REQUIRE(p2);
  CHECK(ids_of(*p2) == std::vector<std::string>{"o100003", "o100002"});
  // Someone else's cursor, another status's cursor, garbage: refused.
  list_orders other = q;
  other.caller = principal{"u_x", "x", role::customer};
  other.cursor = p1->next_cursor;
  CHECK_FALSE(actors::query_orders(*db, other));
  list_orders cancelled = by_status;
  cancelled.status = order_status::cancelled;
  cancelled.cursor = p2->next_cursor;
  CHECK_FALSE(actors::query_orders(*db, cancelled));
  list_orders junk = q;
  junk.cursor = "not hex";
  CHECK_FALSE(actors::query_orders(*db, junk));
  list_orders month = q;
  month.month = "2024-12";
  month.cursor = p1->next_cursor;
  CHECK_FALSE(actors::query_orders(*db, month));
}

TEST_CASE("order listing: entries hold nothing of the order, which is read from its record; entries written "
          "with a copy of it list the record too",
          "[unit]") {
  test::temp_dir dir;
  auto db = open_db(dir / "db");
  write_orders(*db, 0, 3, order_status::placed);
  // A placement writes four empty entries and the record; a change of anything but the status none.
  auto o = make_order(1, order_status::placed);
  store::write_batch placing;
  actors::add_index_writes(placing, nullptr, o);
  REQUIRE(placing.ops().size() == 4);
  for (auto& op : placing.ops())
    CHECK(op.value.empty());
  auto noted = o;
  noted.merchant_note = "extra rice";
  store::write_batch edit;
  actors::add_index_writes(edit, &o, noted);
  CHECK(edit.empty());
  // Entries written the earlier way, with a copy of the order in them: the record is what lists (here the
  // copy is stale, as it was after any change made since it was written).
  {
    auto legacy = make_order(7, order_status::placed);
    legacy.merchant_note = "now";
    auto copy = legacy;
    copy.merchant_note = "then";
    store::write_batch old;
    auto lsuffix = actors::keys::order_index_suffix(legacy.date, legacy.created_at_ms, legacy.id);
    old.put(column::entities, actors::keys::order_record(legacy.id), codec::encode(legacy));
    old.put(column::indexes, actors::keys::customer_orders(carl.user_id) + lsuffix, codec::encode(copy));
    old.put(column::indexes, actors::keys::customer_orders_by_status(carl.user_id, "placed") + lsuffix,
            codec::encode(copy));
    commit_for(*db, legacy.id, old);
  }
  for (bool by_status : {false, true}) {
    list_orders q;
    q.caller = carl;
    if (by_status)
      q.status = order_status::placed;
    auto listed = actors::query_orders(*db, q);
    REQUIRE(listed);
    CHECK(ids_of(*listed) == std::vector<std::string>{"o100007", "o100002", "o100001", "o100000"});
    CHECK(listed->orders[0].merchant_note == "now");
    CHECK(listed->orders[2].created_at_ms == o.created_at_ms);
  }
  // An entry whose record is gone, or no longer a committed order, lists nothing.
  {
    store::write_batch gone;
    gone.erase(column::entities, actors::keys::order_record(o.id));
    commit_for(*db, o.id, gone);
    auto uncommitted = make_order(2, order_status::placed);
    uncommitted.committed = false;
    store::write_batch undone;
    undone.put(column::entities, actors::keys::order_record(uncommitted.id), codec::encode(uncommitted));
    commit_for(*db, uncommitted.id, undone);
  }
  list_orders q;
  q.caller = carl;
  CHECK(ids_of(*actors::query_orders(*db, q)) == std::vector<std::string>{"o100007", "o100000"});
  q.status = order_status::placed;
  CHECK(ids_of(*actors::query_orders(*db, q)) == std::vector<std::string>{"o100007", "o100000"});
}

TEST_CASE("order listing: data dirs from before the status index get it once at start", "[unit]") {
  test::temp_dir dir;
  auto db = open_db(dir / "db");
  for (int i = 0; i < 5; ++i) {
    store::write_batch old;
    auto o = make_order(i, i == 0 ? order_status::cancelled : order_status::placed);
    auto suffix = actors::keys::order_index_suffix(o.date, o.created_at_ms, o.id);
    old.put(column::entities, actors::keys::order_record(o.id), codec::encode(o));
    old.put(column::indexes, actors::keys::customer_orders(o.customer_id) + suffix, codec::encode(o));
    old.put(column::indexes, actors::keys::merchant_orders(o.merchant_id) + suffix, codec::encode(o));
    commit_for(*db, o.id, old);
  }
  store::shard_set shards(*db);
  list_orders q;
  q.caller = mia;
  q.status = order_status::cancelled;
  CHECK(actors::query_orders(*db, q)->orders.empty());
  REQUIRE(actors::ensure_status_index(shards));
  REQUIRE(actors::ensure_status_index(shards)); // the second run finds it done
  CHECK(ids_of(*actors::query_orders(*db, q)) == std::vector<std::string>{"o100000"});
  q.caller = carl;
  q.status = order_status::placed;
  CHECK(actors::query_orders(*db, q)->orders.size() == 4);
}

TEST_CASE("listing queue: callers take turns and none holds more than its share of the workers", "[unit]") {
  actors::listing_queue q(actors::listing_queue_policy{10, 4, 1});
  for (uint64_t j = 1; j <= 4; ++j)
    CHECK(q.push("heavy", j) == actors::listing_queue::admission::accepted);
  CHECK(q.push("heavy", 5) == actors::listing_queue::admission::caller_full);
  CHECK(q.push("victim", 100) == actors::listing_queue::admission::accepted);
  auto first = q.next();
  REQUIRE(first);
  CHECK(first->caller == "heavy");
  // Heavy is at its share (one running): the victim goes next although heavy queued first.
  auto second = q.next();
  REQUIRE(second);
  CHECK(second->caller == "victim");
  CHECK(second->job == 100);
  CHECK_FALSE(q.next()); // nothing else may start until heavy's listing ends
  q.finished("heavy");
  auto third = q.next();
  REQUIRE(third);
  CHECK(third->job == 2);
  q.finished("victim");
  q.finished("heavy");
  CHECK(q.running() == 0);
  CHECK(q.queued() == 2);
  for (int i = 0; i < 8; ++i)
    q.push("c" + std::to_string(i), 200 + static_cast<uint64_t>(i));
  CHECK(q.queued() == 10);
  CHECK(q.push("late", 300) == actors::listing_queue::admission::queue_full);
}
