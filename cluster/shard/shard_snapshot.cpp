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

std::optional<std::string> encode_shard_chunk(const store::entity_store& db, const store::read_view& view,
                                              const std::string& prefix, snapshot_cursor& cursor, size_t max_bytes) {
  pb::ShardSnapshot snap;
  snap.set_format(1);
  size_t bytes = 0;
  constexpr size_t columns = sizeof(shard_columns) / sizeof(shard_columns[0]);
  while (!cursor.done) {
    if (cursor.column >= columns) {
      cursor.done = true;
      break;
    }
    auto cf = shard_columns[cursor.column];
    bool full = false;
    auto scanned = db.scan(
      cf, prefix, cursor.after,
      [&](std::string_view key, std::string_view value) {
        if (bytes > 0 && bytes + key.size() + value.size() + 8 > max_bytes) {
          full = true;
          return false;
        }
        bytes += key.size() + value.size() + 8;
        auto* r = snap.add_records();
        r->set_column(static_cast<uint32_t>(cf));
        r->set_key(std::string(key));
        r->set_value(std::string(value));
        cursor.after.assign(key);
        return true;
      },
      &view);
    if (!scanned)
      return std::nullopt;
    if (full)
      break;
    ++cursor.column; // this column is done
    cursor.after.clear();
  }
  return snap.SerializeAsString();
}

std::optional<std::string> encode_shard_snapshot(const store::entity_store& db, const std::string& prefix,
                                                 size_t max_bytes) {
  snapshot_cursor cursor;
  auto view = db.view();
  auto chunk = encode_shard_chunk(db, *view, prefix, cursor, max_bytes);
  if (!chunk || !cursor.done)
    return std::nullopt;
  return chunk;
}

bool stage_snapshot_chunk(std::string_view bytes, const std::string& prefix, group_id group,
                          store::write_batch& batch) {
  pb::ShardSnapshot snap;
  if (!parse(bytes, prefix, snap))
    return false;
  for (auto& r : snap.records())
    batch.put(column::raft, staged_key(group, static_cast<uint8_t>(r.column()), r.key()), r.value());
  return true;
}

void clear_staged_snapshot(group_id group, store::write_batch& batch) {
  batch.erase_range(column::raft, staged_prefix(group), range_end(staged_prefix(group)));
}

domain::outcome<domain::unit_t> install_staged_snapshot(const store::entity_store& db, const std::string& prefix,
                                                        group_id group, store::write_batch& batch) {
  auto end = range_end(prefix);
  for (auto cf : shard_columns)
    batch.erase_range(cf, prefix, end);
  auto staged = staged_prefix(group);
  auto scanned = db.scan(column::raft, staged, {}, [&](std::string_view key, std::string_view value) {
    // Staged key: the staging prefix, the column's byte, the record's key (checked when it was staged).
    auto cf = static_cast<column>(static_cast<uint8_t>(key[staged.size()]));
    batch.put(cf, key.substr(staged.size() + 1), value);
    return true;
  });
  if (!scanned)
    return scanned.error();
  clear_staged_snapshot(group, batch);
  return domain::unit;
}

} // namespace bento::cluster::shard
