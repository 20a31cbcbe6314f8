#include "actors/store/shard_store.hpp"

namespace bento::store {

shard_store::shard_store(entity_store& db, domain::shard_id shard)
  : db_(db), shard_(shard), prefix_(domain::shard_prefix(shard)) {}

std::string shard_store::stored_key(column cf, std::string_view key) const {
  if (!sharded(cf))
    return std::string(key);
  std::string out;
  out.reserve(prefix_.size() + key.size());
  out.append(prefix_);
  out.append(key);
  return out;
}

domain::outcome<std::optional<std::string>> shard_store::get(column cf, std::string_view key) const {
  return db_.get(cf, stored_key(cf, key));
}

domain::outcome<domain::unit_t> shard_store::scan(column cf, std::string_view prefix, std::string_view start_after,
                                                  const entity_store::visitor& fn) const {
  if (!sharded(cf))
    return db_.scan(cf, prefix, start_after, fn);
  auto strip = prefix_.size();
  return db_.scan(cf, stored_key(cf, prefix), start_after.empty() ? std::string() : stored_key(cf, start_after),
                  [&](std::string_view key, std::string_view value) { return fn(key.substr(strip), value); });
}

domain::outcome<domain::unit_t> shard_store::scan_reverse(column cf, std::string_view prefix,
                                                          std::string_view start_before,
                                                          const entity_store::visitor& fn) const {
  if (!sharded(cf))
    return db_.scan_reverse(cf, prefix, start_before, fn);
  auto strip = prefix_.size();
  return db_.scan_reverse(cf, stored_key(cf, prefix),
                          start_before.empty() ? std::string() : stored_key(cf, start_before),
                          [&](std::string_view key, std::string_view value) { return fn(key.substr(strip), value); });
}

namespace {

/// A batch no store can take, refused before its writer sees it: a range deletion RocksDB cannot take
/// (write_batch::refused_range) would poison a replicated log (every replica refuses the committed entry at
/// decode and stops, again after each restart) or a lone leader's whole group of writes. None of Bento's
/// writers makes one: a bug, and nothing is written. Keys here come without their shard prefix.
domain::outcome<domain::unit_t> check_batch(const write_batch& batch) {
  if (auto why = batch.refused_range(0))
    return domain::fail(domain::errc::storage_failure, std::string("store: ") + why + " (a bug; nothing was written)");
  return domain::unit;
}

} // namespace

domain::outcome<domain::unit_t> shard_store::commit(write_batch& batch) {
  if (auto checked = check_batch(batch); !checked)
    return checked;
  if (writer_)
    return writer_->commit(batch);
  prefix_keys(batch);
  return db_.commit(batch);
}

domain::outcome<domain::unit_t> shard_store::commit(write_batch& batch, uint64_t epoch) {
  if (auto checked = check_batch(batch); !checked)
    return checked;
  if (writer_)
    return writer_->commit(batch, epoch);
  prefix_keys(batch);
  return db_.commit(batch);
}

void shard_store::prefix_keys(write_batch& batch) const {
  for (auto& op : batch.ops_)
    if (sharded(op.cf)) {
      op.key = stored_key(op.cf, op.key);
      if (op.range)
        op.value = stored_key(op.cf, op.value);
    }
  batch.set_shard(shard_);
}

} // namespace bento::store

namespace bento::store {

shard_set::shard_set(entity_store& db) : db_(db) {
  for (domain::shard_id s = 0; s < db.shard_count(); ++s)
    shards_.push_back(std::make_unique<shard_store>(db, s));
}

} // namespace bento::store
