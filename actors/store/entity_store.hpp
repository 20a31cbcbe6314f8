#pragma once
// The node's embedded store: one RocksDB database with a column family per kind of data. RocksDB types and
// Status stop here; callers see domain outcomes. Thread-safe: entity actors commit concurrently and RocksDB
// groups their WAL writes (group commit).
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/domain/outcome.hpp"
#include "protocol/domain/shards.hpp"
#include "protocol/domain/types.hpp"

namespace bento::store {

// entities, indexes, outbox, events: an entity's state, written in its shard's key range (see shard_store).
// meta, catalog: node-local (bookkeeping; read models built from events), never part of a shard.
// raft: each replication group's log, hard state and applied index (cluster/shard), keyed by group.
enum class column : uint8_t { entities = 0, events = 1, indexes = 2, outbox = 3, meta = 4, catalog = 5, raft = 6 };

/// A shard's event key: its prefix, then the sequence number big-endian (byte order is numeric order).
std::string event_key(domain::shard_id shard, uint64_t seq);
/// The sequence number of an event key.
uint64_t event_seq(std::string_view key);

/// Columns whose keys belong to a shard (prefixed by domain::shard_prefix).
constexpr bool sharded(column c) noexcept {
  return c == column::entities || c == column::indexes || c == column::outbox || c == column::events;
}

struct store_options {
  std::string path;
  bool sync_writes = false;   // power-loss safety: after_durable waits for a (shared) fsync; off: kill -9 safe

  size_t block_cache_bytes = 64u << 20;
  domain::shard_id shards = domain::default_shard_count;
};

/// A set of writes applied atomically: an entity's new state, its index entries and its events together.
class write_batch {
public:
  void put(column cf, std::string_view key, std::string_view value);
  void erase(column cf, std::string_view key);
  /// Erases every key in [from, to) (RocksDB DeleteRange: one tombstone however many keys).
  void erase_range(column cf, std::string_view from, std::string_view to);
  /// Events get their sequence number at commit (per shard) and are published to the listener after the write.
  void append_event(domain::event ev);
  /// An event already encoded (another node's, from a replicated entry; an order's, around its record's bytes):
  /// `header` without its payload, `encoded` its bytes, stored as they are with their number stamped on
  /// (codec::stamp_seq). Only for types whose payload no reader in a node's memory looks into
  /// (payload_on_demand); recent_events decodes it when asked to.
  void append_encoded_event(domain::event header, std::string encoded);
  bool empty() const noexcept { return ops_.empty() && events_.empty(); }
  /// The shard whose key range this batch writes (set by shard_store, which also prefixes the keys).
  void set_shard(domain::shard_id shard) { shard_ = shard; }

private:
  friend class entity_store;
  friend class shard_store;
public:
  struct op {
    column cf;
    bool erase;
    std::string key;
    std::string value; // with range: the end key (exclusive)
    bool range = false;
  };
  /// What the batch holds (replication encodes it into a log entry).
  const std::vector<op>& ops() const noexcept { return ops_; }
  const std::vector<domain::event>& events() const noexcept { return events_; }
  /// Each event's bytes when it came encoded (append_encoded_event), beside events(): else empty.
  const std::vector<std::string>& encoded_events() const noexcept { return encoded_; }
  const std::optional<domain::shard_id>& shard() const noexcept { return shard_; }
  /// Why no store takes this batch's range deletions, or nullptr: one that ends before it starts (RocksDB would
  /// write half of the batch and then refuse every write), or one in a hinted column that starts inside an insert
  /// hint's prefix (RocksDB 7.8 would corrupt its memtable: insert_hints.hpp). No writer of Bento's makes either.
  /// `key_prefix` is the size of the shard prefix before each key (0 before shard_store adds it).
  const char* refused_range(size_t key_prefix) const noexcept;
  /// Appends another batch's writes and events (a replica applying an entry with its bookkeeping).
  void append(const write_batch& other);
  void append(write_batch&& other);

private:
  std::vector<op> ops_;
  std::vector<domain::event> events_;
  std::vector<std::string> encoded_; // one per event: its bytes when it came encoded, or empty
  std::optional<domain::shard_id> shard_;
};

/// The event types whose payload a replica keeps encoded until someone asks for it: orders' (the bulk of a
/// shard's events, each with its whole order), which no reader in a node's memory looks into — the catalog
/// takes menus and stock, the event listener sessions; a tailer reads them from the store, decoded there.
bool payload_on_demand(std::string_view type) noexcept;

/// A position in a reverse scan (newest-first listings merged across shards). Keys are as stored.
class reverse_cursor {
public:
  ~reverse_cursor();
  reverse_cursor(reverse_cursor&&) noexcept;
  reverse_cursor& operator=(reverse_cursor&&) noexcept;
  bool valid() const;
  std::string_view key() const;
  std::string_view value() const;
  void prev();
  domain::outcome<domain::unit_t> status() const;

private:
  friend class entity_store;
  struct impl;
  explicit reverse_cursor(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// A consistent view of the whole store as of its creation (a RocksDB snapshot): scans through it see no later
/// write. Released when the last copy goes; must not outlive its store.
class read_view {
public:
  ~read_view();
  read_view(const read_view&) = delete;
  read_view& operator=(const read_view&) = delete;

private:
  friend class entity_store;
  struct impl;
  explicit read_view(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

class entity_store {
public:
  using event_listener = std::function<void(const domain::event&)>;
  /// Return false to stop the scan.
  using visitor = std::function<bool(std::string_view key, std::string_view value)>;

  /// Opens (creating if missing) the database at options.path. A second process on the same directory fails
  /// here, because RocksDB holds a lock file.
  static domain::outcome<std::unique_ptr<entity_store>> open(const store_options& options);

  ~entity_store();
  entity_store(const entity_store&) = delete;
  entity_store& operator=(const entity_store&) = delete;

  domain::outcome<std::optional<std::string>> get(column cf, std::string_view key) const;

  /// Writes the batch to the WAL before returning: durable against process death (kill -9), never waiting for
  /// the disk. Then hands the batch's events to the listener, in commit order per caller (an event added with
  /// append_encoded_event without its payload). The events are taken out of the batch (moved into the store's
  /// memory of recent events); its writes stay. A write that fails leaves the batch as it came.
  domain::outcome<domain::unit_t> commit(write_batch& batch);
  /// The refusal commit() would answer now because the disk refuses writes (full, read-only), or unit: lets a
  /// writer that commits later (a lone leader's queued writes) refuse at once, as commit() would.
  domain::outcome<domain::unit_t> check_writable();

  /// With sync_writes, calls done(true) once everything committed before this call is fsynced (one syncer
  /// thread, shared fsyncs: group commit), done(false) if that fsync failed; without, calls done(true) at once.
  /// An edge answers a client only from here, so "acknowledged" means on disk when sync_writes is on. `done`
  /// may run on the syncer thread: keep it short.
  void after_durable(std::function<void(bool)> done);

  /// Visits keys starting with prefix in order, beginning strictly after start_after when that is non-empty;
  /// through `at` when given, as the store was when that view was taken.
  domain::outcome<domain::unit_t> scan(column cf, std::string_view prefix, std::string_view start_after,
                                       const visitor& fn, const read_view* at = nullptr) const;
  /// The store as of now, for reads spread over time that must agree (a snapshot streamed in chunks).
  std::shared_ptr<const read_view> view() const;

  /// Visits keys with the prefix from the last one backwards (newest-first listings keyed by time).
  domain::outcome<domain::unit_t> scan_reverse(column cf, std::string_view prefix, std::string_view start_before,
                                               const visitor& fn) const;

  /// A reverse scan over the keys with `prefix`, from just before `start_before` (or the last key).
  reverse_cursor scan_back(column cf, std::string_view prefix, std::string_view start_before) const;

  /// Visits a shard's stored events with after_seq < seq <= up_to_seq in sequence order (a read model catching
  /// up). Numbers lost to a failed write are simply absent. Return false from fn to stop.
  using event_visitor = std::function<bool(const domain::event&)>;
  /// `decode_if`, when given, is asked each event's type first: an event it declines reaches `fn` with its seq,
  /// shard and type only (no payload decoded), for a reader that needs few of the events but every number.
  using event_type_filter = std::function<bool(std::string_view type)>;
  domain::outcome<domain::unit_t> scan_events(domain::shard_id shard, uint64_t after_seq, uint64_t up_to_seq,
                                              const event_visitor& fn, const event_type_filter& decode_if = {}) const;

  /// The same events from memory, without a read, when this process committed every one of them and they are
  /// among the shard's last `recent_events_kept` (a read model keeping up with the writes): true with `out`
  /// holding them in order; false, `out` untouched, when any is missing (use scan_events then). An event kept
  /// encoded (append_encoded_event) is decoded here, unless `decode_if` declines its type (as scan_events).
  bool recent_events(domain::shard_id shard, uint64_t after_seq, uint64_t up_to_seq,
                     std::vector<std::shared_ptr<const domain::event>>& out,
                     const event_type_filter& decode_if = {}) const;
  /// Events kept per shard: 128, fewer with many shards (8,192 in all at most, ~10 MB with order payloads).
  size_t recent_events_kept() const noexcept { return recent_kept_; }

  /// The lowest stored event number of a shard (0 when it has none). A reader whose last applied number is
  /// below this less one has missed events: they were pruned, or a snapshot replaced the shard's events.
  uint64_t first_event_seq(domain::shard_id shard) const;

  /// Deletes the shard's oldest events: those numbered below `through_seq` (what every reader on this node has
  /// applied) and stamped before `older_than_ms`, at most `max_events`; never the newest stored one (the
  /// sequence resumes after it on restart). Returns how many it deleted. Node-local: replicas prune on their
  /// own; a snapshot from a replica that pruned more shows as a gap (first_event_seq).
  domain::outcome<uint64_t> prune_events(domain::shard_id shard, uint64_t through_seq, int64_t older_than_ms,
                                         uint64_t max_events);

  domain::shard_id shard_count() const noexcept { return shard_count_; }
  /// Re-reads where each shard's event sequence stands (after the layout was migrated).
  void resume_event_sequences();
  /// The same for one shard (after a replica installed a snapshot of it; no commit to it may be running).
  void resume_event_sequence(domain::shard_id shard);
  /// Tells the event listener that a shard's events were replaced wholesale (a snapshot was installed), so
  /// read models read them: an announcement of type "restaurant.snapshot_installed", no payload.
  void announce_replaced(domain::shard_id shard);

  /// Not synchronised with commit(): set it before any actor commits and clear it only after all are done.
  void set_event_listener(event_listener fn);

  /// Every event of the shard with a sequence number up to this one is written (or, if its write failed, never
  /// will be). Concurrent commits take numbers in one order and reach the WAL in another; a reader that tails
  /// the events column must stop here, or it could pass over a lower number that is still being written.
  uint64_t last_event_seq(domain::shard_id shard) const noexcept;

  /// Selected RocksDB statistics for /metrics (name -> value).
  std::map<std::string, double> stats() const;

  /// Flushes memtables and closes; used on graceful shutdown (the WAL alone is already enough for recovery).
  void close();

private:
  struct impl;
  explicit entity_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
  struct shard_sequence {
    std::mutex mutex;
    uint64_t assigned = 0;          // guarded by mutex
    std::set<uint64_t> in_flight;   // first seq of each batch being written; guarded by mutex
    std::atomic<uint64_t> visible{0};
    // The last events this process wrote, by seq (see recent_events); guarded by mutex. Cleared whenever the
    // shard's events change by other means (a failed write, a snapshot, a migration).
    // An event kept encoded (append_encoded_event) is held without its payload, beside its stored bytes.
    struct recent_event {
      std::shared_ptr<const domain::event> ev;
      std::shared_ptr<const std::string> encoded; // none: `ev` is whole
    };
    std::deque<recent_event> recent;
  };
  void forget_recent(shard_sequence& s);
  domain::shard_id shard_count_ = domain::default_shard_count;
  size_t recent_kept_ = 128;
  std::unique_ptr<shard_sequence[]> sequences_;
  event_listener listener_;
  std::atomic<uint64_t> writes_{0}; // batches written (/metrics: how many writes an operation costs)
  mutable std::atomic<uint64_t> gets_{0}; // point reads (get): how many reads an operation costs
};

} // namespace bento::store
