#pragma once
// Handles of the actors one node runs; built by node/main.cpp, the only place that spawns and wires actors.
#include <functional>
#include <memory>

#include "actors/catalog/catalog_actor.hpp"
#include "actors/order_index/order_index_actor.hpp"
#include "actors/router/router_actor.hpp"
#include "protocol/domain/shards.hpp"

namespace bento::actors {
class menu_board;
class page_board;
}

namespace bento::store {
class entity_store;
}

namespace bento::node {

struct node_runtime {
  caf::actor_system* system = nullptr;
  store::entity_store* store = nullptr; // replies wait for its after_durable before they reach a client
  actors::router_actor router;
  // The router of this node's own entities, and whether this node serves a shard now: a command for a shard
  // served here goes to it directly, skipping the cluster router's hop (which would delegate it there).
  actors::router_actor local_router;
  std::function<bool(domain::shard_id)> serves;
  actors::catalog_actor catalog;
  actors::order_index_actor order_index;
  std::shared_ptr<actors::menu_board> menus; // menus answered without asking the restaurant; none: always ask
  std::shared_ptr<actors::page_board> pages; // catalog pages answered without asking the catalog; none: ask
  domain::shard_id shard_count = 0; // of the key space (0: no preference where new entities go)
};

} // namespace bento::node
