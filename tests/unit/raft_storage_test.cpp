// A group's durable log (cluster/shard/raft_storage): what it hands out from memory must be what RocksDB holds.
#include <catch2/catch.hpp>

#include <random>

#include "actors/store/entity_store.hpp"
#include "cluster/shard/raft_storage.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento;
using namespace bento::cluster;
using consensus::entry;
using consensus::index_t;

namespace {

/// What a driver does with a ready: stage it, write the batch, tell the storage it was written.
void persist(store::entity_store& db, shard::raft_storage& s, const consensus::ready& rd) {
  store::write_batch b;
  s.stage(rd, b);
  REQUIRE(db.commit(b));
  s.written(rd);
}

/// Every range of `s` read through its memory against the same range read from RocksDB alone (a storage opened
/// afresh on the same store has nothing in memory).
void check_same_as_stored(store::entity_store& db, const shard::raft_storage& s, std::mt19937& rng) {
  auto fresh = shard::raft_storage::open(db, 3);
  REQUIRE(fresh);
  auto& stored = **fresh;
  REQUIRE(stored.first_index() == s.first_index());
  REQUIRE(stored.last_index() == s.last_index());
  for (int k = 0; k < 40; ++k) {
    std::uniform_int_distribution<index_t> pick(s.first_index(), s.last_index() + 1);
    auto lo = pick(rng), hi = pick(rng);
    if (lo > hi)
      std::swap(lo, hi);
    std::size_t max_bytes = k % 3 == 0 ? 1 : (k % 3 == 1 ? 5000 : ~std::size_t{0});
    INFO("entries [" << lo << ", " << hi << ") max_bytes " << max_bytes);
    CHECK(s.entries(lo, hi, max_bytes) == stored.entries(lo, hi, max_bytes));
  }
  // Every range ending at the newest entry, from the last 64 (what apply and a follower's append read).
  auto top = s.last_index() > 64 ? s.last_index() - 64 : s.first_index();
  for (auto lo = std::max(top, s.first_index()); lo <= s.last_index(); ++lo) {
    INFO("entries [" << lo << ", last]");
    CHECK(s.entries(lo, s.last_index() + 1, ~std::size_t{0}) == stored.entries(lo, s.last_index() + 1, ~std::size_t{0}));
  }
  // The newest entry is always there.
  auto last = s.entries(s.last_index(), s.last_index() + 1, 1);
  REQUIRE(last.size() == 1);
  CHECK(last[0].index == s.last_index());
}

} // namespace

TEST_CASE("raft storage: entries served from memory are the stored ones, through appends, conflicts, "
          "compaction and snapshots",
          "[unit]") {
  test::temp_dir dir;
  auto opened = store::entity_store::open(store::store_options{dir / "db", false, 8u << 20});
  REQUIRE(opened);
  auto& db = **opened;
  auto created = shard::raft_storage::open(db, 3);
  REQUIRE(created);
  auto& s = **created;
  consensus::membership founders;
  founders.voters = {1, 2, 3};
  REQUIRE(s.bootstrap(founders));
  std::mt19937 rng(7);
  consensus::term_t term = 1;
  auto append = [&](index_t from, int count, std::size_t size) {
    consensus::ready rd;
    for (int i = 0; i < count; ++i)
      rd.entries.push_back(entry{term, from + static_cast<index_t>(i), consensus::entry_type::normal,
                                 std::string(size + static_cast<std::size_t>(rng() % 100), static_cast<char>('a' + i % 26))});
    rd.hard_state = consensus::hard_state{term, 1, from + static_cast<index_t>(count) - 1};
    persist(db, s, rd);
  };

  for (int round = 0; round < 30; ++round)
    append(s.last_index() + 1, 1 + round % 4, 200);
  check_same_as_stored(db, s, rng);

  // Big entries: memory keeps a bounded number of bytes, older ones come from RocksDB.
  for (int round = 0; round < 6; ++round)
    append(s.last_index() + 1, 2, 300000);
  check_same_as_stored(db, s, rng);

  // A new leader's entries replace a conflicting suffix.
  ++term;
  append(s.last_index() - 3, 2, 50);
  check_same_as_stored(db, s, rng);
  ++term;
  append(s.last_index() - 20, 5, 50); // below what memory holds: memory starts again from these
  check_same_as_stored(db, s, rng);

  // Applying and compacting drop entries from memory (and from the store).
  for (int round = 0; round < 40; ++round)
    append(s.last_index() + 1, 3, 100);
  check_same_as_stored(db, s, rng);
  store::write_batch applied;
  s.stage_applied(s.last_index() - 10, applied);
  REQUIRE(db.commit(applied));
  s.applied_written(s.last_index() - 10);
  check_same_as_stored(db, s, rng);
  consensus::snapshot_meta meta{s.last_index() - 40, term, founders};
  store::write_batch compaction;
  s.stage_compaction(meta, compaction);
  REQUIRE(db.commit(compaction));
  s.compaction_written(meta);
  check_same_as_stored(db, s, rng);

  // A snapshot replaces the log; entries after it are served again.
  consensus::ready snap;
  snap.snapshot = consensus::snapshot_meta{s.last_index() + 100, term, founders};
  persist(db, s, snap);
  CHECK(s.entries(s.first_index(), s.last_index() + 1, ~std::size_t{0}).empty());
  append(s.last_index() + 1, 4, 100);
  check_same_as_stored(db, s, rng);
}
