#include "cluster/shard/entry_codec.hpp"

#include "bento/v1/replication.pb.h"
#include "cluster/consensus/membership_change.hpp"
#include "protocol/codec/entity_codec.hpp"

namespace bento::cluster::shard {

namespace pb = bento::v1;

namespace {

template <class Pb>
bool parse(std::string_view bytes, Pb& m) {
  return m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

} // namespace

std::string encode_batch(const store::write_batch& batch) {
  pb::ShardBatch m;
  for (auto& op : batch.ops()) {
    auto* o = m.add_ops();
    o->set_column(static_cast<uint32_t>(op.cf));
    o->set_erase(op.erase);
    o->set_key(op.key);
    o->set_value(op.value);
    o->set_range(op.range);
  }
  auto& encoded = batch.encoded_events();
  for (size_t i = 0; i < batch.events().size(); ++i)
    m.add_events(i < encoded.size() && !encoded[i].empty() ? encoded[i] : codec::encode(batch.events()[i]));
  return m.SerializeAsString();
}

bool decode_batch(std::string_view bytes, store::write_batch& out) {
  pb::ShardBatch m;
  if (!parse(bytes, m))
    return false;
  out = store::write_batch{};
  for (auto& o : m.ops()) {
    // Only an entity's own columns travel in a shard's log: anything else is not a batch this node wrote.
    auto cf = static_cast<store::column>(o.column());
    if (o.column() > static_cast<uint32_t>(store::column::raft) || !store::sharded(cf) || cf == store::column::events)
      return false;
    if (o.range())
      out.erase_range(cf, o.key(), o.value());
    else if (o.erase())
      out.erase(cf, o.key());
    else
      out.put(cf, o.key(), o.value());
  }
  // A range no store takes (write_batch::refused_range: one ending before it starts, or one RocksDB 7.8 would
  // corrupt a memtable with) would stop every replica at this entry once committed: a committed entry cannot be
  // skipped. Keys in an entry come without their shard prefix.
  if (out.refused_range(0))
    return false;
  for (auto& bytes_of_event : m.events()) {
    // An order's event (most of a shard's, each with its whole order) is kept as the leader encoded it: its
    // fields but the payload are read, the bytes checked to be well framed; the order itself is checked by
    // whoever decodes it, as are the records beside it, which no replica decodes either.
    domain::event ev;
    auto type = codec::event_type_of(bytes_of_event);
    if (type && store::payload_on_demand(*type)) {
      if (!codec::decode_header(bytes_of_event, ev))
        return false;
      if (store::payload_on_demand(ev.type)) { // the parser's view of the type, which memory files it under
        out.append_encoded_event(std::move(ev), bytes_of_event);
        continue;
      }
    }
    if (!codec::decode(bytes_of_event, ev))
      return false;
    out.append_event(std::move(ev));
  }
  return true;
}

std::string encode_entry(const consensus::entry& e) {
  pb::RaftEntry m;
  m.set_term(e.term);
  m.set_type(static_cast<uint32_t>(e.type));
  m.set_data(e.data);
  return m.SerializeAsString();
}

bool decode_entry(std::string_view bytes, consensus::index_t index, consensus::entry& out) {
  pb::RaftEntry m;
  if (!parse(bytes, m) || m.type() > static_cast<uint32_t>(consensus::entry_type::conf_change))
    return false;
  out.term = m.term();
  out.index = index;
  out.type = static_cast<consensus::entry_type>(m.type());
  out.data = m.data();
  return true;
}

std::string encode_hard_state(const consensus::hard_state& hs) {
  pb::RaftHardState m;
  m.set_term(hs.term);
  m.set_vote(hs.vote);
  m.set_commit(hs.commit);
  return m.SerializeAsString();
}

bool decode_hard_state(std::string_view bytes, consensus::hard_state& out) {
  pb::RaftHardState m;
  if (!parse(bytes, m))
    return false;
  out = consensus::hard_state{m.term(), m.vote(), m.commit()};
  return true;
}

std::string encode_snapshot_meta(const consensus::snapshot_meta& meta) {
  pb::RaftSnapshotMeta m;
  m.set_index(meta.index);
  m.set_term(meta.term);
  m.set_membership(consensus::encode_membership(meta.members));
  return m.SerializeAsString();
}

bool decode_snapshot_meta(std::string_view bytes, consensus::snapshot_meta& out) {
  pb::RaftSnapshotMeta m;
  if (!parse(bytes, m))
    return false;
  auto members = consensus::decode_membership(m.membership());
  if (!members)
    return false;
  out = consensus::snapshot_meta{m.index(), m.term(), std::move(*members)};
  return true;
}

std::string encode_index(consensus::index_t i) {
  std::string out(8, '\0');
  for (int k = 7; k >= 0; --k, i >>= 8)
    out[static_cast<size_t>(k)] = static_cast<char>(i & 0xff);
  return out;
}

bool decode_index(std::string_view bytes, consensus::index_t& out) {
  if (bytes.size() != 8)
    return false;
  out = 0;
  for (unsigned char c : bytes)
    out = (out << 8) | c;
  return true;
}

} // namespace bento::cluster::shard
