#pragma once
// A real RocksDB store for unit tests of what sits on it (shard replicas, their direct writes): small caches,
// `shards` shards, Bento's column layout.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "actors/store/entity_store.hpp"
#include "actors/store/store_layout.hpp"

namespace bento::test {

inline std::unique_ptr<store::entity_store> open_test_store(const std::string& path, domain::shard_id shards = 4) {
  auto s = store::entity_store::open(store::store_options{path, false, 8u << 20, shards});
  REQUIRE(s);
  REQUIRE(actors::ensure_store_layout(**s));
  return std::move(*s);
}

} // namespace bento::test
