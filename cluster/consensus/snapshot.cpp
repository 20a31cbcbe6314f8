// Snapshots: sending one to a follower behind the compacted log, installing one, and compaction bookkeeping.
#include "cluster/consensus/node.hpp"

#include "cluster/consensus/invariant.hpp"

#include <algorithm>

namespace bento::cluster::consensus {

bool node::send_snapshot(node_id to, progress& pr) {
  // A snapshot that is still unstable here has no data the transport could send yet.
  if (log_.unstable_snapshot()) return false;
  const snapshot_meta meta = log_.durable_snapshot();
  if (meta.index == 0 || meta.index + 1 < pr.next) return false;
  pr.become_snapshot(meta.index);
  message m;
  m.type = message_type::install_snapshot;
  m.to = to;
  m.snapshot = meta;
  m.context = round_;
  send(std::move(m));
  return true;
}

void node::handle_snapshot(const message& m) {
  const snapshot_meta& meta = m.snapshot;
  message r = reply(m, message_type::append_resp);
  if (meta.index <= log_.committed()) {
    // Older than what we have: just tell the leader where we are.
    r.index = log_.committed();
    send(std::move(r));
    return;
  }
  if (log_.match_term(meta.index, meta.term)) {
    // We hold the snapshot's last entry: everything up to it is committed, keep our log.
    log_.commit_to(meta.index);
    r.index = log_.committed();
    send(std::move(r));
    return;
  }
  log_.restore(meta);
  reset_configs(meta.index, meta.members);
  r.index = log_.last_index();
  send(std::move(r));
}

void node::report_snapshot(node_id to, bool ok) {
  if (role_ != role::leader) return;
  auto it = progress_.find(to);
  if (it == progress_.end() || it->second.state != progress_state::snapshot) return;
  progress& pr = it->second;
  if (!ok) pr.pending_snapshot = 0;
  pr.become_probe();
  // Wait for the follower's answer (or a heartbeat) before probing: an immediate retry would likely fail again.
  pr.probe_sent = true;
}

void node::report_unreachable(node_id to) {
  if (role_ != role::leader) return;
  auto it = progress_.find(to);
  if (it != progress_.end() && it->second.state == progress_state::replicate) it->second.become_probe();
}

std::pair<errc, snapshot_meta> node::compact(index_t index) {
  BENTO_RAFT_INVARIANT(!ready_outstanding_, "compact between ready() and advance()");
  snapshot_meta meta;
  if (index > log_.applied() || index < log_.first_index() - 1) return {errc::invalid_argument, meta};
  const auto t = log_.term(index);
  BENTO_RAFT_INVARIANT(t.has_value(), "no term for an applied index");
  meta.index = index;
  meta.term = *t;
  meta.members = membership_at(index);
  // Memberships before the one in force at `index` can no longer be asked for.
  auto keep = std::find_if(configs_.rbegin(), configs_.rend(), [&](const auto& c) { return c.first <= index; });
  if (keep != configs_.rend()) configs_.erase(configs_.begin(), std::prev(keep.base()));
  return {errc::ok, meta};
}

}  // namespace bento::cluster::consensus
