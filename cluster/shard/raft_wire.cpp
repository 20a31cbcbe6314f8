#include "cluster/shard/raft_wire.hpp"

#include "bento/v1/replication.pb.h"
#include "cluster/consensus/membership_change.hpp"
#include "cluster/shard/entry_codec.hpp"

namespace bento::cluster::shard {

namespace pb = bento::v1;
using namespace bento::cluster::consensus;

std::string encode_raft_batch(const std::vector<group_message>& messages) {
  pb::RaftBatch batch;
  for (auto& gm : messages) {
    auto group = gm.group;
    auto& m = gm.message;
    auto* o = batch.add_messages();
    o->set_group(group);
    o->set_type(static_cast<uint32_t>(m.type));
    o->set_from(m.from);
    o->set_to(m.to);
    o->set_term(m.term);
    o->set_log_term(m.log_term);
    o->set_index(m.index);
    for (auto& e : m.entries) {
      auto* at = o->add_entries();
      at->set_index(e.index);
      at->mutable_entry()->set_term(e.term);
      at->mutable_entry()->set_type(static_cast<uint32_t>(e.type));
      at->mutable_entry()->set_data(e.data);
    }
    o->set_commit(m.commit);
    o->set_reject(m.reject);
    o->set_reject_hint(m.reject_hint);
    if (m.type == message_type::install_snapshot) {
      o->mutable_snapshot()->set_index(m.snapshot.index);
      o->mutable_snapshot()->set_term(m.snapshot.term);
      o->mutable_snapshot()->set_membership(encode_membership(m.snapshot.members));
      o->set_snapshot_data(m.snapshot_data);
      o->set_snapshot_chunk(m.snapshot_chunk);
      o->set_snapshot_more(m.snapshot_more);
    }
    o->set_context(m.context);
    o->set_transfer(m.transfer);
    o->set_peers_match(m.peers_match);
  }
  return batch.SerializeAsString();
}

bool decode_raft_batch(std::string_view bytes, std::vector<group_message>& out, size_t max_messages) {
  pb::RaftBatch batch;
  if (!batch.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return false;
  if (static_cast<size_t>(batch.messages_size()) > max_messages)
    return false;
  out.clear();
  out.reserve(static_cast<size_t>(batch.messages_size()));
  for (auto& o : batch.messages()) {
    if (o.group() > 0xffff || o.type() >= static_cast<uint32_t>(message_type_count))
      return false;
    group_message gm;
    gm.group = static_cast<group_id>(o.group());
    auto& m = gm.message;
    m.type = static_cast<message_type>(o.type());
    m.from = o.from();
    m.to = o.to();
    m.term = o.term();
    m.log_term = o.log_term();
    m.index = o.index();
    for (auto& at : o.entries()) {
      if (at.entry().type() > static_cast<uint32_t>(entry_type::conf_change))
        return false;
      // A normal entry is an entity's write batch that every replica applies once it is committed: one that does
      // not decode would stop each of them there (shard_replica aborts rather than diverge), at every restart.
      gm.batches.emplace_back();
      if (at.entry().type() == static_cast<uint32_t>(entry_type::normal) && !at.entry().data().empty())
        if (!decode_batch(at.entry().data(), gm.batches.back()))
          return false;
      m.entries.push_back(entry{at.entry().term(), at.index(), static_cast<entry_type>(at.entry().type()),
                                at.entry().data()});
    }
    m.commit = o.commit();
    m.reject = o.reject();
    m.reject_hint = o.reject_hint();
    if (o.has_snapshot()) {
      auto members = decode_membership(o.snapshot().membership());
      if (!members)
        return false;
      m.snapshot = snapshot_meta{o.snapshot().index(), o.snapshot().term(), std::move(*members)};
      if (m.type == message_type::install_snapshot) {
        m.snapshot_data = o.snapshot_data();
        m.snapshot_chunk = o.snapshot_chunk();
        m.snapshot_more = o.snapshot_more();
      }
    }
    m.context = o.context();
    m.transfer = o.transfer();
    m.peers_match = o.peers_match();
    out.push_back(std::move(gm));
  }
  return true;
}

} // namespace bento::cluster::shard
