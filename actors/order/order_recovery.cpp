#include "actors/order/order_recovery.hpp"

#include "actors/common/keys.hpp"
#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"

namespace bento::actors {

domain::outcome<std::vector<std::string>> interrupted_orders(const store::entity_store& store) {
  std::vector<std::string> ids;
  for (domain::shard_id shard = 0; shard < store.shard_count(); ++shard) {
    auto prefix = domain::shard_prefix(shard) + keys::pending_orders_prefix;
    auto scanned = store.scan(store::column::indexes, prefix, {}, [&](std::string_view key, std::string_view) {
      ids.emplace_back(key.substr(prefix.size()));
      return true;
    });
    if (!scanned)
      return scanned.error();
  }
  return ids;
}

domain::outcome<std::vector<std::string>> interrupted_orders(const store::shard_store& shard) {
  std::vector<std::string> ids;
  auto scanned = shard.scan(store::column::indexes, keys::pending_orders_prefix, {},
                            [&](std::string_view key, std::string_view) {
                              ids.emplace_back(key.substr(keys::pending_orders_prefix.size()));
                              return true;
                            });
  if (!scanned)
    return scanned.error();
  return ids;
}

} // namespace bento::actors
