#pragma once
// The menu read model: every restaurant and item known to this node, indexed by place, fed by menu and stock
// events. GET /menu and GET /restaurants read it instead of asking restaurant actors.
//
// Its data lives in the store's `catalog` column, not in memory: merchants decide how much there is, so the
// only memory it takes is RocksDB's bounded caches. It is an event-fed read model: each applied event is
// written together with its shard's sequence number, and on open the model replays each shard's events from
// there up to the shard's visible sequence (catch_up does the same whenever new events are announced). A data
// dir without catalog state builds it once from the entity records. A shard whose events have a gap after the
// last applied one (a snapshot from a replica that pruned more than this node applied replaced them) has its
// part rebuilt from its entity records the same way, since the missing events cannot be replayed.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::store {
class entity_store;
class write_batch;
} // namespace bento::store

namespace bento::actors {

/// The events the catalog reads (restaurants, menus, stock); others only move its mark.
bool catalog_event(std::string_view type);

class catalog_state {
public:
  /// Not thread-safe: one owner (the catalog actor) applies and queries.
  explicit catalog_state(store::entity_store& store);

  /// Loads the applied sequence, or builds the catalog from the entity records if there is none; drops days
  /// before `today`; then catches up with the events column.
  domain::outcome<domain::unit_t> open(const std::string& today);

  /// Applies every stored event after the last applied one, up to the store's visible sequence, in order.
  domain::outcome<domain::unit_t> catch_up(const std::string& today);

  /// One event, written at once with `ev.seq` as the applied sequence when that is non-zero (tests and the
  /// rebuild feed events directly).
  domain::outcome<domain::unit_t> apply(const domain::event& ev, const std::string& today);

  // Direct loads, as the rebuild from entity records does them.
  domain::outcome<domain::unit_t> load(const domain::restaurant& r);
  domain::outcome<domain::unit_t> load(const domain::menu_item& item);
  /// Units of daily item `iid` used on `day` (held by live orders for that day or consumed by delivered ones).
  domain::outcome<domain::unit_t> load_used(const std::string& rid, const std::string& day, const std::string& iid,
                                            int64_t units, const std::string& today);

  /// Items looked at by one query at most; a page may then hold fewer than `limit` items and still a cursor.
  static constexpr size_t scan_budget = 5000;

  /// Items ordered by (place, restaurant id, item id); the cursor is the last key looked at, hex-encoded.
  /// Shown stock is for q.date (today when empty): a plain item's free units; a daily item's daily_stock less
  /// that day's used units.
  domain::outcome<domain::catalog_page> query(const domain::menu_query& q, const std::string& today) const;
  /// Restaurants ordered by (place, name, id), from an index, so one page costs O(page); same cursor scheme.
  domain::outcome<domain::restaurant_list> restaurants(const domain::restaurants_query& q) const;

  /// Deletes events older than `older_than_ms` that this model has applied (the node's only reader of the
  /// events column), at most `max_per_shard` per shard. Returns how many it deleted.
  domain::outcome<uint64_t> prune_events(int64_t older_than_ms, uint64_t max_per_shard);

  uint64_t item_count() const noexcept { return items_; }
  /// Shards whose part was rebuilt from their entity records because their events had a gap.
  uint64_t shard_rebuilds() const noexcept { return shard_rebuilds_; }
  uint64_t events_pruned() const noexcept { return events_pruned_; }
  uint64_t restaurant_count() const noexcept { return restaurants_; }
  /// The last applied event of a shard.
  uint64_t applied_seq(uint16_t shard) const noexcept { return shard < applied_.size() ? applied_[shard] : 0; }

  /// Changes whenever what a query can return changes (answers may be reused while it stays the same).
  uint64_t revision() const noexcept { return revision_; }

private:
  struct writes; // one batch of catalog writes, readable before it is committed
  struct round;  // a catch-up round: one batch across every shard, with each shard's applied mark
  domain::outcome<domain::unit_t> stage(const domain::event& ev, const std::string& today, writes& w);
  domain::outcome<domain::unit_t> commit(writes& w, const std::vector<std::pair<uint16_t, uint64_t>>& marks);
  domain::outcome<domain::unit_t> flush(round& r);
  domain::outcome<domain::unit_t> catch_up_shard(uint16_t shard, const std::string& today, round& r);
  domain::outcome<std::optional<std::string>> read(const std::string& key, const writes* w) const;
  domain::outcome<domain::unit_t> rebuild(const std::string& today);
  domain::outcome<domain::unit_t> rebuild_shard(uint16_t shard, const std::string& today);
  domain::outcome<domain::unit_t> drop_shard(uint16_t shard);
  domain::outcome<domain::unit_t> load_shard(uint16_t shard, const std::string& today);
  domain::outcome<domain::unit_t> drop_days_before(const std::string& today);
  domain::outcome<std::optional<domain::restaurant>> find_restaurant(const std::string& rid,
                                                                     const writes* w = nullptr) const;

  store::entity_store* store_;
  std::vector<uint64_t> applied_; // per shard
  uint64_t revision_ = 0;
  uint64_t restaurants_ = 0;
  uint64_t items_ = 0;
  std::string kept_from_; // the first day whose used units are kept
  uint64_t shard_rebuilds_ = 0;
  uint64_t events_pruned_ = 0;
};

} // namespace bento::actors
