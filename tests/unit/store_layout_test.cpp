// The data dir's layout: formed with a shard count that cannot change, and a data dir written before shards
// moved behind its shards' prefixes (records and events), in a way a crash part-way can resume.
#include <catch2/catch.hpp>

#include "actors/common/keys.hpp"
#include "actors/order/order_recovery.hpp"
#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"
#include "actors/store/store_layout.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento;
using namespace bento::domain;
using store::column;
namespace keys = bento::actors::keys;

namespace {

std::unique_ptr<store::entity_store> open_db(const std::string& path, shard_id shards = 64) {
  auto s = store::entity_store::open(store::store_options{path, false, 8u << 20, shards});
  REQUIRE(s);
  return std::move(*s);
}

std::string old_event_key(uint64_t seq) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i, seq >>= 8)
    key[static_cast<size_t>(i)] = static_cast<char>(seq & 0xff);
  return key;
}

} // namespace

TEST_CASE("store layout: the shard count is fixed when the data dir is formed", "[unit]") {
  test::temp_dir dir;
  {
    auto db = open_db(dir / "db", 16);
    REQUIRE(actors::ensure_store_layout(*db));
    REQUIRE(actors::ensure_store_layout(*db)); // again: nothing to do
  }
  auto db = open_db(dir / "db", 32);
  auto refused = actors::ensure_store_layout(*db);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::invalid_argument);
  CHECK(refused.error().message.find("16 shards") != std::string::npos);
}

TEST_CASE("store layout: a data dir of the layout before stock records is taken as it is, and marked so that "
          "a binary of that layout refuses it", "[unit]") {
  test::temp_dir dir;
  {
    auto db = open_db(dir / "db", 16);
    store::write_batch before;
    before.put(column::meta, "store.layout", "sharded/1");
    before.put(column::meta, "store.shards", "16");
    before.put(column::entities, "\x01/r/r_1/i/tea", "item record");
    REQUIRE(db->commit(before));
  }
  auto db = open_db(dir / "db", 16);
  REQUIRE(actors::ensure_store_layout(*db));
  CHECK(db->get(column::meta, "store.layout")->value_or("") == "sharded/2");
  CHECK(db->get(column::entities, "\x01/r/r_1/i/tea")->value_or("") == "item record");
  REQUIRE(actors::ensure_store_layout(*db)); // again: nothing to do
  store::write_batch newer;
  newer.put(column::meta, "store.layout", "sharded/3");
  REQUIRE(db->commit(newer));
  auto refused = actors::ensure_store_layout(*db);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("newer version") != std::string::npos);
}

TEST_CASE("store layout: records and events of the unsharded layout move behind their shards' prefixes",
          "[unit]") {
  test::temp_dir dir;
  order o;
  o.id = "o_1";
  o.customer_id = "u_c";
  o.merchant_id = "u_m";
  o.committed = true;
  {
    auto db = open_db(dir / "db");
    // What an earlier version left: plain keys, one node-wide event sequence with 8-byte keys.
    store::write_batch old;
    old.put(column::entities, "u/carl", "user record");
    old.put(column::entities, "u/mia/r/r_1", "ok");
    old.put(column::entities, "r/r_1", "restaurant record");
    old.put(column::entities, "r/r_1/i/tea", "item record");
    old.put(column::entities, keys::order_record("o_1"), codec::encode(o));
    old.put(column::indexes, "oc/u_c/2025-01-15/000000000001000/o_1", "snapshot");
    old.put(column::indexes, keys::pending_order("o_1"), "");
    old.put(column::indexes, "uid/u_c", "carl");
    old.put(column::catalog, "m/applied/local", "3");
    event a{0, "user.registered", "user/carl", 1, {}, {}};
    event b{0, "order.placed", "order/o_1", 1, o, "r_1"};
    old.put(column::events, old_event_key(1), codec::encode(a));
    old.put(column::events, old_event_key(2), codec::encode(b));
    old.put(column::events, old_event_key(3), codec::encode(a));
    REQUIRE(db->commit(old));
  }
  auto db = open_db(dir / "db");
  REQUIRE(actors::ensure_store_layout(*db));
  store::shard_set shards(*db);
  auto read = [&](const std::string& entity, column cf, const std::string& key) {
    auto v = shards.of_entity(entity).get(cf, key);
    REQUIRE(v);
    return v->value_or("<missing>");
  };
  CHECK(read("user/carl", column::entities, "u/carl") == "user record");
  CHECK(read("user/mia", column::entities, "u/mia/r/r_1") == "ok");
  CHECK(read("restaurant/r_1", column::entities, "r/r_1/i/tea") == "item record");
  CHECK(read("order/o_1", column::entities, keys::order_record("o_1")) == codec::encode(o));
  CHECK(read("order/o_1", column::indexes, "oc/u_c/2025-01-15/000000000001000/o_1") == "snapshot");
  CHECK(read("user/carl", column::indexes, "uid/u_c") == "carl");
  auto pending = actors::interrupted_orders(*db);
  REQUIRE(pending);
  CHECK(*pending == std::vector<std::string>{"o_1"});
  // Events are renumbered in their shards' sequences, in their old order.
  auto carl = shard_of("user/carl", db->shard_count());
  auto order_shard = shard_of("order/o_1", db->shard_count());
  CHECK(db->last_event_seq(carl) == (carl == order_shard ? 3 : 2));
  CHECK(db->last_event_seq(order_shard) >= 1);
  std::vector<std::string> types;
  REQUIRE(db->scan_events(carl, 0, 10, [&](const event& ev) {
    types.push_back(ev.type);
    return true;
  }));
  CHECK(types.front() == "user.registered");
  // The catalog read model of the old numbering is gone (it rebuilds from the entities).
  auto catalog = db->get(column::catalog, "m/applied/local");
  REQUIRE(catalog);
  CHECK_FALSE(catalog->has_value());
  // New events go on after the migrated ones.
  store::write_batch more;
  more.append_event(event{0, "user.updated", "user/carl", 1, {}, {}});
  REQUIRE(shards.of(carl).commit(more));
  CHECK(db->last_event_seq(carl) == (carl == order_shard ? 4 : 3));
}

TEST_CASE("store layout: a migration cut short resumes without losing or doubling anything", "[unit]") {
  test::temp_dir dir;
  auto db = open_db(dir / "db", 8);
  // Half-migrated: one record already behind its prefix, one still plain; no layout mark yet.
  store::write_batch state;
  auto moved_shard = shard_of("user/ann", 8);
  state.put(column::entities, shard_prefix(moved_shard) + "u/ann", "ann");
  state.put(column::entities, "u/bob", "bob");
  REQUIRE(db->commit(state));
  REQUIRE(actors::ensure_store_layout(*db));
  store::shard_set shards(*db);
  CHECK(shards.of_entity("user/ann").get(column::entities, "u/ann")->value_or("") == "ann");
  CHECK(shards.of_entity("user/bob").get(column::entities, "u/bob")->value_or("") == "bob");
  size_t records = 0;
  REQUIRE(db->scan(column::entities, "", {}, [&](std::string_view, std::string_view) {
    ++records;
    return true;
  }));
  CHECK(records == 2);
}
