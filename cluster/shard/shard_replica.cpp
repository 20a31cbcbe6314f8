#include "cluster/shard/shard_replica.hpp"

#include <algorithm>
#include <cstdlib>
#include <limits>

#include <spdlog/spdlog.h>

#include "cluster/shard/entry_codec.hpp"
#include "cluster/shard/shard_snapshot.hpp"

namespace bento::cluster::shard {

using namespace bento::cluster::consensus;

consensus::node_id member_id(const std::string& node_name) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : node_name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h == 0 ? 1 : h;
}

domain::outcome<std::unique_ptr<shard_replica>> shard_replica::open(store::shard_store& shard, group_id group,
                                                                  replica_options options,
                                                                  const membership& founders) {
  std::unique_ptr<shard_replica> r(new shard_replica(shard, group, options));
  auto storage = raft_storage::open(shard.db(), group);
  if (!storage)
    return storage.error();
  r->storage_ = std::move(*storage);
  if (r->storage_->empty() && founders.contains(options.raft.id))
    if (auto done = r->storage_->bootstrap(founders); !done)
      return done.error();
  r->node_ = std::make_unique<consensus::node>(options.raft, *r->storage_, r->storage_->applied());
  {
    // A transfer that a restart cut off left staged chunks: they can never complete.
    store::write_batch stale;
    clear_staged_snapshot(group, stale);
    if (auto done = shard.db().commit(stale); !done)
      return done.error();
  }
  std::lock_guard lock(r->mutex_);
  r->drain_locked(); // committed entries not applied before a crash are applied now
  return r;
}

void shard_replica::set_sender(sender s) {
  std::lock_guard lock(mutex_);
  send_ = std::move(s);
}

void shard_replica::drain_locked() {
  // A ready the disk refused stays ours until it is written: nothing after it may be taken from the core.
  if (unwritten_ && !finish_ready_locked())
    return;
  while (node_->has_ready()) {
    unwritten_.emplace(unwritten_ready{});
    auto& u = *unwritten_;
    u.rd = node_->get_ready();
    auto& rd = u.rd;
    // 1. Persist (log, hard state) and apply what is committed, in one atomic write: entries committed in this
    //    ready are durable on a majority already, so applying them with the persist is safe, and a crash
    //    between the two cannot leave the applied index behind the state.
    storage_->stage(rd, u.batch);
    if (rd.snapshot) {
      // The core restored a snapshot: the shard's range becomes the leader's data in the same write.
      if (!received_ || received_->index != rd.snapshot->index || received_->term != rd.snapshot->term) {
        spdlog::critical("shard.snapshot_without_data group={} index={}", group_, rd.snapshot->index);
        std::abort(); // step() hands the core only snapshots whose data it holds and has checked
      }
      if (auto staged = install_staged_snapshot(shard_.db(), shard_.prefix(), group_, u.batch); !staged) {
        spdlog::critical("shard.snapshot_unreadable group={} error={}", group_, staged.error().message);
        std::abort(); // the core already believes the snapshot restored: stop rather than diverge
      }
      u.applied = rd.snapshot->index;
    }
    for (auto& e : rd.committed_entries) {
      u.applied = e.index;
      if (e.type != entry_type::normal || e.data.empty())
        continue;
      store::write_batch change;
      if (!take_checked_locked(e, change) && !decode_batch(e.data, change)) {
        // A committed entry this node cannot read: continuing would leave the replica silently different.
        spdlog::critical("shard.undecodable_entry group={} index={}", group_, e.index);
        std::abort();
      }
      shard_.prefix_keys(change);
      u.batch.append(std::move(change)); // moved: a copy was every op and event of the entry once more
    }
    if (u.applied > 0) {
      storage_->stage_applied(u.applied, u.batch);
      checked_.erase(checked_.begin(), checked_.upper_bound(u.applied));
    }
    u.batch.set_shard(shard_.shard());
    if (!finish_ready_locked())
      return;
  }
  maybe_compact_locked();
  update_alone_locked();
  track_lead_locked();
  notify_locked();
}

bool shard_replica::finish_ready_locked() {
  auto& u = *unwritten_;
  auto& rd = u.rd;
  if (!u.batch.empty()) {
    auto done = shard_.db().commit(u.batch);
    if (!done) {
      // The disk refuses writes (full, read-only). The core believes a ready durable once advanced, so it is
      // neither advanced nor answered: this member stays silent (it loses any lead, its peers go on without
      // it) and writes the same ready again on the next tick, until the disk takes it.
      if (!disk_refused_) {
        disk_refused_ = true;
        spdlog::error("shard.persist_refused group={} error={}", group_, done.error().message);
      }
      return false;
    }
  }
  if (disk_refused_) {
    disk_refused_ = false;
    spdlog::warn("shard.persist_resumed group={}", group_);
  }
  storage_->written(rd);
  if (u.applied > 0)
    storage_->applied_written(u.applied);
  if (rd.snapshot) {
    received_.reset();
    shard_.db().resume_event_sequence(shard_.shard());
    shard_.db().announce_replaced(shard_.shard()); // the catalog reads the shard's new events
    ++snapshots_.installed;
    spdlog::info("shard.snapshot_installed group={} index={} term={}", group_, rd.snapshot->index,
                 rd.snapshot->term);
  }
  // 2. Send (only now: what they promise is durable).
  std::vector<consensus::node_id> unsent_snapshots;
  if (send_)
    for (auto& m : rd.messages) {
      if (m.type == message_type::install_snapshot) {
        auto what = fill_snapshot_locked(m);
        if (what == snapshot_send::failed)
          unsent_snapshots.push_back(m.to);
        if (what != snapshot_send::send)
          continue;
      }
      send_(m);
    }
  node_->advance(rd);
  for (auto to : unsent_snapshots)
    node_->report_snapshot(to, false);
  unwritten_.reset();
  return true;
}

void shard_replica::track_lead_locked() {
  bool leads = node_->role() == role::leader;
  consensus::term_t now = leads ? node_->term() : 0;
  if (now != led_term_) {
    led_term_ = now;
    direct_.write_and_end_epoch();
  }
}

void shard_replica::revoke() {
  std::lock_guard lock(mutex_);
  direct_.write_and_end_epoch();
}

bool shard_replica::stalled() const {
  std::lock_guard lock(mutex_);
  return unwritten_.has_value();
}

uint64_t shard_replica::epoch() const {
  return epoch_.load(std::memory_order_acquire);
}

bool shard_replica::committed(const store::write_mark& m) const {
  if (m.direct)
    return direct_.written(m);
  std::lock_guard lock(mutex_);
  // Applied here while this member leads the term it was proposed in: at that index is that entry.
  return node_->role() == role::leader && node_->term() == m.term && storage_->applied() >= m.index;
}

bool shard_replica::landed(const store::write_mark& m) const {
  if (m.direct)
    return direct_.landed(m);
  std::lock_guard lock(mutex_);
  // In a later term, what the mark covers was committed or dropped before that term's leader served.
  return node_->term() != m.term || storage_->applied() >= m.index;
}

shard_replica::snapshot_send shard_replica::fill_snapshot_locked(message& m) {
  // A transfer to this peer is under way: the core asks again when it probes; the chunks carry on.
  if (auto it = outgoing_.find(m.to);
      it != outgoing_.end() && ticks_ - it->second.sent_at < static_cast<uint64_t>(options_.snapshot_retry_ticks))
    return snapshot_send::hold;
  if (auto failed = snapshot_failed_at_.find(m.to);
      failed != snapshot_failed_at_.end() && ticks_ - failed->second < snapshot_backoff_ticks)
    return snapshot_send::failed;
  // Not heard from within an election timeout (down, or a replaced member still in the group as a learner):
  // reading the shard for it would be wasted; the core asks again, and a transfer starts once it answers.
  if (auto* pr = node_->progress_of(m.to); pr && !pr->recent_active)
    return snapshot_send::failed;
  // Data as of the applied index, not the compaction point the core named: RocksDB holds only the current
  // state, which is consistent with `applied` while we hold the mutex (applying happens under it), and the view
  // taken now keeps it so for every chunk. A later snapshot serves the follower as well (it is committed, and
  // its term is in the log).
  auto at = storage_->applied();
  auto term = storage_->term(at);
  if (!term) {
    spdlog::warn("shard.snapshot_not_sent group={} to={} reason=no_term_at_applied applied={}", group_, m.to, at);
    return snapshot_send::failed;
  }
  outgoing_snapshot out;
  // The membership in force at `at`, not the latest appended one (a change after `at` may yet be undone).
  out.meta = snapshot_meta{at, *term, node_->membership_at(at)};
  out.view = shard_.db().view();
  auto chunk = encode_shard_chunk(shard_.db(), *out.view, shard_.prefix(), out.cursor, options_.snapshot_max_bytes);
  if (!chunk) {
    snapshot_failed_at_[m.to] = ticks_;
    ++snapshots_.too_large;
    spdlog::error("shard.snapshot_not_sent group={} to={} reason=store_unreadable", group_, m.to);
    return snapshot_send::failed;
  }
  snapshot_failed_at_.erase(m.to);
  m.snapshot = out.meta;
  m.snapshot_data = std::move(*chunk);
  m.snapshot_chunk = 0;
  m.snapshot_more = !out.cursor.done;
  out.next = 1;
  out.sent_at = ticks_;
  ++snapshots_.sent;
  ++snapshots_.chunks_sent;
  spdlog::info("shard.snapshot_sent group={} to={} index={} first_chunk_bytes={} more={}", group_, m.to, at,
               m.snapshot_data.size(), m.snapshot_more);
  outgoing_[m.to] = std::move(out);
  return snapshot_send::send;
}

void shard_replica::continue_snapshot_locked(node_id to, uint32_t chunk, index_t index) {
  auto it = outgoing_.find(to);
  if (it == outgoing_.end() || it->second.meta.index != index || chunk + 1 != it->second.next ||
      it->second.cursor.done || node_->role() != role::leader || !send_)
    return; // late, repeated, or for a transfer given up
  auto& out = it->second;
  auto data = encode_shard_chunk(shard_.db(), *out.view, shard_.prefix(), out.cursor, options_.snapshot_max_bytes);
  if (!data) {
    outgoing_.erase(it);
    node_->report_snapshot(to, false);
    return;
  }
  message m;
  m.type = message_type::install_snapshot;
  m.from = options_.raft.id;
  m.to = to;
  m.term = node_->term();
  m.snapshot = out.meta;
  m.snapshot_data = std::move(*data);
  m.snapshot_chunk = out.next++;
  m.snapshot_more = !out.cursor.done;
  out.sent_at = ticks_;
  ++snapshots_.chunks_sent;
  send_(m);
}

void shard_replica::receive_snapshot_chunk_locked(const message& m) {
  // The core would restore the log from the meta alone: without the shard's data this replica would then hold a
  // log that says "applied" over state it never had. Chunks are checked and staged as they come; only when the
  // last one is in does the core see the snapshot, and the install replaces the range in one write.
  auto refuse = [&](const char* why) {
    ++snapshots_.refused;
    incoming_.reset();
    spdlog::warn("shard.snapshot_refused group={} from={} index={} chunk={} reason={}", group_, m.from,
                 m.snapshot.index, m.snapshot_chunk, why);
  };
  if (m.snapshot_chunk == 0)
    incoming_ = incoming_snapshot{m.snapshot.index, m.snapshot.term, 0};
  if (!incoming_ || incoming_->index != m.snapshot.index || incoming_->term != m.snapshot.term ||
      incoming_->next != m.snapshot_chunk)
    return; // a chunk of another transfer, or out of order: the leader starts again when it hears nothing
  store::write_batch batch;
  if (m.snapshot_chunk == 0)
    clear_staged_snapshot(group_, batch);
  if (!stage_snapshot_chunk(m.snapshot_data, shard_.prefix(), group_, batch))
    return refuse("invalid_data");
  if (auto done = shard_.db().commit(batch); !done)
    return refuse("staging_failed");
  ++incoming_->next;
  if (m.snapshot_more) {
    if (!send_)
      return;
    message ack;
    ack.type = message_type::snapshot_resp;
    ack.from = options_.raft.id;
    ack.to = m.from;
    ack.term = m.term;
    ack.index = m.snapshot.index;
    ack.context = m.snapshot_chunk;
    send_(ack);
    return;
  }
  incoming_.reset();
  received_ = received_snapshot{m.snapshot.index, m.snapshot.term};
  message meta = m;
  meta.snapshot_data.clear();
  node_->step(meta);
  drain_locked();
  received_.reset(); // installed by the drain above, or not wanted by the core (older than what we hold)
}

void shard_replica::retry_snapshots_locked() {
  for (auto it = outgoing_.begin(); it != outgoing_.end();) {
    auto* pr = node_->role() == role::leader ? node_->progress_of(it->first) : nullptr;
    if (!pr || pr->state != consensus::progress_state::snapshot) {
      it = outgoing_.erase(it); // installed (or no longer wanted)
      continue;
    }
    if (ticks_ - it->second.sent_at < static_cast<uint64_t>(options_.snapshot_retry_ticks)) {
      ++it;
      continue;
    }
    auto to = it->first;
    it = outgoing_.erase(it);
    node_->report_snapshot(to, false); // a chunk was lost on the way: probe again, which starts a fresh transfer
  }
}

replica_snapshot_stats shard_replica::snapshot_stats() const {
  std::lock_guard lock(mutex_);
  return snapshots_;
}

void shard_replica::notify_locked() {
  if (waiters_.empty())
    return;
  // A proposal stays ours only within the term we proposed it in, as leader: after that, whatever is applied
  // at its index may be another leader's entry.
  bool leads = node_->role() == role::leader;
  auto term = node_->term();
  auto applied = storage_->applied();
  std::vector<std::pair<std::function<void(bool)>, bool>> ready;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    bool ours = leads && it->second.term == term;
    if (ours && it->first > applied) {
      ++it;
      continue;
    }
    ready.emplace_back(std::move(it->second.done), ours);
    it = waiters_.erase(it);
  }
  for (auto& [done, ok] : ready)
    done(ok);
}

store::write_mark shard_replica::mark(uint64_t epoch) const {
  if (alone_ && (epoch == 0 || epoch == epoch_.load(std::memory_order_acquire)))
    return direct_.pending();
  std::lock_guard lock(mutex_);
  if (epoch != 0 && epoch != epoch_.load(std::memory_order_acquire))
    return store::unknown_mark;
  if (last_proposed_ > storage_->applied())
    return {proposed_term_, last_proposed_};
  return {};
}

void shard_replica::when_committed(const store::write_mark& m, std::function<void(bool)> done) {
  if (m.index == store::unknown_mark.index) {
    done(false);
    return;
  }
  if (m.direct) {
    direct_.when_written(m, std::move(done));
    return;
  }
  std::lock_guard lock(mutex_);
  waiters_.emplace(m.index, waiter{m.term, std::move(done)});
  notify_locked();
}

void shard_replica::maybe_compact_locked() {
  auto applied = storage_->applied();
  // The log is kept for members behind: keep_entries at most, but only as far back as the furthest one when
  // every member is known to be closer (the leader's matches; a follower hears them in appends). A log that
  // short mostly ends in the memtable, never flushed and compacted: in a 3-node lunch rush (10,000 kept) the log
  // was a third of what the nodes wrote to disk (30.6 KB per order, now 20.9 KB; orders/s within the noise).
  index_t keep = options_.keep_entries;
  if (auto lowest = node_->peers_match(); lowest > 0)
    keep = std::min(keep, std::max(options_.caught_up_keep_entries, applied - std::min(lowest, applied)));
  // Compact in steps, never after every entry: each compaction is one RocksDB range tombstone, and every
  // iterator over the log column pays for each tombstone in the memtable (compacting per entry once the log
  // reached keep_entries made replication slower with every write).
  const index_t step = std::max<index_t>(256, keep / 2);
  if (applied < storage_->snapshot().index + keep + step)
    return;
  auto upto = applied - keep;
  auto [err, meta] = node_->compact(upto);
  if (err != errc::ok)
    return;
  store::write_batch batch;
  storage_->stage_compaction(meta, batch);
  if (auto done = shard_.db().commit(batch); !done) {
    spdlog::error("shard.compaction_failed group={} error={}", group_, done.error().message);
    return;
  }
  storage_->compaction_written(meta);
  ++compactions_;
}

uint64_t shard_replica::compactions() const {
  std::lock_guard lock(mutex_);
  return compactions_;
}

index_t shard_replica::first_index() const {
  std::lock_guard lock(mutex_);
  return storage_->first_index();
}

void shard_replica::update_alone_locked() {
  const auto& members = node_->membership();
  bool now = node_->role() == role::leader && node_->committed_in_term() && members.voters.size() == 1
             && members.learners.empty() && members.is_voter(options_.raft.id);
  if (now == alone_.load(std::memory_order_relaxed))
    return;
  // A switch between direct writes and the log: every queued direct write is written first (a new member's
  // snapshot must hold it), none is under way (the exclusive gate), and the write epoch ends, so that no
  // entity's answers wait on marks of both kinds (they count apart) — the host reloads the shard's entities.
  std::unique_lock gate(alone_gate_);
  direct_.write_and_end_epoch();
  alone_ = now;
}

domain::outcome<domain::unit_t> shard_replica::commit(store::write_batch& batch) {
  return commit_in(batch, std::nullopt);
}

domain::outcome<domain::unit_t> shard_replica::commit(store::write_batch& batch, uint64_t epoch) {
  return commit_in(batch, epoch);
}

domain::outcome<domain::unit_t> shard_replica::commit_in(store::write_batch& batch, std::optional<uint64_t> epoch) {
  // Nothing is written in either refusal below: the caller may retry (503 with Retry-After, the SDK's own
  // retry), which a storage_failure (the disk's) would not invite — the SDK saw one at every leadership transfer.
  auto fenced = [&] {
    return domain::fail(domain::errc::unavailable,
                        "shard " + std::to_string(group_) + " changed hands here since the entity was loaded; retry");
  };
  {
    std::shared_lock alone(alone_gate_);
    if (alone_) {
      // The disk's refusal at once, as a write of its own would answer (nothing queued).
      if (auto writable = shard_.db().check_writable(); !writable)
        return writable;
      if (epoch && *epoch != epoch_.load(std::memory_order_acquire))
        return fenced();
      shard_.prefix_keys(batch);
      if (epoch) {
        // An entity's write: queued for the driver's next group (its answers wait for it, reply_gate).
        auto queued = direct_.queue(batch, epoch);
        if (queued == direct_writes::queued::yes)
          return domain::unit;
        if (queued == direct_writes::queued::epoch_ended)
          return fenced();
      } else {
        // Other writers (cluster metadata, an index rebuild) expect their write made when this returns; what
        // entities queued before goes first.
        direct_.write();
      }
      return shard_.db().commit(batch);
    }
  }
  std::unique_lock lock(mutex_);
  if (epoch && *epoch != epoch_.load(std::memory_order_acquire))
    return fenced();
  if (unwritten_)
    return domain::fail(domain::errc::storage_failure,
                        "shard " + std::to_string(group_) + ": this node's disk refuses writes; retry");
  auto proposed = node_->propose(encode_batch(batch));
  if (!proposed.ok())
    return domain::fail(domain::errc::unavailable,
                        std::string("shard ") + std::to_string(group_) + " cannot take writes here now ("
                          + to_string(proposed.error) + "); retry");
  last_proposed_ = proposed.index;
  proposed_term_ = proposed.term;
  // The entity's events reach listeners (the catalog) when applied, through the store's commit.
  if (!wake_) {
    drain_locked();
    return domain::unit;
  }
  // Nothing promised yet (the answer waits for the commit): the driver writes and sends it with whatever else
  // comes in before its round, so a busy shard pays one log write and one frame per peer for many proposals.
  deferred_ = true;
  auto wake = wake_;
  lock.unlock();
  wake();
  return domain::unit;
}

void shard_replica::defer_to(std::function<void()> wake) {
  std::lock_guard lock(mutex_);
  direct_.set_wake(wake);
  if (!wake)
    direct_.write(); // after the wake is gone (no write queued from now on): nothing queued stays behind
  wake_ = std::move(wake);
}

void shard_replica::flush() {
  direct_.write();
  std::lock_guard lock(mutex_);
  if (!deferred_)
    return;
  deferred_ = false;
  drain_locked();
}

void shard_replica::tick() {
  std::lock_guard lock(mutex_);
  ++ticks_;
  if (unwritten_) {
    // The core may not move while a ready is outstanding: only try the disk again (its clock stands still,
    // so this member starts no election it could not persist).
    drain_locked();
    return;
  }
  node_->tick();
  drain_locked();
  if (!outgoing_.empty()) {
    retry_snapshots_locked();
    drain_locked();
  }
}

bool shard_replica::take_checked_locked(const consensus::entry& e, store::write_batch& out) {
  auto it = checked_.find(e.index);
  if (it == checked_.end())
    return false;
  bool same = it->second.term == e.term && it->second.data == e.data;
  if (same) {
    out = std::move(it->second.batch);
    ++applied_as_checked_;
  }
  checked_.erase(it);
  return same;
}

uint64_t shard_replica::applied_as_checked() const {
  std::lock_guard lock(mutex_);
  return applied_as_checked_;
}

void shard_replica::step(const message& m, std::vector<store::write_batch>* batches) {
  std::lock_guard lock(mutex_);
  if (batches && m.type == message_type::append && batches->size() == m.entries.size())
    for (size_t i = 0; i < m.entries.size(); ++i) {
      auto& e = m.entries[i];
      if (e.type != entry_type::normal || e.data.empty() || e.index <= storage_->applied())
        continue;
      if (checked_.size() >= checked_kept)
        break; // a member far behind (commits lag its appends): it decodes what it applies, as before
      checked_[e.index] = checked_entry{e.term, e.data, std::move((*batches)[i])};
    }
  if (unwritten_) {
    drain_locked();
    if (unwritten_) {
      // Dropped, as a lossy link would: the sender retries. Who leads a later term is still noted: this
      // node's router forwards the shard's reads and writes there while its own disk refuses (the core, not
      // stepped, would go on naming the lead this member lost, or none).
      bool from_leader = m.type == message_type::append || m.type == message_type::heartbeat
                         || m.type == message_type::install_snapshot;
      if (from_leader && m.to == options_.raft.id && m.term > node_->term() && m.term >= heard_term_) {
        heard_leader_ = m.from;
        heard_term_ = m.term;
      }
      return;
    }
  }
  if (m.type == message_type::install_snapshot) {
    // Only from the leader of a term at least ours (the core checks the rest when the last chunk goes in).
    if (m.term < node_->term() || m.to != options_.raft.id)
      return;
    receive_snapshot_chunk_locked(m);
    return;
  }
  if (m.type == message_type::snapshot_resp) {
    if (m.to == options_.raft.id && m.term == node_->term())
      continue_snapshot_locked(m.from, static_cast<uint32_t>(m.context), m.index);
    return;
  }
  node_->step(m);
  if (wake_)
    deferred_ = true; // the driver steps a round's messages, then flushes once
  else
    drain_locked();
}

bool shard_replica::campaign_alone(int max_ticks) {
  std::lock_guard lock(mutex_);
  if (unwritten_)
    return false;
  for (int i = 0; i < max_ticks && !unwritten_ && node_->role() != role::leader; ++i) {
    node_->tick();
    drain_locked();
  }
  // A leader serves once an entry of its term is committed (its noop): a single voter commits it at once.
  for (int i = 0; i < max_ticks && !unwritten_ && node_->role() == role::leader && !node_->committed_in_term();
       ++i) {
    node_->tick();
    drain_locked();
  }
  return node_->role() == role::leader && node_->committed_in_term();
}

bool shard_replica::transfer_if_caught_up(node_id to) {
  std::lock_guard lock(mutex_);
  if (unwritten_ || node_->role() != role::leader || !node_->committed_in_term() || !node_->membership().is_voter(to))
    return false;
  // Writes in flight would be answered outcome_unknown when the lead moves: only an idle shard is handed on.
  if (last_proposed_ > storage_->applied() || storage_->applied() < node_->commit_index())
    return false;
  auto* pr = node_->progress_of(to);
  if (!pr || !pr->recent_active || pr->match != storage_->last_index())
    return false;
  if (node_->transfer_leadership(to) != errc::ok)
    return false;
  drain_locked();
  return true;
}

bool shard_replica::move_toward(const std::set<node_id>& target) {
  std::lock_guard lock(mutex_);
  if (unwritten_ || node_->role() != role::leader || !node_->committed_in_term() || target.empty())
    return false;
  const auto current = node_->membership();
  std::optional<consensus::membership_change> change;
  for (auto t : target) {
    if (!current.contains(t)) {
      change = consensus::membership_change{consensus::change_kind::add_learner, t};
      break;
    }
    if (current.is_learner(t)) {
      auto* pr = node_->progress_of(t);
      if (pr && pr->recent_active && pr->match == storage_->last_index()) {
        change = consensus::membership_change{consensus::change_kind::promote_learner, t};
        break;
      }
      return false; // catching up: wait for it before anything else moves
    }
  }
  if (!change) {
    // A seat leaves a voter only while as many voters as the target names stay alive (answered a heartbeat
    // round of the last half election timeout): a target can name a voter that is down (a node whose disk was lost, not counted
    // as replaced yet), and demoting a live voter for it would leave the group one failure from losing its
    // majority for good. Down voters go first; a live one waits until the one kept for it is back or replaced.
    auto recent = static_cast<uint64_t>(std::max(1, options_.raft.election_ticks / 2));
    auto alive = [&](node_id v) { return node_->heard_within(v, recent); };
    size_t alive_voters = 0;
    for (auto v : current.voters)
      alive_voters += alive(v) ? 1 : 0;
    for (bool down_first : {true, false})
      for (auto v : current.voters)
        if (!change && !target.count(v) && v != options_.raft.id && alive(v) != down_first &&
            (down_first || alive_voters - 1 >= target.size()))
          change = consensus::membership_change{consensus::change_kind::demote_voter, v};
  }
  if (!change)
    return false;
  auto proposed = node_->propose_membership_change(*change);
  if (!proposed.ok())
    return false;
  drain_locked();
  spdlog::info("shard.membership_change group={} kind={} node={:x}", group_, static_cast<int>(change->kind),
               change->node);
  return true;
}

bool shard_replica::add_learners(const std::set<node_id>& members) {
  std::lock_guard lock(mutex_);
  if (unwritten_ || node_->role() != role::leader || !node_->committed_in_term())
    return false;
  const auto current = node_->membership();
  for (auto m : members)
    if (!current.contains(m)) {
      auto proposed = node_->propose_membership_change({consensus::change_kind::add_learner, m});
      if (!proposed.ok())
        return false;
      drain_locked();
      spdlog::info("shard.learner_added group={} node={:x}", group_, m);
      return true;
    }
  return false;
}

void shard_replica::drop_transfers() {
  std::lock_guard lock(mutex_);
  outgoing_.clear(); // their store views must go before the store does
}

consensus::membership shard_replica::members() const {
  std::lock_guard lock(mutex_);
  return node_->membership();
}

uint64_t shard_replica::serving_ticks() const {
  std::lock_guard lock(mutex_);
  if (unwritten_ || node_->role() != role::leader || !node_->committed_in_term())
    return 0;
  if (storage_->applied() < node_->commit_index())
    return 0;
  // A lone voter's lease is itself; with peers, the lease says no one else can lead now.
  const auto& members = node_->membership();
  if (members.voters.size() == 1 && members.is_voter(options_.raft.id))
    return std::numeric_limits<uint64_t>::max();
  return node_->lease_ticks_left();
}

consensus::node_id shard_replica::leader() const {
  std::lock_guard lock(mutex_);
  if (unwritten_ && heard_term_ > node_->term())
    return heard_leader_; // stalled: the leader heard of (step)
  return node_->leader();
}

bool shard_replica::is_leader() const {
  std::lock_guard lock(mutex_);
  return node_->role() == role::leader;
}

index_t shard_replica::applied() const {
  std::lock_guard lock(mutex_);
  return storage_->applied();
}

index_t shard_replica::commit_index() const {
  std::lock_guard lock(mutex_);
  return node_->commit_index();
}

term_t shard_replica::term() const {
  std::lock_guard lock(mutex_);
  return node_->term();
}

} // namespace bento::cluster::shard
