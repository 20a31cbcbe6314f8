// The memtables' insert hints (actors/store/insert_hints.hpp): which keys have one, the range deletions the store
// refuses because of them (RocksDB 7.8 would corrupt a memtable with those), and that with hints on, every read
// still gives what was written.
#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <random>

#include "actors/store/entity_store.hpp"
#include "actors/store/insert_hints.hpp"
#include "actors/store/shard_store.hpp"
#include "protocol/domain/shards.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_store.hpp"

using namespace bento;
using store::column;

namespace {

constexpr domain::shard_id shard_count = 512; // the model test writes shards up to 300

} // namespace

TEST_CASE("insert hints: a key's hint prefix runs to its second '/', and a key ending there has none", "[unit]") {
  using store::hint_prefix_size;
  CHECK(hint_prefix_size("o/0190af3c2d1e5") == 2);                      // "o/"
  CHECK(hint_prefix_size("oc/c1/2025-01-15/000001736899200/o_1") == 6); // "oc/c1/"
  CHECK(hint_prefix_size("r/r1/v/o_1") == 5);                           // "r/r1/"
  CHECK(hint_prefix_size("o/") == 0);
  CHECK(hint_prefix_size("ended/") == 0);
  CHECK(hint_prefix_size("oc/c1/") == 0);
  CHECK(hint_prefix_size("meta") == 0);
  CHECK(hint_prefix_size("") == 0);
  // Range starts: none inside a hinted column's prefixes; other columns keep no hints.
  CHECK(store::range_start_allowed(column::indexes, "ended/"));
  CHECK(store::range_start_allowed(column::entities, ""));
  CHECK_FALSE(store::range_start_allowed(column::indexes, "oc/c1/2025"));
  CHECK_FALSE(store::range_start_allowed(column::entities, "r/r1"));
  CHECK(store::range_start_allowed(column::events, "oc/c1/2025"));
  CHECK(store::range_start_allowed(column::raft, "g/1/e"));
}

TEST_CASE("insert hints: a range deletion starting inside a hint prefix is refused unwritten, by the shard and by "
          "the store; one starting at a prefix's '/' is taken",
          "[unit]") {
  test::temp_dir dir;
  auto s = test::open_test_store(dir / "db", shard_count);
  store::shard_store shard(*s, 7);
  auto bad = [] {
    store::write_batch b;
    b.put(column::indexes, "oc/c1/2025-01-15/1/o_1", "");
    b.erase_range(column::indexes, "oc/c1/2025-01-15", "oc/c1/2025-01-16");
    return b;
  };
  auto at_shard = bad();
  auto refused = shard.commit(at_shard);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == domain::errc::storage_failure);
  auto at_store = bad(); // as the store sees it, with the shard prefix before each key
  shard.prefix_keys(at_store);
  refused = s->commit(at_store);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == domain::errc::storage_failure);
  CHECK_FALSE(shard.get(column::indexes, "oc/c1/2025-01-15/1/o_1")->has_value());
  // The same range in a column without hints is taken, as is one starting at the prefix's '/' here.
  store::write_batch events_range;
  events_range.erase_range(column::outbox, "oc/c1/2025-01-15", "oc/c1/2025-01-16");
  CHECK(shard.commit(events_range));
  store::write_batch good;
  good.put(column::indexes, "oc/c1/2025-01-15/1/o_1", "");
  good.put(column::indexes, "oc/c2/2025-01-15/1/o_2", "");
  REQUIRE(shard.commit(good));
  store::write_batch purge;
  purge.erase_range(column::indexes, "oc/c1/", "oc/c1/~");
  purge.put(column::indexes, "oc/c1/2025-01-15/2/o_3", ""); // after the range in the batch: it stays
  REQUIRE(shard.commit(purge));
  CHECK_FALSE(shard.get(column::indexes, "oc/c1/2025-01-15/1/o_1")->has_value());
  CHECK(shard.get(column::indexes, "oc/c1/2025-01-15/2/o_3")->has_value());
  CHECK(shard.get(column::indexes, "oc/c2/2025-01-15/1/o_2")->has_value());
}

TEST_CASE("insert hints: with hints on, the store reads back exactly what a model of its writes holds, across many "
          "memtables, range deletions beside hinted keys, and a reopen",
          "[unit]") {
  // Random batches of puts, erases and the range deletions Bento makes (from a prefix's '/'), mostly ascending
  // within each prefix as orders' keys are, some out of order, over several shards and ~12 MB of values, so that
  // each column fills and flushes several 2 MB memtables. The model is a map applied in each batch's order.
  test::temp_dir dir;
  std::map<std::tuple<int, domain::shard_id, std::string>, std::string> model;
  std::mt19937_64 rng(20261128);
  auto pick = [&](uint64_t n) { return static_cast<uint64_t>(rng() % n); };
  const std::vector<domain::shard_id> shard_ids = {0, 1, 47, 300}; // 47: a shard prefix whose byte is '/'
  std::vector<std::string> prefixes = {"o/", "po/", "ended/"};
  for (int i = 0; i < 12; ++i) {
    prefixes.push_back("oc/c" + std::to_string(i) + "/");
    prefixes.push_back("r/r" + std::to_string(i) + "/");
  }
  std::map<std::string, uint64_t> next; // per prefix: the next ascending suffix
  auto key_under = [&](const std::string& prefix) {
    char buf[24];
    uint64_t n = pick(10) < 8 ? ++next[prefix] : pick(next[prefix] + 2); // one in five out of order
    std::snprintf(buf, sizeof buf, "%012llu", static_cast<unsigned long long>(n));
    return prefix + buf + (pick(3) == 0 ? "/v/x" : "");
  };
  auto check_all = [&](const store::entity_store& db) {
    for (auto sid : shard_ids) {
      store::shard_store shard(const_cast<store::entity_store&>(db), sid);
      for (auto cf : {column::entities, column::indexes}) {
        std::map<std::string, std::string> stored;
        REQUIRE(shard.scan(cf, "", {}, [&](std::string_view k, std::string_view v) {
          stored.emplace(std::string(k), std::string(v));
          return true;
        }));
        std::map<std::string, std::string> expected;
        for (auto it = model.lower_bound({static_cast<int>(cf), sid, ""});
             it != model.end() && std::get<0>(it->first) == static_cast<int>(cf) && std::get<1>(it->first) == sid;
             ++it)
          expected.emplace(std::get<2>(it->first), it->second);
        REQUIRE(stored.size() == expected.size());
        CHECK(stored == expected);
      }
    }
  };
  {
    auto s = test::open_test_store(dir / "db", shard_count);
    for (int b = 0; b < 8000; ++b) {
      auto sid = shard_ids[pick(shard_ids.size())];
      store::shard_store shard(*s, sid);
      store::write_batch batch;
      std::vector<std::function<void()>> apply;
      auto ops = 1 + pick(12);
      for (uint64_t i = 0; i < ops; ++i) {
        auto cf = pick(2) == 0 ? column::entities : column::indexes;
        auto prefix = prefixes[pick(prefixes.size())];
        auto roll = pick(20);
        if (roll < 15) {
          auto key = key_under(prefix);
          auto value = std::string(pick(800), static_cast<char>('a' + pick(26))) + std::to_string(b);
          batch.put(cf, key, value);
          apply.push_back([&model, cf, sid, key, value] { model[{static_cast<int>(cf), sid, key}] = value; });
        } else if (roll < 18) {
          auto key = key_under(prefix);
          batch.erase(cf, key);
          apply.push_back([&model, cf, sid, key] { model.erase({static_cast<int>(cf), sid, key}); });
        } else {
          // From the prefix's '/' to all of it, or to a point inside it.
          auto to = roll == 18 ? prefix + "~" : key_under(prefix);
          batch.erase_range(cf, prefix, to);
          apply.push_back([&model, cf, sid, prefix, to] {
            auto from = model.lower_bound({static_cast<int>(cf), sid, prefix});
            auto end = model.lower_bound({static_cast<int>(cf), sid, to});
            model.erase(from, end);
          });
        }
      }
      REQUIRE(shard.commit(batch));
      for (auto& f : apply)
        f();
      if (b % 2000 == 1999)
        check_all(*s);
    }
    check_all(*s);
  }
  // What the WAL replays, into fresh memtables with their own hints.
  auto reopened = test::open_test_store(dir / "db", shard_count);
  check_all(*reopened);
}
