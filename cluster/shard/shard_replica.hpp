#pragma once
// One node's member of one shard's replication group: drives the consensus core (ticks, peer messages,
// proposals), persists what it must (log, hard state) in the same RocksDB write as the entries it applies to the
// shard's key range, and sends what the core wants sent. Entities commit through it (shard_store's committer):
//   - a group of one voter (a single node, today's dev mode) writes an entity's batch itself, with no log entry:
//     queued and written by the driver's next round with whatever else came in (direct_writes.hpp), or before
//     commit() returns when no driver runs or the writer gave no epoch;
//   - with several voters, commit() proposes and returns; the entry is applied once a majority holds it.
//   Either way the answers that reflect a write wait for it (reply_gate.hpp).
// Thread-safe: entity actors commit from scheduler threads, a driver ticks and steps from another.
//
// A group whose only voter is this leader has no one to replicate to: its entities' batches go straight to the
// shard's key range (no log entry is kept), queued under a shared lock; the switch to or from that mode takes
// the lock exclusively, writes what is queued and ends the write epoch, so from the first multi-member
// configuration on, every write goes through the log, and a new member's snapshot holds every write made
// before.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>

#include "actors/store/shard_store.hpp"
#include "cluster/shard/direct_writes.hpp"
#include "cluster/consensus/node.hpp"
#include "cluster/shard/raft_storage.hpp"
#include "cluster/shard/shard_snapshot.hpp"

namespace bento::cluster::shard {

struct replica_options {
  consensus::node_config raft;
  /// Entries kept past the applied index before the log is compacted (lagging followers need them; a single
  /// voter needs none).
  consensus::index_t keep_entries = 10'000;
  /// Entries kept past the applied index when every member is known to hold the log that far (a member behind
  /// keeps up to keep_entries for it): a short log mostly dies in the memtable.
  consensus::index_t caught_up_keep_entries = 256;
  /// A snapshot for a replica behind the compacted log travels in chunks of about this many bytes (one frame
  /// each), the next one sent when the previous is acknowledged, all read from one view of the store.
  size_t snapshot_max_bytes = 6u << 20;
  /// A snapshot chunk sent without an answer for this many ticks: the transfer is given up and starts again.
  int snapshot_retry_ticks = 50;
};

struct replica_snapshot_stats {
  uint64_t sent = 0, installed = 0, refused = 0, too_large = 0; // too_large: the store could not be read
  uint64_t chunks_sent = 0;
};

class shard_replica final : public store::shard_store::writer {
public:
  using sender = std::function<void(const consensus::message&)>;

  /// Opens the group's storage; a group never written here is bootstrapped with `founders` (when this node is
  /// one of them), so a first start forms it.
  static domain::outcome<std::unique_ptr<shard_replica>> open(store::shard_store& shard, group_id group,
                                                             replica_options options,
                                                             const consensus::membership& founders);

  /// An entity's write batch through the group (see above). Fails with not_leader-like storage_failure when
  /// this member cannot take writes.
  domain::outcome<domain::unit_t> commit(store::write_batch& batch) override;
  /// Bumped when this member starts or stops leading a term, and by revoke().
  uint64_t epoch() const override;
  domain::outcome<domain::unit_t> commit(store::write_batch& batch, uint64_t epoch) override;
  /// The last entry proposed here while leading, until it is applied (none for a lone leader's direct writes).
  store::write_mark mark(uint64_t epoch) const override;
  void when_committed(const store::write_mark& m, std::function<void(bool)> done) override;
  bool landed(const store::write_mark& m) const override;
  bool committed(const store::write_mark& m) const override;
  /// The disk refused the last write of the group's state here: this member is silent until it takes it.
  bool stalled() const;
  /// Ends the write epoch: the host calls it when this member stops serving (a lapsed lease included), before
  /// the entities activated under it are stopped, so none of them can write in between.
  void revoke();

  void tick();
  /// `batches`, when given: each entry's batch as the frame's check decoded it (raft_wire's group_message),
  /// taken to apply the entry once it is committed instead of decoding it again.
  void step(const consensus::message& m, std::vector<store::write_batch>* batches = nullptr);
  /// Entries applied from the batch their frame's check decoded (not decoded again).
  uint64_t applied_as_checked() const;
  void set_sender(sender s);
  /// Hands writing to a driver: from now on a proposal or a peer's message leaves its persist, sends and apply
  /// to the driver's next flush() (one RocksDB write and one frame per peer for all that came in between), and
  /// a proposal calls `wake` so that the driver comes round. Without a driver each is written before the call
  /// returns.
  void defer_to(std::function<void()> wake);
  /// Writes, sends and applies what proposals and messages left since the last flush (the driver's round).
  void flush();

  /// Ticks until this member leads (a single voter elects itself); false if it did not within `max_ticks`.
  bool campaign_alone(int max_ticks = 200);

  bool is_leader() const;
  /// Hands the lead to `to` if this member leads and serves, has nothing pending, and `to` is an active voter
  /// holding the whole log; true if a transfer started.
  bool transfer_if_caught_up(consensus::node_id to);
  /// As the serving leader, one membership change toward `target` voters (a seat moving between nodes): add a
  /// target node that is no member as a learner, else promote a target learner that holds the whole log, else
  /// demote a voter outside the target to learner (never itself: the lead moves first, see replica_host).
  /// Promotions go first, so the group never has fewer voters than it had. True if a change was proposed.
  bool move_toward(const std::set<consensus::node_id>& target);
  /// As the serving leader, adds one of `members` that the group does not know yet as a learner. True if
  /// a change was proposed.
  bool add_learners(const std::set<consensus::node_id>& members);
  /// Ends snapshot transfers to peers (at shutdown: they hold views of the store).
  void drop_transfers();
  /// The group's membership in force here.
  consensus::membership members() const;
  /// Leads, has committed an entry of its term, has applied everything committed, and holds the lease: its
  /// entities may load state and answer (reads included) here.
  bool serving() const { return serving_ticks() > 0; }
  /// How many more of its ticks it serves without hearing from anyone (0: not serving; the maximum for a lone
  /// voter, whose lease is itself). The host turns this into a deadline in real time.
  uint64_t serving_ticks() const;
  /// The member the core believes leads (0: unknown).
  consensus::node_id leader() const;
  const replica_options& options() const noexcept { return options_; }
  consensus::index_t applied() const;
  /// Log compactions so far (each one range tombstone in RocksDB).
  uint64_t compactions() const;
  /// First index still in the log (everything before is compacted away).
  consensus::index_t first_index() const;
  replica_snapshot_stats snapshot_stats() const;
  consensus::index_t commit_index() const;
  consensus::term_t term() const;
  group_id group() const noexcept { return group_; }

private:
  shard_replica(store::shard_store& shard, group_id group, replica_options options)
    : shard_(shard), group_(group), options_(options) {}
  /// Persists, sends, applies and advances every ready the core has. Caller holds mutex_.
  void drain_locked();
  domain::outcome<domain::unit_t> commit_in(store::write_batch& batch, std::optional<uint64_t> epoch);
  /// Writes unwritten_, then sends its messages and advances the core; false if the disk refused it.
  bool finish_ready_locked();
  /// Ends the epoch when the term this member leads changes (it won or lost a lead). Caller holds mutex_.
  void track_lead_locked();
  void maybe_compact_locked();
  /// Answers waiters whose entry is applied; all of them false once this member no longer leads its term.
  void notify_locked();
  /// Whether this member alone makes the group (leader, the only voter, no learners). Caller holds mutex_.
  void update_alone_locked();
  /// What to do with an install_snapshot the core wants sent.
  enum class snapshot_send { send, hold, failed };
  /// Starts a transfer for it (the first chunk goes in `m`), or holds it while one to that peer is under way.
  snapshot_send fill_snapshot_locked(consensus::message& m);
  /// Sends the next chunk of the transfer to `to` once `chunk` is acknowledged.
  void continue_snapshot_locked(consensus::node_id to, uint32_t chunk, consensus::index_t index);
  /// A chunk received: staged, acknowledged, and the last one handed to the core with the meta.
  void receive_snapshot_chunk_locked(const consensus::message& m);
  /// Gives up transfers whose chunk went unanswered too long (the core would wait forever).
  void retry_snapshots_locked();

  store::shard_store& shard_;
  group_id group_;
  replica_options options_;
  mutable std::mutex mutex_;
  std::shared_mutex alone_gate_; // shared: direct writes of a lone leader; exclusive: what may add a member
  std::atomic<bool> alone_{false};
  std::unique_ptr<raft_storage> storage_;
  std::unique_ptr<consensus::node> node_;
  sender send_;
  std::function<void()> wake_; // set: a driver flushes (defer_to)
  bool deferred_ = false;      // proposals or messages wait for flush(); guarded by mutex_
  consensus::index_t last_proposed_ = 0;
  uint64_t compactions_ = 0;
  consensus::term_t proposed_term_ = 0;
  consensus::term_t led_term_ = 0; // the term this member leads (0: it does not)
  std::atomic<uint64_t> epoch_{1};
  direct_writes direct_{shard_, epoch_}; // a lone leader's writes, when a driver writes them (defer_to)
  // The ready taken from the core and not yet written (the disk refused it), with its staged write.
  struct unwritten_ready {
    consensus::ready rd;
    store::write_batch batch;
    consensus::index_t applied = 0;
  };
  std::optional<unwritten_ready> unwritten_;
  // Entries received with the batch their frame's check decoded, until applied (a few rounds at most; bounded):
  // applied only to the entry of the same index, term and bytes.
  struct checked_entry {
    consensus::term_t term = 0;
    std::string data;
    store::write_batch batch;
  };
  std::map<consensus::index_t, checked_entry> checked_;
  static constexpr size_t checked_kept = 256; // a round's entries, many times over: a member far behind decodes
  uint64_t applied_as_checked_ = 0;
  /// The checked batch of `e`, if one is held for it: moved into `out`.
  bool take_checked_locked(const consensus::entry& e, store::write_batch& out);
  bool disk_refused_ = false;
  // While stalled (unwritten_): the leader of the latest later term heard of (its messages dropped).
  consensus::node_id heard_leader_ = 0;
  consensus::term_t heard_term_ = 0;
  struct waiter {
    consensus::term_t term; // the term the awaited entry was proposed in: only that lead can vouch for it
    std::function<void(bool)> done;
  };
  std::multimap<consensus::index_t, waiter> waiters_;
  // A snapshot whose chunks are all staged, handed to the core: installed with the ready that restores it.
  struct received_snapshot {
    consensus::index_t index = 0;
    consensus::term_t term = 0;
  };
  std::optional<received_snapshot> received_;
  // The chunks of a snapshot coming in: which snapshot, and the next chunk expected.
  struct incoming_snapshot {
    consensus::index_t index = 0;
    consensus::term_t term = 0;
    uint32_t next = 0;
  };
  std::optional<incoming_snapshot> incoming_;
  // Transfers to peers: one consistent view of the store, read a chunk at a time.
  struct outgoing_snapshot {
    consensus::snapshot_meta meta;
    std::shared_ptr<const store::read_view> view;
    snapshot_cursor cursor;
    uint32_t next = 0;      // the next chunk's number
    uint64_t sent_at = 0;   // tick of the last chunk sent
  };
  std::map<consensus::node_id, outgoing_snapshot> outgoing_;
  std::map<consensus::node_id, uint64_t> snapshot_failed_at_; // peer -> tick a snapshot could not be built
  static constexpr uint64_t snapshot_backoff_ticks = 600;
  uint64_t ticks_ = 0;
  replica_snapshot_stats snapshots_;
};

/// A stable consensus id for a node name (FNV-1a 64, never 0).
consensus::node_id member_id(const std::string& node_name);

} // namespace bento::cluster::shard
