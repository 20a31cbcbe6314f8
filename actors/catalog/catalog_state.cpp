#include "actors/catalog/catalog_state.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <set>
#include <unordered_map>
#include <spdlog/spdlog.h>

#include "actors/catalog/catalog_keys.hpp"
#include "actors/common/keys.hpp"
#include "actors/store/entity_store.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/calendar.hpp"
#include "protocol/domain/ids.hpp"

namespace bento::actors {

using namespace bento::domain;
namespace ck = catalog_keys;
using store::column;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool parse_int(std::string_view s, int64_t& out) {
  return keys::whole_number(s, out);
}

/// The stock record of an item (see catalog_keys::stock).
struct stock_record {
  bool daily = false;
  std::optional<int64_t> units; // plain items: free units
  std::string day;              // with a daily item's units
};

std::optional<stock_record> parse_stock(std::string_view v) {
  if (v.empty() || (v[0] != 'p' && v[0] != 'd'))
    return std::nullopt;
  stock_record r;
  r.daily = v[0] == 'd';
  auto rest = v.substr(1);
  if (rest.empty())
    return r.daily ? std::optional<stock_record>(r) : std::nullopt;
  auto at = rest.find('@');
  int64_t n = 0;
  if (!parse_int(rest.substr(0, at), n))
    return std::nullopt;
  r.units = n;
  if (at != std::string_view::npos)
    r.day = std::string(rest.substr(at + 1));
  return r;
}

std::string encode_stock(const stock_record& r) {
  std::string out(1, r.daily ? 'd' : 'p');
  if (r.units)
    out += std::to_string(*r.units);
  if (!r.day.empty())
    out += "@" + r.day;
  return out;
}

/// Cursors are the hex of a key without its one-letter prefix; a bad one is the client's mistake.
outcome<std::string> cursor_key(const std::string& cursor, const std::string& must_start_with) {
  std::string key;
  if (!cursor.empty() && !from_hex(cursor, key))
    return fail(errc::invalid_argument, "cursor is not valid");
  if (!key.empty() && key.rfind(must_start_with, 0) != 0)
    return fail(errc::invalid_argument, "cursor does not belong to this query");
  return key;
}

} // namespace

/// A catch-up round applies many events in one batch (one WAL write, rather than one per event competing with
/// the entities' commits); later events of the round must see what earlier ones staged. Only each key's last
/// value is written: a lunch rush moves the same few items' counts with every order, and writing every step
/// made the catalog insert several times more memtable entries than it keeps.
struct catalog_state::writes {
  std::unordered_map<std::string, std::optional<std::string>> overlay;
  size_t events = 0;

  void put(const std::string& key, std::string value) { overlay[key] = std::move(value); }
  void erase(const std::string& key) { overlay[key] = std::nullopt; }
  store::write_batch batch() const {
    store::write_batch b;
    for (auto& [key, value] : overlay)
      if (value)
        b.put(column::catalog, key, *value);
      else
        b.erase(column::catalog, key);
    return b;
  }
};

outcome<std::optional<std::string>> catalog_state::read(const std::string& key, const writes* w) const {
  if (w)
    if (auto it = w->overlay.find(key); it != w->overlay.end())
      return it->second;
  return store_->get(column::catalog, key);
}

outcome<std::optional<restaurant>> catalog_state::find_restaurant(const std::string& rid, const writes* w) const {
  auto raw = read(ck::restaurant(rid), w);
  if (!raw)
    return raw.error();
  if (!*raw)
    return std::optional<restaurant>{};
  restaurant r;
  if (!codec::decode(**raw, r))
    return fail(errc::storage_failure, "catalog: undecodable restaurant " + rid);
  return std::optional<restaurant>{std::move(r)};
}

catalog_state::catalog_state(store::entity_store& store) : store_(&store), applied_(store.shard_count(), 0) {}

outcome<unit_t> catalog_state::commit(writes& w, const std::vector<std::pair<uint16_t, uint64_t>>& marks) {
  bool changes = !w.overlay.empty(); // else only marks move (events that are not the catalog's)
  for (auto [shard, seq] : marks)
    if (shard < applied_.size() && seq > applied_[shard])
      w.put(ck::applied_of(shard), std::to_string(seq));
  w.put(ck::counts, std::to_string(restaurants_) + " " + std::to_string(items_));
  auto batch = w.batch();
  auto done = store_->commit(batch);
  if (!done)
    return done.error();
  for (auto [shard, seq] : marks)
    if (shard < applied_.size() && seq > applied_[shard])
      applied_[shard] = seq;
  if (changes)
    ++revision_;
  return unit;
}

// One batch per round, not per shard: orders spread their events over every shard, and a commit (with its
// applied mark) per shard per round made the catalog write up to 64 times per round under load.
struct catalog_state::round {
  std::unique_ptr<writes> w = std::make_unique<writes>();
  std::vector<std::pair<uint16_t, uint64_t>> marks;
  std::pair<uint64_t, uint64_t> counts_before;

  void mark(uint16_t shard, uint64_t seq) {
    for (auto& m : marks)
      if (m.first == shard) {
        m.second = std::max(m.second, seq);
        return;
      }
    marks.emplace_back(shard, seq);
  }
};

outcome<unit_t> catalog_state::flush(round& r) {
  auto done = commit(*r.w, r.marks);
  if (!done)
    std::tie(restaurants_, items_) = r.counts_before; // the batch did not happen
  r.counts_before = std::make_pair(restaurants_, items_);
  r.w = std::make_unique<writes>();
  r.marks.clear();
  return done;
}

outcome<unit_t> catalog_state::stage(const event& ev, const std::string& today, writes& w) {
  if (auto* r = std::get_if<restaurant>(&ev.payload)) {
    auto old = find_restaurant(r->id, &w);
    if (!old)
      return old.error();
    auto now = ck::by_place_prefix + ck::by_place_suffix(r->place, r->name, r->id);
    if (*old) {
      auto before = ck::by_place_prefix + ck::by_place_suffix((*old)->place, (*old)->name, (*old)->id);
      if (before != now)
        w.erase(before);
    } else {
      ++restaurants_;
    }
    w.put(ck::restaurant(r->id), codec::encode(*r));
    w.put(now, r->id);
    return unit;
  }
  if (auto* item = std::get_if<menu_item>(&ev.payload)) {
    auto owner = find_restaurant(item->restaurant_id, &w);
    if (!owner)
      return owner.error();
    if (!*owner)
      return unit; // an item of a restaurant this node never saw: nothing to list it under
    auto stock_key = ck::stock(item->restaurant_id, item->id);
    auto existing = read(stock_key, &w);
    if (!existing)
      return existing.error();
    auto item_key = ck::item_prefix + ck::item_suffix((*owner)->place, item->restaurant_id, item->id);
    if (ev.type == "menu.item_deleted") {
      if (*existing) {
        --items_;
        w.erase(item_key);
        w.erase(stock_key);
      }
      return unit;
    }
    if (!*existing)
      ++items_;
    w.put(item_key, codec::encode(*item));
    stock_record s;
    s.daily = item->daily_stock > 0;
    if (!s.daily)
      s.units = item->stock;
    w.put(stock_key, encode_stock(s));
    return unit;
  }
  auto* levels = std::get_if<std::vector<stock_level>>(&ev.payload);
  if (!levels)
    return unit;
  // Units of an item used on a day (a daily item shows its daily stock less them).
  auto used_on_day = [&](const stock_level& l) {
    if (!is_valid_date(l.stock_date) || l.stock_date < today)
      return; // a past day is never shown
    auto key = ck::used(l.stock_date, ev.restaurant_id, l.item_id);
    if (l.stock > 0)
      w.put(key, std::to_string(l.stock));
    else
      w.erase(key);
  };
  // A plain item's free units.
  auto free_units = [&](const stock_level& l) -> outcome<unit_t> {
    auto key = ck::stock(ev.restaurant_id, l.item_id);
    auto raw = read(key, &w);
    if (!raw)
      return raw.error();
    if (!*raw)
      return unit; // unknown item
    auto s = parse_stock(**raw);
    if (!s)
      s = stock_record{};
    if (s->daily)
      return unit; // a daily item's stock is its daily stock less the day's used count
    s->units = l.stock;
    w.put(key, encode_stock(*s));
    return unit;
  };
  // "stock.levels" (one per restaurant change since 2026-11-27): a level with a day is that day's used units, one
  // without free units. Data dirs from before hold the two kinds as separate events.
  bool mixed = ev.type == "stock.levels";
  bool used_only = ev.type == "stock.promised" || ev.type == "stock.day_used";
  if (!mixed && !used_only && ev.type != "stock.changed")
    return unit;
  for (auto& l : *levels) {
    if (used_only || (mixed && !l.stock_date.empty()))
      used_on_day(l);
    else if (auto done = free_units(l); !done)
      return done;
  }
  return unit;
}

outcome<unit_t> catalog_state::apply(const event& ev, const std::string& today) {
  writes w;
  auto counts_before = std::make_pair(restaurants_, items_);
  auto staged = stage(ev, today, w);
  if (staged)
    staged = commit(w, {{ev.shard, ev.seq}});
  if (!staged)
    std::tie(restaurants_, items_) = counts_before; // the batch did not happen
  return staged;
}

outcome<unit_t> catalog_state::load(const restaurant& r) {
  event ev;
  ev.type = "restaurant.created";
  ev.restaurant_id = r.id;
  ev.payload = r;
  return apply(ev, kept_from_);
}

outcome<unit_t> catalog_state::load(const menu_item& item) {
  event ev;
  ev.type = "menu.item_upserted";
  ev.restaurant_id = item.restaurant_id;
  ev.payload = item;
  return apply(ev, kept_from_);
}

outcome<unit_t> catalog_state::load_used(const std::string& rid, const std::string& day, const std::string& iid,
                                         int64_t units, const std::string& today) {
  event ev;
  ev.type = "stock.day_used";
  ev.restaurant_id = rid;
  ev.payload = std::vector<stock_level>{{iid, units, day}};
  return apply(ev, today);
}

outcome<unit_t> catalog_state::catch_up(const std::string& today) {
  if (today != kept_from_)
    if (auto dropped = drop_days_before(today); !dropped)
      return dropped;
  round r;
  r.counts_before = std::make_pair(restaurants_, items_);
  for (uint16_t shard = 0; shard < applied_.size(); ++shard)
    if (auto done = catch_up_shard(shard, today, r); !done)
      return done;
  if (r.w->events > 0 || !r.marks.empty())
    return flush(r);
  return unit;
}

// In a rush most events are orders' (each with the whole order), more than the store keeps in memory between
// two rounds: the scan that reads them from RocksDB then decodes only these.
bool catalog_event(std::string_view type) {
  auto starts = [&](std::string_view p) { return type.substr(0, p.size()) == p; };
  return starts("restaurant.") || starts("menu.") || starts("stock.");
}

outcome<unit_t> catalog_state::catch_up_shard(uint16_t shard, const std::string& today, round& r) {
  auto visible = store_->last_event_seq(shard);
  auto applied = applied_[shard];
  if (visible == applied)
    return unit;
  // Numbers only grow, except when a snapshot replaced the shard's events: then either they went back (a
  // replica behind this one's history cannot send a snapshot, but a wiped store could) or what follows the
  // applied mark is gone. Either way the events cannot be replayed: rebuild this shard's part.
  // Usually every event since the last round is still in the store's memory: no read, no decode, and no gap
  // to look for (this process wrote each of them, and a snapshot or a failed write clears that memory).
  std::vector<std::shared_ptr<const event>> recent;
  bool in_memory = visible > applied && store_->recent_events(shard, applied, visible, recent, catalog_event);
  if (visible < applied || (!in_memory && store_->first_event_seq(shard) > applied + 1)) {
    if (r.w->events > 0 || !r.marks.empty())
      if (auto flushed = flush(r); !flushed)
        return flushed;
    auto rebuilt = rebuild_shard(shard, today);
    r.counts_before = std::make_pair(restaurants_, items_);
    return rebuilt;
  }
  // Bounded batches, each written with the last event it covers per shard; events that are not the catalog's
  // (orders, users) still move the mark, so a restart does not read them again.
  outcome<unit_t> failed = unit;
  uint64_t last = applied;
  auto visit = [&](const event& ev) {
    last = ev.seq;
    if (!catalog_event(ev.type))
      return true;
    failed = stage(ev, today, *r.w);
    if (!failed)
      return false;
    if (++r.w->events < 256)
      return true;
    r.mark(shard, ev.seq);
    failed = flush(r);
    return bool(failed);
  };
  if (in_memory) {
    for (auto& ev : recent)
      if (!visit(*ev))
        break;
  } else if (auto scanned = store_->scan_events(shard, applied, visible, visit, catalog_event); !scanned) {
    return scanned.error();
  }
  if (!failed) {
    // What this round staged and did not write is dropped with its counts; the next round reads it again.
    std::tie(restaurants_, items_) = r.counts_before;
    return failed;
  }
  r.mark(shard, std::max(last, visible));
  return unit;
}

outcome<unit_t> catalog_state::drop_days_before(const std::string& today) {
  store::write_batch b;
  size_t dropped = 0;
  auto scanned = store_->scan(column::catalog, ck::used_prefix, {}, [&](std::string_view key, std::string_view) {
    auto day = key.substr(ck::used_prefix.size(), 10);
    if (day >= today)
      return false; // ordered by day: the rest is today or later
    b.erase(column::catalog, key);
    ++dropped;
    return true;
  });
  if (!scanned)
    return scanned.error();
  if (!b.empty()) {
    ++revision_;
    auto done = store_->commit(b);
    if (!done)
      return done.error();
  }
  kept_from_ = today;
  if (dropped > 0)
    spdlog::info("catalog.days_dropped before={} records={}", today, dropped);
  return unit;
}

outcome<unit_t> catalog_state::load_shard(uint16_t shard, const std::string& today) {
  outcome<unit_t> failed = unit;
  // Restaurant headers ("r/<id>") sort before their children ("r/<id>/..."), so each item finds its restaurant
  // (a restaurant and its records are in one shard).
  auto sp = domain::shard_prefix(shard);
  auto scanned = store_->scan(column::entities, sp + "r/", {}, [&](std::string_view stored, std::string_view value) {
    auto key = stored.substr(sp.size());
    auto rest = key.substr(2);
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) {
      restaurant r;
      if (codec::decode(value, r))
        failed = load(r);
    } else if (rest.substr(slash + 1).rfind("i/", 0) == 0) {
      menu_item item;
      if (codec::decode(value, item))
        failed = load(item);
    } else if (auto used = keys::parse_promise(rest.substr(slash + 1), value)) {
      failed = load_used(std::string(rest.substr(0, slash)), used->day, used->item_id, used->units, today);
    }
    return bool(failed);
  });
  if (!scanned)
    return scanned.error();
  return failed;
}

outcome<unit_t> catalog_state::drop_shard(uint16_t shard) {
  // What the catalog holds of the shard's restaurants, found from its own records (the entity records may
  // already be the snapshot's, without restaurants this node knew of).
  enum kind : uint8_t { other, a_restaurant, an_item };
  auto shards = static_cast<shard_id>(applied_.size());
  std::set<std::string> rids;
  std::vector<std::pair<std::string, kind>> keys;
  std::vector<std::string> places;
  auto scanned = store_->scan(column::catalog, ck::restaurant_prefix, {}, [&](std::string_view key, std::string_view value) {
    std::string rid(key.substr(ck::restaurant_prefix.size()));
    if (shard_of(keys::restaurant_entity(rid), shards) != shard)
      return true;
    rids.insert(rid);
    keys.emplace_back(key, a_restaurant);
    restaurant r;
    if (codec::decode(value, r)) {
      keys.emplace_back(ck::by_place_prefix + ck::by_place_suffix(r.place, r.name, r.id), other);
      // Items are keyed by place first; an item's place is its restaurant's.
      places.push_back(ck::item_prefix + r.place + '\0' + rid + '\0');
    }
    places.push_back(ck::stock(rid, ""));
    return true;
  });
  if (!scanned)
    return scanned.error();
  for (auto& prefix : places) {
    bool items = prefix.rfind(ck::item_prefix, 0) == 0;
    auto done = store_->scan(column::catalog, prefix, {}, [&](std::string_view key, std::string_view) {
      keys.emplace_back(key, items ? an_item : other);
      return true;
    });
    if (!done)
      return done.error();
  }
  auto used = store_->scan(column::catalog, ck::used_prefix, {}, [&](std::string_view key, std::string_view) {
    // "u/<day>/<rid>/<iid>"
    auto rest = key.substr(ck::used_prefix.size());
    auto slash = rest.find('/');
    auto rid = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    rid = rid.substr(0, rid.find('/'));
    if (rids.count(std::string(rid)))
      keys.emplace_back(key, other);
    return true;
  });
  if (!used)
    return used.error();
  // In batches, each with the counts as they stand after it, so a crash between two leaves them true.
  constexpr size_t batch = 1000;
  for (size_t from = 0; from < keys.size(); from += batch) {
    writes w;
    auto before = std::make_pair(restaurants_, items_);
    for (size_t k = from; k < std::min(keys.size(), from + batch); ++k) {
      w.erase(keys[k].first);
      if (keys[k].second == a_restaurant && restaurants_ > 0)
        --restaurants_;
      if (keys[k].second == an_item && items_ > 0)
        --items_;
    }
    if (auto done = commit(w, {}); !done) {
      std::tie(restaurants_, items_) = before;
      return done;
    }
  }
  return unit;
}

outcome<unit_t> catalog_state::rebuild_shard(uint16_t shard, const std::string& today) {
  // Everything up to this number is in the entity records; later events are replayed afterwards.
  auto from = store_->last_event_seq(shard);
  writes begin;
  begin.put(ck::rebuilding(shard), "1");
  if (auto done = commit(begin, {}); !done)
    return done;
  if (auto dropped = drop_shard(shard); !dropped)
    return dropped;
  if (auto loaded = load_shard(shard, today); !loaded)
    return loaded;
  writes end;
  end.put(ck::applied_of(shard), std::to_string(from));
  end.erase(ck::rebuilding(shard));
  if (auto done = commit(end, {}); !done)
    return done;
  spdlog::warn("catalog.shard_rebuilt shard={} applied_before={} from_seq={} restaurants={} items={}", shard,
               applied_[shard], from, restaurants_, items_);
  applied_[shard] = from;
  ++shard_rebuilds_;
  return unit;
}

outcome<uint64_t> catalog_state::prune_events(int64_t older_than_ms, uint64_t max_per_shard) {
  uint64_t pruned = 0;
  for (uint16_t shard = 0; shard < applied_.size(); ++shard) {
    auto done = store_->prune_events(shard, applied_[shard], older_than_ms, max_per_shard);
    if (!done)
      return done.error();
    pruned += *done;
  }
  events_pruned_ += pruned;
  return pruned;
}

outcome<unit_t> catalog_state::rebuild(const std::string& today) {
  // Everything below these numbers is in the entity records already; later events are replayed afterwards
  // (they carry whole states, so seeing one twice converges).
  std::vector<uint64_t> from_seq(applied_.size());
  for (uint16_t shard = 0; shard < applied_.size(); ++shard)
    from_seq[shard] = store_->last_event_seq(shard);
  // A rebuild that a crash interrupted left some records: start from nothing.
  store::write_batch wipe;
  auto wiped = store_->scan(column::catalog, "", {}, [&](std::string_view key, std::string_view) {
    wipe.erase(column::catalog, key);
    return true;
  });
  if (!wiped)
    return wiped.error();
  ++revision_;
  if (!wipe.empty())
    if (auto done = store_->commit(wipe); !done)
      return done.error();
  restaurants_ = items_ = 0;
  std::fill(applied_.begin(), applied_.end(), 0);
  kept_from_ = today;
  for (uint16_t shard = 0; shard < applied_.size(); ++shard)
    if (auto loaded = load_shard(shard, today); !loaded)
      return loaded;
  // Written last: until this mark exists, a start rebuilds.
  writes mark;
  uint64_t events = 0;
  for (uint16_t shard = 0; shard < applied_.size(); ++shard) {
    mark.put(ck::applied_of(shard), std::to_string(from_seq[shard]));
    events += from_seq[shard];
  }
  mark.put(ck::built, "1");
  if (auto marked = commit(mark, {}); !marked)
    return marked;
  applied_ = from_seq;
  spdlog::info("catalog.rebuilt restaurants={} items={} events_before={}", restaurants_, items_, events);
  return unit;
}

outcome<unit_t> catalog_state::open(const std::string& today) {
  auto built = store_->get(column::catalog, ck::built);
  if (!built)
    return built.error();
  if (!*built) {
    if (auto done = rebuild(today); !done)
      return done;
  } else {
    for (uint16_t shard = 0; shard < applied_.size(); ++shard) {
      auto raw = store_->get(column::catalog, ck::applied_of(shard));
      if (!raw)
        return raw.error();
      int64_t seq = 0;
      if (*raw && parse_int(**raw, seq) && seq > 0)
        applied_[shard] = static_cast<uint64_t>(seq);
    }
    // A shard rebuild that a crash cut short is done again (dropping what it had loaded, then loading).
    std::vector<uint16_t> unfinished;
    auto found = store_->scan(column::catalog, ck::rebuilding_prefix, {}, [&](std::string_view key, std::string_view) {
      int64_t shard = 0;
      if (parse_int(key.substr(ck::rebuilding_prefix.size()), shard) && shard >= 0
          && static_cast<size_t>(shard) < applied_.size())
        unfinished.push_back(static_cast<uint16_t>(shard));
      return true;
    });
    if (!found)
      return found.error();
    auto counts = store_->get(column::catalog, ck::counts);
    if (!counts)
      return counts.error();
    if (*counts) {
      auto space = (*counts)->find(' ');
      int64_t r = 0, i = 0;
      if (space != std::string::npos && parse_int(std::string_view(**counts).substr(0, space), r)
          && parse_int(std::string_view(**counts).substr(space + 1), i)) {
        restaurants_ = static_cast<uint64_t>(r);
        items_ = static_cast<uint64_t>(i);
      }
    }
    for (auto shard : unfinished)
      if (auto rebuilt = rebuild_shard(shard, today); !rebuilt)
        return rebuilt;
  }
  if (auto dropped = drop_days_before(today); !dropped)
    return dropped;
  return catch_up(today);
}

outcome<catalog_page> catalog_state::query(const menu_query& q, const std::string& today) const {
  catalog_page page;
  auto limit = std::clamp<uint32_t>(q.limit, 1, 100); // the edges check it; a peer's query may not have
  auto place_prefix = q.place.empty() ? std::string() : q.place + '\0';
  auto start = cursor_key(q.cursor, place_prefix);
  if (!start)
    return start.error();
  auto text = lower(q.text);
  const auto& day = is_valid_date(q.date) ? q.date : today;
  std::string last_key; // last key looked at, without the prefix
  std::optional<restaurant> owner;
  size_t scanned = 0;
  outcome<unit_t> failed = unit;
  auto prefix = ck::item_prefix + place_prefix;
  auto start_after = start->empty() ? std::string() : ck::item_prefix + *start;
  auto done = store_->scan(column::catalog, prefix, start_after, [&](std::string_view key, std::string_view value) {
    if (++scanned > scan_budget) {
      // A rare filter over a large place: answer with what was found and a cursor past what was looked at,
      // rather than hold the catalog (and every other reader) for a scan of the whole place.
      page.next_cursor = to_hex(last_key);
      return false;
    }
    menu_item item;
    bool keep = codec::decode(value, item);
    keep = keep && (q.tag.empty() || std::find(item.tags.begin(), item.tags.end(), q.tag) != item.tags.end());
    keep = keep
           && (!q.for_meal || item.meals.empty()
               || std::find(item.meals.begin(), item.meals.end(), *q.for_meal) != item.meals.end());
    keep = keep
           && (text.empty() || lower(item.name).find(text) != std::string::npos
               || lower(item.description).find(text) != std::string::npos);
    if (keep && page.items.size() == limit) {
      page.next_cursor = to_hex(last_key);
      return false;
    }
    last_key.assign(key.substr(ck::item_prefix.size()));
    if (!keep)
      return true;
    if (!owner || owner->id != item.restaurant_id) {
      auto found = find_restaurant(item.restaurant_id);
      if (!found) {
        failed = found.error();
        return false;
      }
      owner = std::move(*found);
      if (!owner)
        return true;
    }
    int64_t stock = item.stock;
    auto raw_stock = store_->get(column::catalog, ck::stock(item.restaurant_id, item.id));
    if (!raw_stock) {
      failed = raw_stock.error();
      return false;
    }
    auto s = *raw_stock ? parse_stock(**raw_stock) : std::nullopt;
    if (item.daily_stock > 0) {
      int64_t used = 0;
      auto raw_used = store_->get(column::catalog, ck::used(day, item.restaurant_id, item.id));
      if (!raw_used) {
        failed = raw_used.error();
        return false;
      }
      if (*raw_used && !parse_int(**raw_used, used))
        used = 0;
      stock = std::max<int64_t>(0, item.daily_stock - used);
    } else if (s && !s->daily && s->units) {
      stock = *s->units;
    }
    item.stock = stock;
    item.stock_date = day;
    page.items.push_back(catalog_entry{owner->name, std::move(item)});
    return true;
  });
  if (!done)
    return done.error();
  if (!failed)
    return failed.error();
  return page;
}

outcome<restaurant_list> catalog_state::restaurants(const restaurants_query& q) const {
  restaurant_list out;
  auto place_prefix = q.place.empty() ? std::string() : q.place + '\0';
  auto start = cursor_key(q.cursor, place_prefix);
  if (!start)
    return start.error();
  auto limit = std::clamp<uint32_t>(q.limit, 1, 500);
  std::string last_key;
  outcome<unit_t> failed = unit;
  auto start_after = start->empty() ? std::string() : ck::by_place_prefix + *start;
  auto done = store_->scan(column::catalog, ck::by_place_prefix + place_prefix, start_after,
                           [&](std::string_view key, std::string_view rid) {
                             if (out.restaurants.size() == limit) {
                               out.next_cursor = to_hex(last_key);
                               return false;
                             }
                             auto r = find_restaurant(std::string(rid));
                             if (!r) {
                               failed = r.error();
                               return false;
                             }
                             last_key.assign(key.substr(ck::by_place_prefix.size()));
                             if (*r)
                               out.restaurants.push_back(std::move(**r));
                             return true;
                           });
  if (!done)
    return done.error();
  if (!failed)
    return failed.error();
  return out;
}

} // namespace bento::actors
