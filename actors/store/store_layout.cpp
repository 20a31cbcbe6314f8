#include "actors/store/store_layout.hpp"

#include <map>

#include <spdlog/spdlog.h>

#include "actors/common/keys.hpp"
#include "actors/store/entity_store.hpp"
#include "protocol/codec/entity_codec.hpp"

namespace bento::actors {

using namespace bento::domain;
using store::column;

namespace {

const std::string layout_key = "store.layout";
// sharded/2: restaurants may keep an item's stock in a stock record (keys::item_stock_record). A binary of
// sharded/1 would read the stale stock of the item records and oversell, so it must refuse such a data dir:
// the value changes, and a sharded/1 data dir (which holds no stock record) becomes sharded/2 unchanged.
const std::string layout_value = "sharded/2";
const std::string layout_before_stock_records = "sharded/1";
const std::string shards_key = "store.shards";

/// Keys written by this layout start with a shard id (< 4096: first byte below 0x10); earlier keys with a
/// letter. This is what makes a migration cut short by a crash safe to run again.
bool migrated(std::string_view key) {
  return !key.empty() && static_cast<unsigned char>(key[0]) < 0x20;
}

std::string segment(std::string_view key, size_t from) {
  auto end = key.find('/', from);
  return std::string(key.substr(from, end == std::string_view::npos ? std::string_view::npos : end - from));
}

std::string last_segment(std::string_view key) {
  auto slash = key.rfind('/');
  return std::string(slash == std::string_view::npos ? key : key.substr(slash + 1));
}

/// The entity an earlier-layout record belongs to (its owner writes it in its own batches).
std::string owner_of(column cf, std::string_view key, std::string_view value) {
  auto starts = [&](std::string_view p) { return key.rfind(p, 0) == 0; };
  if (cf == column::entities) {
    if (starts("u/"))
      return keys::user_entity(segment(key, 2));
    if (starts("r/"))
      return keys::restaurant_entity(segment(key, 2));
    if (starts("o/"))
      return keys::order_entity(segment(key, 2));
  } else {
    if (starts("oc/") || starts("om/") || starts("ocs/") || starts("oms/") || starts("po/"))
      return keys::order_entity(last_segment(key));
    if (starts("uid/"))
      return keys::user_entity(std::string(value));
  }
  return {};
}

outcome<bool> has_data(const store::entity_store& db) {
  bool any = false;
  for (auto cf : {column::entities, column::indexes, column::events}) {
    auto scanned = db.scan(cf, "", {}, [&](std::string_view, std::string_view) {
      any = true;
      return false;
    });
    if (!scanned)
      return scanned.error();
  }
  return any;
}

/// Staged rewrites committed 2000 at a time: a migration pass never holds a whole column in one batch.
struct batched_writes {
  store::entity_store& db;
  store::write_batch batch;
  size_t staged_count = 0;
  size_t written = 0;
  outcome<unit_t> failed = unit;

  /// One record staged; false (stop scanning) if a commit failed.
  bool staged() { return ++staged_count < 2000 || flush(); }
  bool flush() {
    if (staged_count == 0)
      return true;
    failed = db.commit(batch);
    batch = store::write_batch{};
    written += staged_count;
    staged_count = 0;
    return bool(failed);
  }
  outcome<size_t> finish() {
    if (!failed || !flush())
      return failed.error();
    return written;
  }
};

/// Moves the earlier layout's records of one column behind their shards' prefixes, in bounded batches during
/// one pass (the iterator reads a snapshot, so its own writes do not disturb it).
outcome<size_t> migrate_records(store::entity_store& db, column cf) {
  batched_writes out{db};
  auto scanned = db.scan(cf, "", {}, [&](std::string_view key, std::string_view value) {
    if (migrated(key))
      return true; // moved already by a run a crash cut short
    auto owner = owner_of(cf, key, value);
    // A record nobody owns by these rules stays reachable in shard 0 rather than being dropped.
    auto shard = owner.empty() ? shard_id{0} : shard_of(owner, db.shard_count());
    out.batch.put(cf, shard_prefix(shard) + std::string(key), value);
    out.batch.erase(cf, key);
    return out.staged();
  });
  if (!scanned)
    return scanned.error();
  return out.finish();
}

/// Renumbers the earlier layout's events (one node-wide sequence, 8-byte keys) into per-shard sequences.
outcome<size_t> migrate_events(store::entity_store& db) {
  std::map<shard_id, uint64_t> next;
  // A migration cut short left some events renumbered already: go on after them.
  auto counted = db.scan(column::events, "", {}, [&](std::string_view key, std::string_view) {
    if (key.size() == 10 && migrated(key)) {
      shard_id shard = static_cast<shard_id>((static_cast<unsigned char>(key[0]) << 8) | static_cast<unsigned char>(key[1]));
      next[shard] = std::max(next[shard], store::event_seq(key));
    }
    return true;
  });
  if (!counted)
    return counted.error();
  batched_writes out{db};
  auto scanned = db.scan(column::events, "", {}, [&](std::string_view key, std::string_view value) {
    if (key.size() != 8)
      return true;
    event ev;
    auto shard = codec::decode(value, ev) ? shard_of(ev.entity, db.shard_count()) : shard_id{0};
    out.batch.put(column::events, store::event_key(shard, ++next[shard]), value);
    out.batch.erase(column::events, key);
    return out.staged();
  });
  if (!scanned)
    return scanned.error();
  return out.finish();
}

outcome<unit_t> write_layout(store::entity_store& db) {
  store::write_batch batch;
  batch.put(column::meta, layout_key, layout_value);
  batch.put(column::meta, shards_key, std::to_string(db.shard_count()));
  return db.commit(batch);
}

} // namespace

outcome<unit_t> ensure_store_layout(store::entity_store& db) {
  auto layout = db.get(column::meta, layout_key);
  if (!layout)
    return layout.error();
  if (*layout && (**layout == layout_value || **layout == layout_before_stock_records)) {
    auto shards = db.get(column::meta, shards_key);
    if (!shards)
      return shards.error();
    auto formed = *shards ? std::string(**shards) : std::string("?");
    if (formed != std::to_string(db.shard_count()))
      return fail(errc::invalid_argument, "this data dir was formed with " + formed + " shards; BENTO_SHARDS is "
                                            + std::to_string(db.shard_count()) + " (the count cannot change)");
    if (**layout == layout_value)
      return unit;
    spdlog::warn("store.layout_upgraded from={} to={}", layout_before_stock_records, layout_value);
    return write_layout(db);
  }
  if (*layout)
    return fail(errc::invalid_argument, "unknown store layout '" + **layout + "' (written by a newer version?)");
  auto any = has_data(db);
  if (!any)
    return any.error();
  if (*any) {
    spdlog::warn("store.layout_upgrade from=unsharded shards={}", db.shard_count());
    size_t moved = 0;
    for (auto cf : {column::entities, column::indexes, column::outbox}) {
      auto n = migrate_records(db, cf);
      if (!n)
        return n.error();
      moved += *n;
    }
    auto events = migrate_events(db);
    if (!events)
      return events.error();
    // The catalog is a read model of the old numbering: it rebuilds from the entities.
    store::write_batch wipe;
    auto scanned = db.scan(column::catalog, "", {}, [&](std::string_view key, std::string_view) {
      wipe.erase(column::catalog, key);
      return true;
    });
    if (!scanned)
      return scanned.error();
    if (!wipe.empty())
      if (auto done = db.commit(wipe); !done)
        return done.error();
    spdlog::warn("store.layout_upgraded records={} events={}", moved, *events);
  }
  if (auto done = write_layout(db); !done)
    return done.error();
  db.resume_event_sequences();
  return unit;
}

} // namespace bento::actors
