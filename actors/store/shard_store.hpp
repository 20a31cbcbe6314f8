#pragma once
// One shard's slice of the node's store: what an entity actor reads and writes. Keys are given as before
// ("o/<oid>", "r/<rid>/i/<iid>"); in the shared columns (entities, indexes, outbox, events) they are stored
// behind the shard's prefix, so a shard is one key range (its snapshot, its replica moving away); node-local
// columns (meta, catalog) pass through. Events are numbered per shard.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/store/entity_store.hpp"

namespace bento::store {

/// The end of the writes proposed to a shard at some moment: the last proposed index, in the term it was proposed
/// in (index 0: none was pending). `direct`: a lone leader's queued write instead (its own sequence, `term` the
/// write epoch it was queued in), written by the replica's driver; such a write that fails is never written.
struct write_mark {
  uint64_t term = 0;
  uint64_t index = 0;
  bool direct = false;
};
/// The mark of an ended write epoch: never known to commit here.
inline constexpr write_mark unknown_mark{0, ~uint64_t{0}};

class shard_store {
public:
  shard_store(entity_store& db, domain::shard_id shard);

  domain::shard_id shard() const noexcept { return shard_; }
  const std::string& prefix() const noexcept { return prefix_; }
  entity_store& db() const noexcept { return db_; }

  domain::outcome<std::optional<std::string>> get(column cf, std::string_view key) const;
  /// As entity_store::scan, within the shard; the visitor sees keys without the shard's prefix.
  domain::outcome<domain::unit_t> scan(column cf, std::string_view prefix, std::string_view start_after,
                                       const entity_store::visitor& fn) const;
  domain::outcome<domain::unit_t> scan_reverse(column cf, std::string_view prefix, std::string_view start_before,
                                               const entity_store::visitor& fn) const;
  /// Writes the batch in this shard's key range, its events numbered in this shard's sequence; through the
  /// shard's replication group when one is attached (set_writer).
  domain::outcome<domain::unit_t> commit(write_batch& batch);
  /// The same for an entity activated in write epoch `epoch` (see epoch()): refused, writing nothing, once the
  /// epoch has ended, so that an entity whose memory may hold writes the group dropped never writes again.
  domain::outcome<domain::unit_t> commit(write_batch& batch, uint64_t epoch);
  /// Moves the batch's keys into this shard's range (what commit does before writing).
  void prefix_keys(write_batch& batch) const;

  /// What replicates a shard (cluster/shard): entities keep calling commit(); a reply that reflects a write
  /// must wait until the write is committed by the group, which mark() and when_committed() tell.
  class writer {
  public:
    virtual ~writer() = default;
    virtual domain::outcome<domain::unit_t> commit(write_batch& batch) = 0;
    /// Changes whenever this node starts or stops leading the shard, or stops serving it (a lapsed lease): the
    /// entities loaded before may hold writes that never commit, and must not write again.
    virtual uint64_t epoch() const = 0;
    virtual domain::outcome<domain::unit_t> commit(write_batch& batch, uint64_t epoch) = 0;
    /// Where the writes proposed so far end, as seen by an entity of write epoch `epoch` (0: the current one):
    /// index 0 when all of them are applied here; unknown_mark when that epoch has ended (nothing it wrote can
    /// be vouched for here any more).
    virtual write_mark mark(uint64_t epoch) const = 0;
    /// Calls `done(true)` once the mark is applied here by the leader of its term, `done(false)` as soon as
    /// that can no longer be known here (that lead was lost). May run on another thread: keep it short.
    virtual void when_committed(const write_mark& m, std::function<void(bool)> done) = 0;
    /// Whether the writes up to the mark are applied here, or void (a later term's leader committed its own
    /// entry first, which commits or drops everything before it).
    virtual bool landed(const write_mark& m) const = 0;
    /// Whether the write of the mark is known committed here: applied by the leader of its term while this
    /// member still leads that term (a lone leader's write: written, not dropped). Unlike landed(), never yes
    /// for a write that was dropped: what lets an answer leave without waiting.
    virtual bool committed(const write_mark& m) const = 0;
  };
  void set_writer(writer* w) { writer_ = w; }
  uint64_t epoch() const { return writer_ ? writer_->epoch() : 0; }
  write_mark mark(uint64_t epoch = 0) const { return writer_ ? writer_->mark(epoch) : write_mark{}; }
  bool landed(const write_mark& m) const { return m.index == 0 || !writer_ || writer_->landed(m); }
  bool committed(const write_mark& m) const { return m.index == 0 || !writer_ || writer_->committed(m); }
  void when_committed(const write_mark& m, std::function<void(bool)> done) {
    if (writer_ && m.index != 0)
      writer_->when_committed(m, std::move(done));
    else
      done(true);
  }
  void after_durable(std::function<void(bool)> done) { db_.after_durable(std::move(done)); }
  /// Why a write of this shard that was not committed is known not to have been written: the disk refused it
  /// (a lone leader's queued write, `m.direct`, whose write failed, while the disk still refuses), else unit.
  domain::outcome<domain::unit_t> refusal_of(const write_mark& m) const {
    return m.direct ? db_.check_writable() : domain::outcome<domain::unit_t>(domain::unit);
  }

  /// The stored key of `key` in column `cf` (prefixed in the shard's columns).
  std::string stored_key(column cf, std::string_view key) const;

private:
  entity_store& db_;
  domain::shard_id shard_;
  std::string prefix_;
  writer* writer_ = nullptr;
};

} // namespace bento::store

namespace bento::store {

/// Every shard of the node's store, by id or by entity key.
class shard_set {
public:
  explicit shard_set(entity_store& db);
  domain::shard_id count() const noexcept { return static_cast<domain::shard_id>(shards_.size()); }
  shard_store& of(domain::shard_id shard) const { return *shards_.at(shard); }
  shard_store& of_entity(std::string_view entity_key) const {
    return *shards_[domain::shard_of(entity_key, count())];
  }
  entity_store& db() const noexcept { return db_; }

private:
  entity_store& db_;
  std::vector<std::unique_ptr<shard_store>> shards_;
};

} // namespace bento::store
