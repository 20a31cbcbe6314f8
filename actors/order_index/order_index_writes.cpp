#include "actors/order_index/order_index_writes.hpp"

#include <spdlog/spdlog.h>

#include "actors/common/keys.hpp"
#include "actors/store/shard_store.hpp"
#include "protocol/codec/entity_codec.hpp"

namespace bento::actors {

using namespace bento::domain;

namespace {

struct index_keys {
  std::string customer, merchant, customer_status, merchant_status;
};

index_keys keys_of(const order& o) {
  auto suffix = keys::order_index_suffix(o.date, o.created_at_ms, o.id);
  auto status = to_string(o.status);
  return {keys::customer_orders(o.customer_id) + suffix, keys::merchant_orders(o.merchant_id) + suffix,
          keys::customer_orders_by_status(o.customer_id, status) + suffix,
          keys::merchant_orders_by_status(o.merchant_id, status) + suffix};
}

const std::string status_index_version_key = "order_index.version";
const std::string status_index_version = "2";

} // namespace

void add_index_writes(store::write_batch& batch, const order* before, const order& after) {
  if (!after.committed)
    return;
  auto now = keys_of(after);
  if (before && before->committed) {
    // Date, creation time and parties never change, so the plain entries stay as they are; the status does,
    // and its old entries must go in the same batch, or a listing by the old status would keep showing the
    // order.
    auto old = keys_of(*before);
    if (old.customer_status != now.customer_status) {
      batch.erase(store::column::indexes, old.customer_status);
      batch.put(store::column::indexes, now.customer_status, {});
    }
    if (old.merchant_status != now.merchant_status) {
      batch.erase(store::column::indexes, old.merchant_status);
      batch.put(store::column::indexes, now.merchant_status, {});
    }
    return;
  }
  // Every entry is empty: a listing reads each order from its record, in the same shard (query_orders). The
  // order in the plain entries was two more copies of it in every write that changed it, ~20 % of a placement's
  // bytes; entries written before this, with the order in them, are read the same way (their copy is unused).
  batch.put(store::column::indexes, now.customer, {});
  batch.put(store::column::indexes, now.merchant, {});
  batch.put(store::column::indexes, now.customer_status, {});
  batch.put(store::column::indexes, now.merchant_status, {});
}

outcome<unit_t> ensure_status_index(const store::shard_set& shards) {
  auto& db = shards.db();
  auto version = db.get(store::column::meta, status_index_version_key);
  if (!version)
    return version.error();
  if (*version && **version == status_index_version)
    return unit;
  size_t added = 0;
  outcome<unit_t> failed = unit;
  for (domain::shard_id s = 0; s < shards.count(); ++s) {
    auto& shard = shards.of(s);
    store::write_batch batch;
    auto flush = [&] {
      if (batch.empty())
        return true;
      auto done = shard.commit(batch);
      batch = store::write_batch{};
      if (!done)
        failed = done.error();
      return bool(done);
    };
    // The plain customer index holds every committed order once; its snapshot gives both status entries.
    auto scanned = shard.scan(store::column::indexes, "oc/", {}, [&](std::string_view, std::string_view value) {
      order o;
      if (!codec::decode(value, o))
        return true;
      auto k = keys_of(o);
      batch.put(store::column::indexes, k.customer_status, {});
      batch.put(store::column::indexes, k.merchant_status, {});
      ++added;
      return added % 1000 != 0 || flush();
    });
    if (!scanned)
      return scanned.error();
    if (!failed || !flush())
      return failed;
  }
  store::write_batch mark;
  mark.put(store::column::meta, status_index_version_key, status_index_version);
  if (auto done = db.commit(mark); !done)
    return done.error();
  spdlog::info("order_index.status_index_built orders={}", added);
  return unit;
}

} // namespace bento::actors
