#pragma once
// A node's id is fixed with its data dir: it is a member of the replication groups it formed under that id.
// Recorded at the first start; later starts take it from there unless BENTO_NODE_ID says otherwise, which is
// refused (a node cannot become another one by renaming itself).
#include <string>

#include "protocol/domain/outcome.hpp"

namespace bento::store {
class entity_store;
}

namespace bento::node {

domain::outcome<std::string> settle_node_id(store::entity_store& store, const std::string& configured, bool given);

} // namespace bento::node
