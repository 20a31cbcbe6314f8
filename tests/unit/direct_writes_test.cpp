// A lone leader handed to a driver: entity writes are queued and written in groups (cluster/shard/direct_writes).
// Over a real RocksDB; the driver's rounds (flush) are called by hand.
#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "actors/store/shard_store.hpp"
#include "cluster/shard/shard_replica.hpp"
#include "tests/support/shard_test_support.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_store.hpp"

using namespace bento;
using namespace bento::cluster;
using store::column;

namespace {

/// A lone leader of `shard`, with a driver that counts its wake-ups (the test runs its rounds).
struct lone {
  std::unique_ptr<store::entity_store> db;
  std::unique_ptr<store::shard_store> shard;
  std::unique_ptr<shard::shard_replica> replica;
  int wakes = 0;

  lone(const test::temp_dir& dir, domain::shard_id id) : db(test::open_test_store(dir / "db")) {
    shard = std::make_unique<store::shard_store>(*db, id);
    consensus::membership alone;
    alone.voters = {7};
    auto r = shard::shard_replica::open(*shard, id, test::replica_options_for(7, 0), alone);
    REQUIRE(r);
    replica = std::move(*r);
    REQUIRE(replica->campaign_alone());
    replica->defer_to([this] { ++wakes; });
  }
  bool stored(uint64_t i) {
    auto v = shard->get(column::entities, "o/o" + std::to_string(i));
    REQUIRE(v);
    return v->has_value();
  }
  uint64_t writes() const { return static_cast<uint64_t>(db->stats().at("writes")); }
  /// An entity's write in `epoch` (queued while a driver writes).
  domain::outcome<domain::unit_t> write(store::write_batch b, uint64_t epoch) { return replica->commit(b, epoch); }
};

store::write_batch plain_batch(uint64_t i) {
  store::write_batch b;
  b.put(column::entities, "o/o" + std::to_string(i), "order " + std::to_string(i));
  return b;
}

} // namespace

TEST_CASE("direct writes: a lone leader's entity writes wait in a queue and go in one write per driver round; "
          "their marks say when",
          "[unit]") {
  test::temp_dir dir;
  lone l(dir, 2);
  auto epoch = l.replica->epoch();
  for (uint64_t i = 0; i < 50; ++i) {
    REQUIRE(l.write(test::order_batch(i), epoch));
  }
  CHECK(l.wakes == 50);
  CHECK_FALSE(l.stored(0)); // queued, not written: nobody may be answered yet
  auto mark = l.replica->mark(epoch);
  CHECK(mark.direct);
  CHECK(mark.index == 50);
  CHECK_FALSE(l.replica->committed(mark));
  CHECK_FALSE(l.replica->landed(mark));
  std::optional<bool> told;
  l.replica->when_committed(mark, [&](bool ok) { told = ok; });
  CHECK_FALSE(told);

  auto before = l.writes();
  l.replica->flush(); // the driver's round
  CHECK(l.writes() - before == 1); // fifty batches, one RocksDB write
  REQUIRE(told);
  CHECK(*told);
  CHECK(l.replica->committed(mark));
  CHECK(l.stored(0));
  CHECK(l.stored(49));
  CHECK(l.db->last_event_seq(2) == 50); // events numbered when written, in order
  CHECK(l.replica->mark(epoch).index == 0);

  // A writer without an epoch (cluster metadata) finds its write made when commit returns, after what was
  // queued before it.
  REQUIRE(l.write(test::order_batch(50), epoch));
  auto meta = plain_batch(51);
  REQUIRE(l.replica->commit(meta));
  CHECK(l.stored(50));
  CHECK(l.stored(51));
}

TEST_CASE("direct writes: the epoch ends only after what was queued in it is written, and nothing is queued for "
          "an ended epoch",
          "[unit]") {
  test::temp_dir dir;
  lone l(dir, 2);
  auto epoch = l.replica->epoch();
  REQUIRE(l.write(test::order_batch(1), epoch));
  auto mark = l.replica->mark(epoch);
  l.replica->revoke(); // the lease lapsed (or the lead moved): no driver round came in between
  CHECK(l.stored(1));
  CHECK(l.replica->committed(mark));
  CHECK(l.replica->epoch() != epoch);
  auto refused = l.write(test::order_batch(2), epoch);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == domain::errc::unavailable);
  l.replica->flush();
  CHECK_FALSE(l.stored(2));
  CHECK(l.replica->mark(epoch).index == store::unknown_mark.index);

  // The driver going away (a stop) writes what is queued, and later writes are made when commit returns.
  auto now = l.replica->epoch();
  REQUIRE(l.write(test::order_batch(3), now));
  l.replica->defer_to({});
  CHECK(l.stored(3));
  REQUIRE(l.write(test::order_batch(4), now));
  CHECK(l.stored(4));
}

TEST_CASE("direct writes: a group the store refuses is dropped with everything queued after it, and the epoch "
          "ends",
          "[unit]") {
  test::temp_dir dir;
  // Shard 9 of a store of 4: a batch with events is refused there (events belong to a shard), one without is
  // written. A store refusing a group is what a full disk does; this refusal needs no fault injection.
  lone l(dir, 9);
  auto epoch = l.replica->epoch();
  REQUIRE(l.write(plain_batch(1), epoch));
  auto first = l.replica->mark(epoch);
  l.replica->flush();
  CHECK(l.replica->committed(first));
  CHECK(l.stored(1));

  REQUIRE(l.write(test::order_batch(2), epoch)); // carries an event: the group holding it fails
  REQUIRE(l.write(plain_batch(3), epoch)); // fine alone, but queued after the refused one, so it may depend on it
  auto mark = l.replica->mark(epoch);
  std::optional<bool> told;
  l.replica->when_committed(mark, [&](bool ok) { told = ok; });
  l.replica->flush();
  REQUIRE(told);
  CHECK_FALSE(*told);
  CHECK_FALSE(l.stored(2));
  CHECK_FALSE(l.stored(3));
  CHECK_FALSE(l.replica->committed(mark));
  CHECK(l.replica->landed(mark)); // settled: an activation need not wait for it
  CHECK(l.replica->committed(first)); // what was written before stays known written
  CHECK(l.replica->epoch() != epoch); // the entities holding it in memory may not write again
  CHECK_FALSE(l.write(plain_batch(4), epoch));
  // A mark of the dropped group asked about later is answered the same.
  std::optional<bool> late;
  l.replica->when_committed(mark, [&](bool ok) { late = ok; });
  REQUIRE(late);
  CHECK_FALSE(*late);
  // The new epoch writes again.
  REQUIRE(l.write(plain_batch(5), l.replica->epoch()));
  l.replica->flush();
  CHECK(l.stored(5));
}
