#include "actors/store/entity_store.hpp"
#include "actors/store/insert_hints.hpp"

#include <algorithm>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <mutex>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include "actors/store/rocksdb_logger.hpp"
#include "actors/store/wal_syncer.hpp"
#include "protocol/codec/entity_codec.hpp"

namespace bento::store {

namespace {

const char* const column_names[] = {"entities", "events", "indexes", "outbox", "meta", "catalog", "raft"};

domain::failure storage_error(const rocksdb::Status& s) {
  return domain::fail(domain::errc::storage_failure, "store: " + s.ToString());
}

rocksdb::Slice slice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

} // namespace

std::string event_key(domain::shard_id shard, uint64_t seq) {
  std::string key = domain::shard_prefix(shard);
  key.resize(10);
  for (int i = 9; i >= 2; --i) {
    key[static_cast<size_t>(i)] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return key;
}

uint64_t event_seq(std::string_view key) {
  uint64_t seq = 0;
  for (size_t i = 2; i < key.size() && i < 10; ++i)
    seq = (seq << 8) | static_cast<unsigned char>(key[i]);
  return seq;
}

/// RocksDB would retry its recovery on its own at once, while the disk still fails, and a failed recovery can
/// leave the database needing a reopen: recovery is ours (entity_store::impl::writable), after a probe.
class manual_recovery final : public rocksdb::EventListener {
public:
  /// A failed WAL append or flush on a read-only file system counts as fatal in RocksDB (a reopen only), a
  /// full disk as hard (resumable). Both leave the same state (the write that failed is not applied, nothing
  /// is lost that was acknowledged), so both are resumed once the probe shows the disk writable again.
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* bg_error) override {
    bool io = bg_error->IsIOError() || bg_error->IsNoSpace();
    bool resumable_reason = reason == rocksdb::BackgroundErrorReason::kWriteCallback
                            || reason == rocksdb::BackgroundErrorReason::kFlush
                            || reason == rocksdb::BackgroundErrorReason::kManifestWrite;
    if (io && resumable_reason && bg_error->severity() > rocksdb::Status::Severity::kHardError)
      *bg_error = rocksdb::Status(*bg_error, rocksdb::Status::Severity::kHardError);
  }
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status, bool* auto_recovery) override {
    *auto_recovery = false;
  }
};

/// Whether the disk under `dir` takes a write and an fsync now (a small file, removed after).
bool disk_takes_writes(const std::string& dir) {
  auto path = dir + "/.write-probe";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return false;
  char block[4096] = {};
  bool ok = ::write(fd, block, sizeof block) == static_cast<ssize_t>(sizeof block) && ::fsync(fd) == 0;
  ::close(fd);
  ok = ::unlink(path.c_str()) == 0 && ok;
  return ok;
}

struct entity_store::impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::WriteOptions write_options; // never sync: fsyncs belong to the syncer
  std::shared_ptr<rocksdb::Cache> cache;
  std::unique_ptr<wal_syncer> syncer; // with sync_writes only
  // A write failed (a full or read-only disk): RocksDB keeps the error, and touching its WAL again before
  // Resume() trips an assertion in Debian's build. Writes are refused here, without touching RocksDB, and a
  // Resume() is tried at most once a second until one succeeds (space came back).
  std::atomic<bool> write_failed{false};
  std::mutex resume_mutex;
  std::chrono::steady_clock::time_point next_resume{};
  std::string write_error; // under resume_mutex
  std::string path;

  void failed(const rocksdb::Status& s) {
    std::lock_guard lock(resume_mutex);
    if (!write_failed.exchange(true)) {
      write_error = s.ToString();
      next_resume = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      spdlog::error("store.writes_refused error={} hint=\"free space on the data dir's disk (or make it "
                    "writable); writes resume on their own\"", write_error);
    }
  }

  /// True if writes may go ahead (never failed, or a Resume() just succeeded).
  bool writable(std::string& why) {
    if (!write_failed.load(std::memory_order_acquire))
      return true;
    std::lock_guard lock(resume_mutex);
    if (!write_failed.load())
      return true;
    auto now = std::chrono::steady_clock::now();
    if (now >= next_resume) {
      next_resume = now + std::chrono::seconds(1);
      if (!disk_takes_writes(path)) {
        why = write_error;
        return false;
      }
      auto s = db->Resume();
      if (s.ok()) {
        write_failed = false;
        spdlog::warn("store.writes_resumed after=\"{}\"", write_error);
        return true;
      }
      write_error = s.ToString();
    }
    why = write_error;
    return false;
  }

  rocksdb::ColumnFamilyHandle* cf(column c) const {
    return handles[static_cast<size_t>(c)];
  }

  ~impl() {
    if (syncer)
      syncer->stop();
    if (db) {
      for (auto* h : handles)
        db->DestroyColumnFamilyHandle(h);
      db->Close();
    }
  }
};

void write_batch::put(column cf, std::string_view key, std::string_view value) {
  ops_.push_back(op{cf, false, std::string(key), std::string(value)});
}

void write_batch::erase(column cf, std::string_view key) {
  ops_.push_back(op{cf, true, std::string(key), {}});
}

void write_batch::erase_range(column cf, std::string_view from, std::string_view to) {
  ops_.push_back(op{cf, true, std::string(from), std::string(to), true});
}

const char* write_batch::refused_range(size_t key_prefix) const noexcept {
  for (auto& o : ops_) {
    if (!o.range)
      continue;
    if (o.value < o.key)
      return "a range deletion ends before it starts";
    if (!range_start_allowed(o.cf, std::string_view(o.key).substr(std::min(key_prefix, o.key.size()))))
      return "a range deletion starts inside an insert hint's prefix";
  }
  return nullptr;
}

void write_batch::append(const write_batch& other) {
  append(write_batch(other));
}

void write_batch::append(write_batch&& other) {
  auto take = [](auto& to, auto& from) {
    if (to.empty())
      to = std::move(from);
    else
      to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
    from.clear();
  };
  take(ops_, other.ops_);
  take(events_, other.events_);
  take(encoded_, other.encoded_);
  if (!shard_)
    shard_ = other.shard_;
}

void write_batch::append_event(domain::event ev) {
  events_.push_back(std::move(ev));
  encoded_.emplace_back();
}

void write_batch::append_encoded_event(domain::event header, std::string encoded) {
  events_.push_back(std::move(header));
  encoded_.push_back(std::move(encoded));
}

bool payload_on_demand(std::string_view type) noexcept {
  return type.substr(0, 6) == "order.";
}

namespace {

/// An existing database must be a Bento store: one with the entities column (in every version's layout) and no
/// column Bento does not know. Anything else is another program's RocksDB, which a node must not write into.
domain::outcome<domain::unit_t> check_existing_store(const std::string& path) {
  std::vector<std::string> existing;
  auto listed = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &existing);
  if (!listed.ok()) {
    std::error_code ec;
    if (!std::filesystem::exists(path + "/CURRENT", ec))
      return domain::unit; // no database yet: this start creates it
    return domain::fail(domain::errc::storage_failure,
                        "store: cannot read the store's column list (" + listed.ToString() + "); it is damaged: "
                        "restore the data dir from a backup, or in a cluster wipe it and rejoin under a new "
                        "BENTO_NODE_ID");
  }
  bool has_entities = false;
  for (auto& name : existing) {
    if (name == "default")
      continue;
    bool known = false;
    for (auto* ours : column_names)
      known = known || name == ours;
    if (!known)
      return domain::fail(domain::errc::storage_failure,
                          "store: " + path + " is a RocksDB database that is not Bento's (it has a column '" + name +
                            "'); point BENTO_DATA_DIR at a Bento node's data dir");
    has_entities = has_entities || name == "entities";
  }
  if (!has_entities)
    return domain::fail(domain::errc::storage_failure,
                        "store: " + path + " is a RocksDB database that is not Bento's (no entities column)");
  return domain::unit;
}

} // namespace

domain::outcome<std::unique_ptr<entity_store>> entity_store::open(const store_options& options) {
  if (auto checked = check_existing_store(options.path); !checked)
    return checked.error();
  auto p = std::make_unique<impl>();
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  db_options.max_open_files = 512;
  db_options.enable_write_thread_adaptive_yield = false;
  db_options.keep_log_file_num = 4;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.info_log = make_rocksdb_logger();
  db_options.listeners.push_back(std::make_shared<manual_recovery>());
  p->path = options.path;

  p->cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = p->cache;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf_options.compression = rocksdb::kLZ4Compression;
  // Compaction was a quarter of a place-order node's CPU (LZ4 alone 6.6 %): with 2 MB memtables and RocksDB's
  // defaults, every 8 MB of L0 merged into an L1 of up to 256 MB, and order ids spread over all of it. Now L0
  // and L1 stay uncompressed (their data is rewritten soon; LZ4 from L2 down, where it stays), eight L0 files
  // (16 MB) go down at once into an L1 of 64 MB, in 16 MB files. Paired 10 s runs: +4 % orders/s, -7 % CPU per
  // order for the compression, another +2 %, -7 % for the levels; sustained (bench/scale.py, 1M orders) 5,308 ->
  // 6,326 orders/s, data dir 811 -> 785 MiB, single-order reads p99 0.44 -> 0.51 ms (more L0 files to look in).
  cf_options.compression_per_level = {rocksdb::kNoCompression, rocksdb::kNoCompression, rocksdb::kLZ4Compression,
                                      rocksdb::kLZ4Compression, rocksdb::kLZ4Compression, rocksdb::kLZ4Compression,
                                      rocksdb::kLZ4Compression};
  cf_options.level0_file_num_compaction_trigger = 8;
  cf_options.max_bytes_for_level_base = 64u << 20;
  cf_options.target_file_size_base = 16u << 20;

  // 2 MB write buffers, not RocksDB's 64 MB: a memtable insert walks a skip list whose lower levels miss the
  // cache, and in a 64 MB one that walk was the largest single cost of an order (inserts ~23 % of the node's CPU
  // in perf; ~16 % at 16 MB). Paired runs of place-order (bench/paired.py): 16 -> 4 MB +7 % orders/s, 4 -> 2 MB
  // +5 %; over 700k orders in one run (compaction included) 2 MB placed 16 % more than 16 MB in the same time,
  // with less memory. Memtables are also most of a node's memory at rest (up to two per column), and what a
  // restart replays from the WAL. Measured again with the insert hints, side by side (bench/side_by_side.py, 3
  // nodes, 2 x 60 s): 8 MB for entities, events and indexes cut compaction by 40 % but made the order path's
  // inserts and reads 4.5 % dearer: -4 % CPU per order, -3.6 % orders/s. Kept at 2 MB.
  cf_options.write_buffer_size = 2u << 20;
  // Small buffers fill fast: four (not two) per column before writes stall behind a flush that a compaction
  // holds up.
  cf_options.max_write_buffer_number = 4;
  // A bloom filter over each memtable's whole keys: an order's three reads of keys that do not exist yet (its
  // activation, the restaurant's check of its record, its reservation) skip the skip-list walks of up to four
  // memtables. Paired one node (3 x 10 s): +4 % orders/s, -5 % CPU per order.
  cf_options.memtable_prefix_bloom_size_ratio = 0.05;
  cf_options.memtable_whole_key_filtering = true;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
  for (size_t c = 0; c < std::size(column_names); ++c) {
    auto options = cf_options;
    if (hinted(static_cast<column>(c)))
      options.memtable_insert_with_hint_prefix_extractor = insert_hint_prefix();
    if (static_cast<column>(c) == column::indexes) {
      // Every 2 MB flush of listing entries spans every customer's and merchant's keys, so each L0 -> L1
      // compaction rewrites most of L1; merging 16 L0 files at once (not 8) rewrites it half as often. Nothing
      // on the order path reads this column, only listings, whose iterators look into up to 8 more small files.
      // Side by side (bench/side_by_side.py, one node, 2 x 60 s): -6.8 % and -4.4 % CPU per order, orders/s
      // +1.6 %, +1.2 %; 3 nodes -1.1 %, -0.3 % (noise); a page of 50 orders p50 1.25-1.66 -> 1.77 ms
      // (bench/scale.py, 300k orders). At 32 files: one node -4.8 %, -7.4 %, 3 nodes -2.8 %, -2.4 %, pages at
      // 2.0-2.1 ms. The same for entities and events cost the order path's reads: one node's foreground +7-9 %.
      options.level0_file_num_compaction_trigger = 16;
      options.level0_slowdown_writes_trigger = 32;
      options.level0_stop_writes_trigger = 48;
    }
    descriptors.emplace_back(column_names[c], options);
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto status = rocksdb::DB::Open(db_options, options.path, descriptors, &handles, &raw);
  if (status.IsCorruption())
    return domain::fail(domain::errc::storage_failure,
                        "store: " + status.ToString() + "; the store is damaged and this node will not serve from "
                        "it: restore the data dir from a backup, or in a cluster wipe it and rejoin under a new "
                        "BENTO_NODE_ID");
  if (!status.ok())
    return storage_error(status);
  p->db.reset(raw);
  // handles[0] is the default family, which we do not use.
  p->db->DestroyColumnFamilyHandle(handles[0]);
  p->handles.assign(handles.begin() + 1, handles.end());
  if (options.sync_writes) {
    auto* db = p->db.get();
    auto* state = p.get();
    p->syncer = std::make_unique<wal_syncer>([db, state] {
      if (state->write_failed.load(std::memory_order_acquire))
        return false;
      auto s = db->SyncWAL();
      if (!s.ok())
        state->failed(s);
      return s.ok();
    });
  }

  std::unique_ptr<entity_store> store(new entity_store(std::move(p)));
  store->shard_count_ = std::clamp<domain::shard_id>(options.shards, 1, domain::max_shard_count);
  store->sequences_ = std::make_unique<shard_sequence[]>(store->shard_count_);
  store->recent_kept_ = std::clamp<size_t>(8192 / store->shard_count_, 4, 128);
  store->resume_event_sequences();
  return store;
}

void entity_store::resume_event_sequences() {
  for (domain::shard_id s = 0; s < shard_count_; ++s)
    resume_event_sequence(s);
}

void entity_store::resume_event_sequence(domain::shard_id s) {
  // The shard's sequence goes on after its last stored event.
  if (s >= shard_count_)
    return;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(column::events)));
  auto upper = domain::shard_prefix(s) + std::string(8, '\xff');
  it->SeekForPrev(slice(upper));
  uint64_t last = 0;
  if (it->Valid() && it->key().starts_with(slice(domain::shard_prefix(s))) && it->key().size() == 10)
    last = event_seq(std::string_view(it->key().data(), it->key().size()));
  std::lock_guard lock(sequences_[s].mutex);
  sequences_[s].assigned = last;
  sequences_[s].in_flight.clear();
  sequences_[s].visible = last;
  sequences_[s].recent.clear();
}

void entity_store::forget_recent(shard_sequence& s) {
  std::lock_guard lock(s.mutex);
  s.recent.clear();
}

bool entity_store::recent_events(domain::shard_id shard, uint64_t after_seq, uint64_t up_to_seq,
                                 std::vector<std::shared_ptr<const domain::event>>& out,
                                 const event_type_filter& decode_if) const {
  if (shard >= shard_count_ || up_to_seq <= after_seq)
    return shard < shard_count_;
  std::vector<shard_sequence::recent_event> held;
  {
    auto& s = sequences_[shard];
    std::lock_guard lock(s.mutex);
    if (s.recent.empty() || s.recent.front().ev->seq > after_seq + 1 || s.recent.back().ev->seq < up_to_seq)
      return false;
    auto from = std::lower_bound(s.recent.begin(), s.recent.end(), after_seq + 1,
                                 [](const auto& r, uint64_t n) { return r.ev->seq < n; });
    // Contiguous numbers only: a batch still being written (or a gap) means some are not here yet.
    auto count = up_to_seq - after_seq;
    if (static_cast<uint64_t>(s.recent.end() - from) < count)
      return false;
    for (uint64_t i = 0; i < count; ++i)
      if (from[static_cast<std::ptrdiff_t>(i)].ev->seq != after_seq + 1 + i)
        return false;
    held.assign(from, from + static_cast<std::ptrdiff_t>(count));
  }
  // Decoding outside the lock (the committing threads append to the same memory); the bytes are shared, not
  // copied, under it.
  std::vector<std::shared_ptr<const domain::event>> got;
  got.reserve(held.size());
  for (auto& r : held) {
    if (!r.encoded || (decode_if && !decode_if(r.ev->type))) {
      got.push_back(std::move(r.ev));
      continue;
    }
    auto ev = std::make_shared<domain::event>();
    if (!codec::decode(*r.encoded, *ev))
      return false; // as a gap: the reader scans the store, and meets what it makes of these bytes there
    ev->seq = r.ev->seq;
    ev->shard = r.ev->shard;
    got.push_back(std::move(ev));
  }
  out.insert(out.end(), std::make_move_iterator(got.begin()), std::make_move_iterator(got.end()));
  return true;
}

void entity_store::announce_replaced(domain::shard_id shard) {
  if (listener_ && shard < shard_count_)
    listener_(domain::event{last_event_seq(shard), "restaurant.snapshot_installed", {}, 0, {}, {}, shard});
}

uint64_t entity_store::last_event_seq(domain::shard_id shard) const noexcept {
  return shard < shard_count_ ? sequences_[shard].visible.load() : 0;
}

entity_store::entity_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

entity_store::~entity_store() = default;

domain::outcome<std::optional<std::string>> entity_store::get(column cf, std::string_view key) const {
  gets_.fetch_add(1, std::memory_order_relaxed);
  std::string value;
  auto status = impl_->db->Get(rocksdb::ReadOptions(), impl_->cf(cf), slice(key), &value);
  if (status.IsNotFound())
    return std::optional<std::string>{};
  if (!status.ok())
    return storage_error(status);
  return std::optional<std::string>{std::move(value)};
}

domain::outcome<domain::unit_t> entity_store::check_writable() {
  if (std::string why; !impl_->writable(why))
    return domain::fail(domain::errc::storage_failure,
                        "this node's disk refuses writes (" + why + "); reads still work, and writes resume once "
                        "it has space again");
  return domain::unit;
}

namespace {

/// The order a batch's ops go to RocksDB in: by column and key (stable: ops on one key keep their order), so that
/// each memtable's inserts ascend and its skip list reuses the place of the one before (RocksDB keeps that splice
/// for sequential inserts) instead of walking down from the top for each key. A group of many entities' writes
/// (a lone leader's round, a replicated entry) came in entity order, each entity's keys far apart. A batch with a
/// range deletion keeps its order: a put and the range over it must stay in the order they came.
std::vector<uint32_t> insert_order(const std::vector<write_batch::op>& ops) {
  std::vector<uint32_t> order(ops.size());
  for (uint32_t i = 0; i < order.size(); ++i)
    order[i] = i;
  if (ops.size() < 4 || std::any_of(ops.begin(), ops.end(), [](const write_batch::op& o) { return o.range; }))
    return order;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (ops[a].cf != ops[b].cf)
      return ops[a].cf < ops[b].cf;
    return ops[a].key < ops[b].key;
  });
  return order;
}

} // namespace

domain::outcome<domain::unit_t> entity_store::commit(write_batch& batch) {
  if (!batch.events_.empty() && (!batch.shard_ || *batch.shard_ >= shard_count_))
    return domain::fail(domain::errc::storage_failure, "store: events belong to a shard");
  if (auto writable = check_writable(); !writable)
    return writable;
  // The batch's record grows by appending each op: sized once, it is one allocation instead of a doubling per
  // few ops (events are appended after the loop, ~their record sizes more).
  size_t bytes = 64;
  for (auto& o : batch.ops_)
    bytes += o.key.size() + o.value.size() + 16;
  rocksdb::WriteBatch wb(bytes + batch.events_.size() * 512);
  bool replaces_events = false; // a snapshot writing a shard's events as records: what memory holds may differ
  auto order = insert_order(batch.ops_);
  for (size_t k = 0; k < order.size(); ++k) {
    auto& o = batch.ops_[order[k]];
    // A write the next one (in write order) replaces is left out: the batch is applied whole, so no reader
    // could ever see it. A group of a restaurant's orders writes each of its items' records once per order.
    if (k + 1 < order.size()) {
      auto& next = batch.ops_[order[k + 1]];
      if (!o.range && !next.range && next.cf == o.cf && next.key == o.key)
        continue;
    }
    auto status = o.range   ? wb.DeleteRange(impl_->cf(o.cf), slice(o.key), slice(o.value))
                  : o.erase ? wb.Delete(impl_->cf(o.cf), slice(o.key))
                            : wb.Put(impl_->cf(o.cf), slice(o.key), slice(o.value));
    if (!status.ok())
      return storage_error(status);
    replaces_events = replaces_events || o.cf == column::events;
  }
  if (replaces_events)
    for (domain::shard_id s = 0; s < shard_count_; ++s)
      forget_recent(sequences_[s]);
  // The batch's events move into shared, immutable copies once, before any number is taken (an allocation that
  // fails here leaves nothing held): the WAL record is encoded from them, and the listener and the store's
  // memory of recent events (recent_events) share them.
  std::vector<std::shared_ptr<domain::event>> events;
  events.reserve(batch.events_.size());
  for (auto& ev : batch.events_)
    events.push_back(std::make_shared<domain::event>(std::move(ev)));
  batch.events_.clear();
  // Beside `events`: each one's bytes when it came encoded, or none; shared with the memory of recent events.
  std::vector<std::shared_ptr<std::string>> encoded(events.size());
  for (size_t i = 0; i < batch.encoded_.size() && i < events.size(); ++i)
    if (!batch.encoded_[i].empty())
      encoded[i] = std::make_shared<std::string>(std::move(batch.encoded_[i]));
  batch.encoded_.clear();
  std::vector<size_t> unstamped(events.size());
  for (size_t i = 0; i < events.size(); ++i)
    unstamped[i] = encoded[i] ? encoded[i]->size() : 0;
  // A write that fails leaves the batch as it came, events included: its writer may try it again (a replica's
  // ready is written again until the disk takes it), and its records must not go without their events.
  auto give_back = [&] {
    for (size_t i = 0; i < events.size(); ++i) {
      events[i]->seq = 0;
      batch.events_.push_back(std::move(*events[i]));
      if (encoded[i]) {
        encoded[i]->resize(unstamped[i]);
        batch.encoded_.push_back(std::move(*encoded[i]));
      } else {
        batch.encoded_.emplace_back();
      }
    }
  };
  uint64_t first_seq = 0;
  shard_sequence* seq = batch.shard_ && !events.empty() ? &sequences_[*batch.shard_] : nullptr;
  if (seq) {
    std::lock_guard lock(seq->mutex);
    first_seq = seq->assigned + 1;
    for (auto& ev : events) {
      ev->seq = ++seq->assigned;
      ev->shard = *batch.shard_;
    }
    seq->in_flight.insert(first_seq);
  }
  // Whatever happens below, this batch's numbers stop holding back the visible sequence. Written events are
  // remembered before they become visible, so a reader up to the visible number finds all of them in memory.
  // Memory is only a shortcut: if remembering fails (allocation), it is cleared, and the visible number moves on
  // regardless, or the shard's readers would stall for good.
  auto settle = [&](bool written) {
    if (!seq)
      return;
    std::lock_guard lock(seq->mutex);
    try {
      if (!written) {
        seq->recent.clear(); // its numbers are lost: memory must not look contiguous across them
      } else {
        // Batches reach here in any order; the deque stays sorted by seq (usually an append).
        auto at = seq->recent.end();
        while (at != seq->recent.begin() && std::prev(at)->ev->seq > first_seq)
          --at;
        std::vector<shard_sequence::recent_event> held;
        held.reserve(events.size());
        for (size_t i = 0; i < events.size(); ++i)
          held.push_back({events[i], encoded[i]});
        seq->recent.insert(at, std::make_move_iterator(held.begin()), std::make_move_iterator(held.end()));
        while (seq->recent.size() > recent_kept_)
          seq->recent.pop_front();
      }
    } catch (...) {
      seq->recent.clear();
    }
    seq->in_flight.erase(first_seq);
    seq->visible = seq->in_flight.empty() ? seq->assigned : *seq->in_flight.begin() - 1;
  };
  try {
    for (size_t i = 0; i < events.size(); ++i) {
      auto& ev = events[i];
      // Another node's bytes are stored as they came, numbered here: no decode and encode of a whole order.
      if (encoded[i])
        codec::stamp_seq(*encoded[i], ev->seq);
      auto status = wb.Put(impl_->cf(column::events), event_key(ev->shard, ev->seq),
                           encoded[i] ? *encoded[i] : codec::encode(*ev));
      if (!status.ok()) {
        settle(false);
        give_back();
        return storage_error(status);
      }
    }
  } catch (...) {
    settle(false); // an encoding that could not allocate: its numbers must not hold the sequence back
    throw;
  }
  // RocksDB takes a range that ends before it starts into its WAL, applies the batch's puts before it to the
  // memtable, refuses the range there and stays in its background-error state: half a batch written and every
  // later write refused until a restart; one starting inside an insert hint's prefix it takes, and corrupts its
  // memtable. No writer of Bento's makes either (shard_store refuses them before a replicated log or a group of
  // writes could take them; a peer's is refused at decode); one that reaches here anyway is refused as a write
  // RocksDB refuses (numbers passed over, events given back), unwritten. Keys here carry their shard prefix.
  if (auto why = batch.refused_range(sizeof(domain::shard_id))) {
    settle(false);
    give_back();
    return domain::fail(domain::errc::storage_failure, std::string("store: ") + why + " (a bug; nothing was written)");
  }
  auto status = impl_->db->Write(impl_->write_options, &wb);
  writes_.fetch_add(1, std::memory_order_relaxed);
  settle(status.ok());
  if (!status.ok())
    give_back();
  if (!status.ok() && !(status.IsIOError() || status.IsNoSpace()))
    return storage_error(status); // the batch itself was refused: the disk is fine
  if (!status.ok()) {
    impl_->failed(status);
    return domain::fail(domain::errc::storage_failure,
                        "this node's disk refuses writes (" + status.ToString() + "); reads still work, and writes "
                        "resume once it has space again");
  }
  if (listener_)
    for (auto& ev : events)
      listener_(*ev);
  return domain::unit;
}

struct read_view::impl {
  rocksdb::DB* db = nullptr;
  const rocksdb::Snapshot* snapshot = nullptr;
};

read_view::read_view(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

read_view::~read_view() {
  if (impl_ && impl_->snapshot)
    impl_->db->ReleaseSnapshot(impl_->snapshot);
}

std::shared_ptr<const read_view> entity_store::view() const {
  auto p = std::make_unique<read_view::impl>();
  p->db = impl_->db.get();
  p->snapshot = impl_->db->GetSnapshot();
  return std::shared_ptr<const read_view>(new read_view(std::move(p)));
}

domain::outcome<domain::unit_t> entity_store::scan(column cf, std::string_view prefix,
                                                   std::string_view start_after, const visitor& fn,
                                                   const read_view* at) const {
  rocksdb::ReadOptions ro;
  if (at)
    ro.snapshot = at->impl_->snapshot;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->cf(cf)));
  if (start_after.empty()) {
    it->Seek(slice(prefix));
  } else {
    it->Seek(slice(start_after));
    if (it->Valid() && it->key() == slice(start_after))
      it->Next();
  }
  for (; it->Valid() && it->key().starts_with(slice(prefix)); it->Next())
    if (!fn(std::string_view(it->key().data(), it->key().size()),
            std::string_view(it->value().data(), it->value().size())))
      break;
  if (!it->status().ok())
    return storage_error(it->status());
  return domain::unit;
}

domain::outcome<domain::unit_t> entity_store::scan_reverse(column cf, std::string_view prefix,
                                                           std::string_view start_before,
                                                           const visitor& fn) const {
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->cf(cf)));
  if (start_before.empty()) {
    // Position past the last key with this prefix: prefix followed by 0xff bytes sorts after all of them.
    std::string upper(prefix);
    upper.append(32, '\xff');
    it->SeekForPrev(slice(upper));
  } else {
    it->SeekForPrev(slice(start_before));
    if (it->Valid() && it->key() == slice(start_before))
      it->Prev();
  }
  for (; it->Valid() && it->key().starts_with(slice(prefix)); it->Prev())
    if (!fn(std::string_view(it->key().data(), it->key().size()),
            std::string_view(it->value().data(), it->value().size())))
      break;
  if (!it->status().ok())
    return storage_error(it->status());
  return domain::unit;
}

domain::outcome<domain::unit_t> entity_store::scan_events(domain::shard_id shard, uint64_t after_seq,
                                                          uint64_t up_to_seq, const event_visitor& fn,
                                                          const event_type_filter& decode_if) const {
  if (up_to_seq <= after_seq || shard >= shard_count_)
    return domain::unit;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(column::events)));
  auto prefix = domain::shard_prefix(shard);
  auto start = event_key(shard, after_seq + 1);
  for (it->Seek(slice(start)); it->Valid() && it->key().starts_with(slice(prefix)); it->Next()) {
    if (event_seq(std::string_view(it->key().data(), it->key().size())) > up_to_seq)
      break;
    domain::event ev;
    std::string_view bytes(it->value().data(), it->value().size());
    std::optional<std::string_view> type;
    if (decode_if && (type = codec::event_type_of(bytes)) && !decode_if(*type))
      ev.type = std::string(*type); // declined: its number and type only
    else if (!codec::decode(bytes, ev))
      continue; // not ours to judge here; a consumer that needs every event checks seq continuity itself
    ev.seq = event_seq(std::string_view(it->key().data(), it->key().size()));
    ev.shard = shard;
    if (!fn(ev))
      break;
  }
  if (!it->status().ok())
    return storage_error(it->status());
  return domain::unit;
}

uint64_t entity_store::first_event_seq(domain::shard_id shard) const {
  if (shard >= shard_count_)
    return 0;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(column::events)));
  auto prefix = domain::shard_prefix(shard);
  for (it->Seek(slice(prefix)); it->Valid() && it->key().starts_with(slice(prefix)); it->Next())
    if (it->key().size() == prefix.size() + 8)
      return event_seq(std::string_view(it->key().data(), it->key().size()));
  return 0;
}

domain::outcome<uint64_t> entity_store::prune_events(domain::shard_id shard, uint64_t through_seq,
                                                     int64_t older_than_ms, uint64_t max_events) {
  if (shard >= shard_count_ || through_seq == 0 || max_events == 0)
    return uint64_t{0};
  // The newest is kept whatever its age: it is where the shard's sequence resumes.
  through_seq = std::min(through_seq, last_event_seq(shard));
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(column::events)));
  auto prefix = domain::shard_prefix(shard);
  uint64_t cut = 0, count = 0;
  for (it->Seek(slice(prefix)); it->Valid() && it->key().starts_with(slice(prefix)) && count < max_events;
       it->Next()) {
    if (it->key().size() != prefix.size() + 8) {
      ++count; // not an event key (a corrupt record): no reader can use it, and the range delete takes it
      continue;
    }
    auto seq = event_seq(std::string_view(it->key().data(), it->key().size()));
    if (seq >= through_seq)
      break; // `through_seq` itself stays: at worst it is the newest
    domain::event ev;
    // An undecodable event is skipped by every reader; its age does not matter.
    if (codec::decode(std::string_view(it->value().data(), it->value().size()), ev) && ev.at_ms >= older_than_ms)
      break;
    cut = seq;
    ++count;
  }
  if (!it->status().ok())
    return storage_error(it->status());
  if (cut == 0)
    return uint64_t{0};
  // One range tombstone per round: readers seek past it at once, where point deletes would leave thousands of
  // tombstones to step over until compaction.
  if (std::string why; !impl_->writable(why))
    return domain::fail(domain::errc::storage_failure, "store: writes refused (" + why + ")");
  rocksdb::WriteBatch wb;
  auto status = wb.DeleteRange(impl_->cf(column::events), slice(prefix), slice(event_key(shard, cut + 1)));
  if (status.ok())
    status = impl_->db->Write(rocksdb::WriteOptions(), &wb);
  if (!status.ok()) {
    impl_->failed(status);
    return storage_error(status);
  }
  return count;
}

struct reverse_cursor::impl {
  std::unique_ptr<rocksdb::Iterator> it;
  std::string prefix;
};

reverse_cursor::reverse_cursor(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
reverse_cursor::~reverse_cursor() = default;
reverse_cursor::reverse_cursor(reverse_cursor&&) noexcept = default;
reverse_cursor& reverse_cursor::operator=(reverse_cursor&&) noexcept = default;

bool reverse_cursor::valid() const {
  return impl_->it->Valid() && impl_->it->key().starts_with(slice(impl_->prefix));
}

std::string_view reverse_cursor::key() const {
  return {impl_->it->key().data(), impl_->it->key().size()};
}

std::string_view reverse_cursor::value() const {
  return {impl_->it->value().data(), impl_->it->value().size()};
}

void reverse_cursor::prev() {
  impl_->it->Prev();
}

domain::outcome<domain::unit_t> reverse_cursor::status() const {
  if (!impl_->it->status().ok())
    return storage_error(impl_->it->status());
  return domain::unit;
}

reverse_cursor entity_store::scan_back(column cf, std::string_view prefix, std::string_view start_before) const {
  auto p = std::make_unique<reverse_cursor::impl>();
  p->it.reset(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(cf)));
  p->prefix = std::string(prefix);
  if (start_before.empty()) {
    std::string upper(prefix);
    upper.append(32, '\xff');
    p->it->SeekForPrev(slice(upper));
  } else {
    p->it->SeekForPrev(slice(start_before));
    if (p->it->Valid() && p->it->key() == slice(start_before))
      p->it->Prev();
  }
  return reverse_cursor(std::move(p));
}

void entity_store::after_durable(std::function<void(bool)> done) {
  if (!impl_->syncer) {
    done(true);
    return;
  }
  impl_->syncer->after_durable(std::move(done));
}

void entity_store::set_event_listener(event_listener fn) {
  listener_ = std::move(fn);
}

std::map<std::string, double> entity_store::stats() const {
  std::map<std::string, double> out;
  static const std::pair<const char*, const char*> props[] = {
    {"estimate_num_keys", "rocksdb.estimate-num-keys"},
    {"live_sst_files_size_bytes", "rocksdb.live-sst-files-size"},
    {"memtable_size_bytes", "rocksdb.cur-size-all-mem-tables"},
    {"table_readers_bytes", "rocksdb.estimate-table-readers-mem"}, // SST index and filter blocks held open
    {"memtable_entries_active", "rocksdb.num-entries-active-mem-table"}, // writes since the last memtable switch
    {"pending_compaction_bytes", "rocksdb.estimate-pending-compaction-bytes"},
    {"num_running_compactions", "rocksdb.num-running-compactions"},
  };
  for (auto& [name, prop] : props) {
    double total = 0;
    for (auto* h : impl_->handles) {
      uint64_t v = 0;
      if (impl_->db->GetIntProperty(h, prop, &v))
        total += static_cast<double>(v);
    }
    out[name] = total;
  }
  out["block_cache_usage_bytes"] = static_cast<double>(impl_->cache->GetUsage());
  double events = 0;
  for (domain::shard_id sh = 0; sh < shard_count_; ++sh)
    events += static_cast<double>(sequences_[sh].visible.load());
  out["events_visible"] = events;
  out["writes"] = static_cast<double>(writes_.load(std::memory_order_relaxed));
  out["gets"] = static_cast<double>(gets_.load(std::memory_order_relaxed));
  if (impl_->syncer)
    out["wal_syncs"] = static_cast<double>(impl_->syncer->syncs());
  return out;
}

void entity_store::close() {
  if (!impl_->db)
    return;
  // Answers whoever still waits, after a last fsync. Later callers are answered at once: what follows syncs
  // everything to disk before the database closes.
  impl_->syncer.reset();
  if (std::string why; impl_->writable(why)) { // a failed WAL must not be touched again (see impl)
    rocksdb::FlushOptions fo;
    fo.wait = true;
    impl_->db->Flush(fo, impl_->handles);
    impl_->db->FlushWAL(true);
  }
  for (auto* h : impl_->handles)
    impl_->db->DestroyColumnFamilyHandle(h);
  impl_->handles.clear();
  impl_->db->Close();
  impl_->db.reset();
}

} // namespace bento::store
