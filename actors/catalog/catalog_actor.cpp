#include "actors/catalog/catalog_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/catalog/catalog_state.hpp"
#include "actors/common/keys.hpp"
#include "actors/common/domain_error.hpp"
#include "actors/store/entity_store.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/calendar.hpp"

namespace bento::actors {

namespace {

using namespace bento::domain;

struct catalog_actor_state {
  catalog_state catalog;
  static inline const char* name = "catalog";
};

void load_all(catalog_state& catalog, store::entity_store* store) {
  // Restaurant headers ("r/<id>") sort before their children ("r/<id>/..."), so each item finds its
  // restaurant already loaded.
  std::vector<menu_item> items;
  auto scanned = store->scan(store::column::entities, "r/", {}, [&](std::string_view key, std::string_view value) {
    auto rest = key.substr(2);
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) {
      restaurant r;
      if (codec::decode(value, r))
        catalog.load(r);
    } else if (rest.substr(slash + 1).rfind("i/", 0) == 0) {
      menu_item item;
      if (codec::decode(value, item))
        catalog.load(item);
    } else if (auto promise = keys::parse_promise(rest.substr(slash + 1), value)) {
      catalog.load_promise(std::string(rest.substr(0, slash)), promise->day, promise->item_id, promise->units);
    }
    return true;
  });
  if (!scanned)
    spdlog::error("catalog.load_failed error={}", scanned.error().message);
  spdlog::info("catalog.loaded restaurants={} items={}", catalog.restaurant_count(), catalog.item_count());
}

catalog_actor::behavior_type catalog_behavior(catalog_actor::stateful_pointer<catalog_actor_state> self,
                                              store::entity_store* store) {
  load_all(self->state.catalog, store);
  return {
    [self](menu_query& q) -> caf::result<menu_page> {
      auto page = self->state.catalog.query(q, local_date(now_ms()));
      if (!page)
        return make_error(page.error());
      return std::move(*page);
    },
    [self](restaurants_query& q) -> caf::result<restaurant_list> {
      auto list = self->state.catalog.restaurants(q);
      if (!list)
        return make_error(list.error());
      return std::move(*list);
    },
    [self](event& ev) { self->state.catalog.apply(ev); },
    [self](stats_atom) -> catalog_stats {
      return catalog_stats{self->state.catalog.restaurant_count(), self->state.catalog.item_count()};
    },
  };
}

} // namespace

catalog_actor spawn_catalog_actor(caf::actor_system& sys, store::entity_store* store) {
  return sys.spawn(catalog_behavior, store);
}

} // namespace bento::actors
