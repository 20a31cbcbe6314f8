#include "node/node_identity.hpp"

#include "actors/store/entity_store.hpp"

namespace bento::node {

namespace {
const std::string node_id_key = "node.id";
}

domain::outcome<std::string> settle_node_id(store::entity_store& store, const std::string& configured, bool given) {
  auto recorded = store.get(store::column::meta, node_id_key);
  if (!recorded)
    return recorded.error();
  if (*recorded) {
    if (given && **recorded != configured)
      return domain::fail(domain::errc::invalid_argument,
                          "this data dir belongs to node '" + **recorded + "', but BENTO_NODE_ID is '" + configured
                            + "' (a node's id cannot change; unset BENTO_NODE_ID or use another data dir)");
    return **recorded;
  }
  store::write_batch batch;
  batch.put(store::column::meta, node_id_key, configured);
  if (auto done = store.commit(batch); !done)
    return done.error();
  return configured;
}

} // namespace bento::node
