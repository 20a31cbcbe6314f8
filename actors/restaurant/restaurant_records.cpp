#include "actors/restaurant/restaurant_records.hpp"

#include "actors/common/keys.hpp"
#include "protocol/codec/entity_codec.hpp"

namespace bento::actors {

std::vector<record_op> records_of(const restaurant_state& st, const restaurant_change& change) {
  std::vector<record_op> ops;
  const auto& rid = st.info()->id;
  if (change.restaurant_changed)
    ops.push_back({keys::restaurant_record(rid), codec::encode(*st.info())});
  if (change.meta_changed)
    ops.push_back({keys::restaurant_meta_record(rid), codec::encode(st.meta())});
  auto put_item = [&](const std::string& iid) {
    ops.push_back({keys::item_record(rid, iid), codec::encode(st.items().at(iid))});
  };
  // The item record holds the stock as of its write: a stock record left from before would override it.
  for (auto& iid : change.upserted_items) {
    put_item(iid);
    ops.push_back({keys::item_stock_record(rid, iid), std::nullopt});
  }
  for (auto& iid : change.stock_items) {
    // After an upsert's erasure in the same change, the same stock again: the batch keeps its writes' order.
    auto& item = st.items().at(iid);
    ops.push_back({keys::item_stock_record(rid, iid), keys::item_stock_value(item.stock, item.version)});
  }
  for (auto& iid : change.deleted_items) {
    ops.push_back({keys::item_record(rid, iid), std::nullopt});
    ops.push_back({keys::item_stock_record(rid, iid), std::nullopt});
  }
  for (auto& oid : change.reservations_put)
    ops.push_back({keys::reservation_record(rid, oid), codec::encode(st.reservations().at(oid))});
  for (auto& oid : change.reservations_erased)
    ops.push_back({keys::reservation_record(rid, oid), std::nullopt});
  for (auto& [day, oid] : change.tombstones_erased)
    ops.push_back({keys::tombstone_record(rid, day, oid), std::nullopt});
  for (auto& [day, oid] : change.tombstones_put) // after the erasures: an entry erased and put again stays
    ops.push_back({keys::tombstone_record(rid, day, oid), std::string()});
  for (auto& [day, iid] : change.changed_day_used) {
    auto units = st.used(day, iid);
    ops.push_back({keys::day_used_record(rid, day, iid),
                   units > 0 ? std::optional<std::string>(std::to_string(units)) : std::nullopt});
  }
  return ops;
}

bool load_record(restaurant_state& st, const std::string& rid, std::string_view key, std::string_view value) {
  auto header = keys::restaurant_record(rid);
  if (key == header) {
    domain::restaurant r;
    if (!codec::decode(value, r))
      return false;
    st.load(std::move(r));
    return true;
  }
  auto prefix = keys::restaurant_children(rid);
  if (key.substr(0, prefix.size()) != prefix)
    return true; // not this restaurant's
  auto rest = key.substr(prefix.size());
  if (rest.rfind("i/", 0) == 0) {
    domain::menu_item item;
    if (!codec::decode(value, item))
      return false;
    st.load(std::move(item));
  } else if (rest.rfind("s/", 0) == 0) {
    auto stock = keys::parse_item_stock(rest, value);
    if (!stock)
      return false;
    st.load_stock(stock->item_id, stock->stock, stock->version);
  } else if (rest.rfind("v/", 0) == 0) {
    domain::reservation resv;
    if (!codec::decode(value, resv))
      return false;
    st.load(std::move(resv));
  } else if (rest.rfind("d/", 0) == 0) {
    auto used = keys::parse_promise(rest, value);
    if (!used)
      return false;
    st.load_used(used->day, used->item_id, used->units);
  } else if (rest == "m") {
    domain::restaurant_meta meta;
    if (!codec::decode(value, meta))
      return false;
    st.load(std::move(meta));
  }
  return true;
}

read_result load_restaurant(restaurant_state& st, const std::string& rid, const record_reader& reader) {
  std::optional<std::string> bad;
  auto one = [&](const std::string& key) -> domain::outcome<bool> {
    auto value = reader.get(key);
    if (!value)
      return value.error();
    if (*value && !load_record(st, rid, key, **value))
      bad = key;
    return value->has_value();
  };
  auto all = [&](const std::string& prefix) -> domain::outcome<domain::unit_t> {
    return reader.scan(prefix, [&](std::string_view key, std::string_view value) {
      if (load_record(st, rid, key, value))
        return true;
      bad = std::string(key);
      return false;
    });
  };
  auto header = one(keys::restaurant_record(rid));
  if (!header)
    return header.error();
  if (!*header || bad)
    return bad;
  if (auto meta = one(keys::restaurant_meta_record(rid)); !meta)
    return meta.error();
  for (auto& prefix : {keys::item_records(rid), keys::item_stock_records(rid), keys::day_used_records(rid)}) {
    if (bad)
      return bad;
    if (auto scanned = all(prefix); !scanned)
      return scanned.error();
  }
  if (!bad && st.needs_all_reservations())
    if (auto scanned = all(keys::reservation_records(rid)); !scanned)
      return scanned.error();
  return bad;
}

read_result fetch_reservation(restaurant_state& st, const std::string& rid, const std::string& oid,
                              const record_reader& reader) {
  if (st.reservation_known(oid))
    return std::optional<std::string>();
  auto key = keys::reservation_record(rid, oid);
  auto value = reader.get(key);
  if (!value)
    return value.error();
  if (!*value)
    return std::optional<std::string>();
  if (!load_record(st, rid, key, **value))
    return std::optional<std::string>(key);
  return std::optional<std::string>();
}

read_result sweep_tombstones(restaurant_state& st, const std::string& rid, const record_reader& reader,
                             size_t limit, restaurant_change& change, bool& more) {
  more = false;
  auto prefix = keys::tombstone_records(rid);
  const auto& today = st.meta().last_today;
  std::vector<std::pair<std::string, std::string>> closed; // (day, order)
  std::optional<std::string> bad;
  auto scanned = reader.scan(prefix, [&](std::string_view key, std::string_view) {
    auto rest = key.substr(prefix.size());
    auto slash = rest.rfind('/');
    if (slash == std::string_view::npos) {
      bad = std::string(key);
      return false;
    }
    std::string day(rest.substr(0, slash));
    if (day >= today)
      return false; // the index is in day order: the rest are open days
    if (closed.size() == limit) {
      more = true;
      return false;
    }
    closed.emplace_back(std::move(day), std::string(rest.substr(slash + 1)));
    return true;
  });
  if (!scanned)
    return scanned.error();
  if (bad)
    return bad;
  for (auto& [day, oid] : closed) {
    auto fetched = fetch_reservation(st, rid, oid, reader);
    if (!fetched || *fetched)
      return fetched;
    st.forget_tombstone(day, oid, change);
  }
  return std::optional<std::string>();
}

} // namespace bento::actors
