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
  for (auto& iid : change.upserted_items)
    put_item(iid);
  for (auto& iid : change.stock_items)
    put_item(iid);
  for (auto& iid : change.deleted_items)
    ops.push_back({keys::item_record(rid, iid), std::nullopt});
  for (auto& oid : change.reservations_put)
    ops.push_back({keys::reservation_record(rid, oid), codec::encode(st.reservations().at(oid))});
  for (auto& oid : change.reservations_erased)
    ops.push_back({keys::reservation_record(rid, oid), std::nullopt});
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

} // namespace bento::actors
