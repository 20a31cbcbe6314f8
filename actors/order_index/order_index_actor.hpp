#pragma once
// Order listings ("my orders", "my restaurants' orders") from the index the order actors keep in the same
// write as the order itself: one prefix scan, no entity activations.
#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::store {
class entity_store;
}

namespace bento::actors {

using order_index_actor = caf::typed_actor<caf::replies_to<domain::list_orders>::with<domain::order_list>>;

order_index_actor spawn_order_index_actor(caf::actor_system& sys, store::entity_store* store);

/// The listing itself, plain C++ (unit-tested against a real store).
domain::outcome<domain::order_list> query_orders(const store::entity_store& store, const domain::list_orders& q);

} // namespace bento::actors
