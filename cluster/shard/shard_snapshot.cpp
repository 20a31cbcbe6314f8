#include "cluster/shard/shard_snapshot.hpp"

#include <limits>

#include "bento/v1/replication.pb.h"

namespace bento::cluster::shard {

namespace pb = bento::v1;
using store::column;

namespace {

constexpr column shard_columns[] = {column::entities, column::indexes, column::outbox, column::events};

/// The first key after every key that starts with `prefix` (the prefix is a shard id: never all 0xff).
std::string range_end(std::string prefix) {
  for (auto i = prefix.size(); i-- > 0;) {
    auto c = static_cast<unsigned char>(prefix[i]);
    if (c != 0xff) {
      prefix[i] = static_cast<char>(c + 1);
      prefix.resize(i + 1);
      return prefix;
    }
  }
  return std::string(prefix.size() + 1, '\xff');
}

bool parse(std::string_view bytes, const std::string& prefix, pb::ShardSnapshot& out) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return false;
  if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || out.format() != 1)
    return false;
  for (auto& r : out.records()) {
    if (r.column() > static_cast<uint32_t>(column::raft) || !store::sharded(static_cast<column>(r.column())))
      return false;
    if (r.key().size() <= prefix.size() || r.key().compare(0, prefix.size(), prefix) != 0)
      return false;
    // An event's key is its shard and an 8-byte sequence: anything else would throw the shard's sequence off.
    if (static_cast<column>(r.column()) == column::events && r.key().size() != prefix.size() + 8)
      return false;
  }
  return true;
}

} // namespace

std::optional<std::string> encode_shard_snapshot(const store::entity_store& db, const std::string& prefix,
                                                 size_t max_bytes) {
  pb::ShardSnapshot snap;
  snap.set_format(1);
  size_t bytes = 0;
  for (auto cf : shard_columns) {
    bool fits = true;
    auto scanned = db.scan(cf, prefix, {}, [&](std::string_view key, std::string_view value) {
      bytes += key.size() + value.size() + 8;
      if (bytes > max_bytes) {
        fits = false;
        return false;
      }
      auto* r = snap.add_records();
      r->set_column(static_cast<uint32_t>(cf));
      r->set_key(std::string(key));
      r->set_value(std::string(value));
      return true;
    });
    if (!scanned || !fits)
      return std::nullopt;
  }
  return snap.SerializeAsString();
}

bool valid_shard_snapshot(std::string_view bytes, const std::string& prefix) {
  pb::ShardSnapshot snap;
  return parse(bytes, prefix, snap);
}

bool stage_shard_snapshot(std::string_view bytes, const std::string& prefix, store::write_batch& batch) {
  pb::ShardSnapshot snap;
  if (!parse(bytes, prefix, snap))
    return false;
  auto end = range_end(prefix);
  for (auto cf : shard_columns)
    batch.erase_range(cf, prefix, end);
  for (auto& r : snap.records())
    batch.put(static_cast<column>(r.column()), r.key(), r.value());
  return true;
}

} // namespace bento::cluster::shard
