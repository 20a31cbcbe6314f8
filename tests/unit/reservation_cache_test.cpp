// The restaurant's reservation cache: records leave memory oldest first, but never before the write that last
// changed them has landed (a replicated shard's store would return an older version).
#include <catch2/catch.hpp>

#include <set>

#include "actors/restaurant/reservation_cache.hpp"

using bento::actors::reservation_cache;
using bento::store::write_mark;

TEST_CASE("reservation cache: evicts the least recently used beyond its capacity, only once landed", "[unit]") {
  reservation_cache cache(2);
  uint64_t applied = 0; // what the shard has applied here
  auto landed = [&](const write_mark& m) { return m.index <= applied; };
  std::set<std::string> evicted;
  auto evict = [&](const std::string& oid) { evicted.insert(oid); };

  cache.touch("o1", write_mark{1, 10});
  cache.touch("o2", write_mark{1, 11});
  cache.touch("o3", write_mark{1, 12});
  cache.trim(landed, evict);
  CHECK(evicted.empty()); // over capacity, but o1's write has not landed: the store has an older o1
  applied = 10;
  cache.trim(landed, evict);
  CHECK(evicted == std::set<std::string>{"o1"});
  CHECK(cache.size() == 2);

  // A record used again is the newest: o2 was, so o3 goes first.
  cache.touch("o2", write_mark{});
  cache.touch("o4", write_mark{1, 13});
  applied = 13;
  cache.trim(landed, evict);
  CHECK(evicted == std::set<std::string>{"o1", "o3"});
  CHECK(cache.size() == 2);
}

TEST_CASE("reservation cache: one record used over and over keeps its use list bounded", "[unit]") {
  reservation_cache cache(4);
  size_t evictions = 0;
  for (int i = 0; i < 1000; ++i) {
    cache.touch("hot", write_mark{});
    cache.trim([](const write_mark&) { return true; }, [&](const std::string&) { ++evictions; });
  }
  CHECK(cache.size() == 1);
  CHECK(evictions == 0); // its newest use is always kept
}
