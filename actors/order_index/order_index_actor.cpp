#include "actors/order_index/order_index_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/common/domain_error.hpp"
#include "actors/common/keys.hpp"
#include "actors/store/entity_store.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/ids.hpp"

namespace bento::actors {

using namespace bento::domain;

outcome<order_list> query_orders(const store::entity_store& store, const list_orders& q) {
  auto base = q.caller.role == role::merchant ? keys::merchant_orders(q.caller.user_id)
                                              : keys::customer_orders(q.caller.user_id);
  auto prefix = q.month ? base + *q.month + "-" : base;
  std::string start_before;
  if (!q.cursor.empty()) {
    if (!from_hex(q.cursor, start_before) || start_before.rfind(prefix, 0) != 0)
      return fail(errc::invalid_argument, "cursor is not valid for this query");
  }
  order_list out;
  std::string last_key;
  auto scanned = store.scan_reverse(store::column::indexes, prefix, start_before,
                                    [&](std::string_view key, std::string_view value) {
                                      order o;
                                      if (!codec::decode(value, o))
                                        return true;
                                      if (q.status && o.status != *q.status)
                                        return true;
                                      if (out.orders.size() == q.limit) {
                                        out.next_cursor = to_hex(last_key);
                                        return false;
                                      }
                                      out.orders.push_back(std::move(o));
                                      last_key.assign(key.data(), key.size());
                                      return true;
                                    });
  if (!scanned)
    return scanned.error();
  return out;
}

order_index_actor spawn_order_index_actor(caf::actor_system& sys, store::entity_store* store) {
  return sys.spawn([store](order_index_actor::pointer) -> order_index_actor::behavior_type {
    return {
      [store](list_orders& q) -> caf::result<order_list> {
        auto r = query_orders(*store, q);
        if (!r)
          return make_error(r.error());
        return std::move(*r);
      },
    };
  });
}

} // namespace bento::actors
