#include "actors/order_index/order_listing.hpp"

#include <algorithm>
#include <vector>

#include "actors/common/keys.hpp"
#include "actors/store/entity_store.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/ids.hpp"

namespace bento::actors {

using namespace bento::domain;

outcome<order_list> query_orders(const store::entity_store& store, const list_orders& q, size_t scan_budget) {
  const bool merchant = q.caller.role == role::merchant;
  const auto& id = q.caller.user_id;
  auto plain = merchant ? keys::merchant_orders(id) : keys::customer_orders(id);
  auto index = plain;
  if (q.status)
    index = merchant ? keys::merchant_orders_by_status(id, to_string(*q.status))
                     : keys::customer_orders_by_status(id, to_string(*q.status));
  auto prefix = q.month ? index + *q.month + "-" : index;
  std::string start_before;
  if (!q.cursor.empty()) {
    if (!from_hex(q.cursor, start_before))
      return fail(errc::invalid_argument, "cursor is not valid for this query");
    if (q.status && start_before.rfind(plain, 0) == 0)
      start_before = index + start_before.substr(plain.size()); // same suffix, same order
    if (start_before.rfind(prefix, 0) != 0)
      return fail(errc::invalid_argument, "cursor is not valid for this query");
  }
  auto limit = std::clamp<uint32_t>(q.limit, 1, 500); // the edges check it; another caller may not have
  // Every shard keeps the index entries of its own orders; their keys (past the shard prefix) sort the same
  // way in every shard, so one reverse cursor per shard, always taking the newest head, lists them all in order.
  std::vector<store::reverse_cursor> heads;
  heads.reserve(store.shard_count());
  for (domain::shard_id s = 0; s < store.shard_count(); ++s) {
    auto sp = domain::shard_prefix(s);
    heads.push_back(store.scan_back(store::column::indexes, sp + prefix, start_before.empty() ? "" : sp + start_before));
  }
  order_list out;
  std::string last_seen;
  size_t scanned = 0;
  for (;;) {
    store::reverse_cursor* best = nullptr;
    for (auto& h : heads) {
      if (!h.valid())
        continue;
      if (!best || h.key().substr(2) > best->key().substr(2))
        best = &h;
    }
    if (!best)
      break;
    if (++scanned > scan_budget || out.orders.size() == limit) {
      // More may follow: continue from the last entry looked at.
      out.next_cursor = to_hex(last_seen);
      break;
    }
    last_seen.assign(best->key().substr(2));
    // Every entry names its order (the key's last part) and holds nothing of it (add_index_writes): the order
    // is read from its record, in the same shard. Read after the cursor's snapshot, it may show a newer
    // status: the filter below leaves such an order out, as the snapshot's entry for its new status would not
    // have been in this listing's range either. Entries written before, with a copy of the order in them,
    // are read the same way: their copy is older than the record whenever the order changed since.
    auto key = best->key();
    auto slash = key.rfind('/');
    order o;
    bool decoded = false;
    if (slash != std::string_view::npos) {
      auto got = store.get(store::column::entities,
                           std::string(key.substr(0, 2)) + keys::order_record(std::string(key.substr(slash + 1))));
      if (!got)
        return got.error();
      decoded = *got && codec::decode(**got, o) && o.committed;
    }
    if (decoded && (!q.status || o.status == *q.status))
      out.orders.push_back(std::move(o));
    best->prev();
  }
  for (auto& h : heads)
    if (auto st = h.status(); !st)
      return st.error();
  return out;
}

} // namespace bento::actors
