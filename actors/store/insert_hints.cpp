#include "actors/store/insert_hints.hpp"

#include <rocksdb/slice_transform.h>

#include "protocol/domain/shards.hpp"

namespace bento::store {

namespace {

constexpr size_t shard_prefix_size = sizeof(domain::shard_id); // a stored key's first bytes: its shard

size_t stored_hint_prefix_size(const rocksdb::Slice& key) noexcept {
  if (key.size() <= shard_prefix_size)
    return 0;
  auto rest = hint_prefix_size(std::string_view(key.data() + shard_prefix_size, key.size() - shard_prefix_size));
  return rest == 0 ? 0 : shard_prefix_size + rest;
}

class hint_prefix final : public rocksdb::SliceTransform {
public:
  const char* Name() const override { return "bento.insert_hint_prefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), stored_hint_prefix_size(key));
  }
  bool InDomain(const rocksdb::Slice& key) const override { return stored_hint_prefix_size(key) != 0; }
};

} // namespace

size_t hint_prefix_size(std::string_view key) noexcept {
  auto first = key.find('/');
  if (first == std::string_view::npos)
    return 0;
  auto second = key.find('/', first + 1);
  auto end = (second == std::string_view::npos ? first : second) + 1;
  return end < key.size() ? end : 0;
}

std::shared_ptr<const rocksdb::SliceTransform> insert_hint_prefix() {
  return std::make_shared<hint_prefix>();
}

} // namespace bento::store
