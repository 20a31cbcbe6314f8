// The RocksDB store, for real, in a temp directory.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "actors/common/keys.hpp"
#include "actors/order_index/order_index_actor.hpp"
#include "actors/order_index/order_index_writes.hpp"
#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"
#include "actors/store/wal_syncer.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento;
using store::column;

namespace {

std::unique_ptr<store::entity_store> open_store(const std::string& path) {
  auto s = store::entity_store::open(store::store_options{path, false, 8u << 20});
  REQUIRE(s);
  return std::move(*s);
}

/// A stand-in for the disk: each fsync blocks until the test releases it, so the test decides what overlaps.
struct controlled_disk {
  std::mutex mutex;
  std::condition_variable changed;
  int started = 0;
  int released = 0;
  bool healthy = true;

  bool sync() {
    std::unique_lock lock(mutex);
    int mine = ++started;
    changed.notify_all();
    changed.wait(lock, [&] { return released >= mine; });
    return healthy;
  }
  void release_one() {
    std::lock_guard lock(mutex);
    ++released;
    changed.notify_all();
  }
  bool wait_started(int n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), [&] { return started >= n; });
  }
};

/// Answers a wal_syncer gives, observable from the test thread.
struct answers {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<bool> got;
  std::function<void(bool)> slot() {
    return [this](bool ok) {
      std::lock_guard lock(mutex);
      got.push_back(ok);
      changed.notify_all();
    };
  }
  size_t count() {
    std::lock_guard lock(mutex);
    return got.size();
  }
  bool wait_for(size_t n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), [&] { return got.size() >= n; });
  }
};

} // namespace

TEST_CASE("wal syncer: callers are answered by an fsync that began after they asked, many share one",
          "[unit]") {
  controlled_disk disk;
  answers first, later;
  store::wal_syncer syncer([&] { return disk.sync(); });
  syncer.after_durable(first.slot());
  REQUIRE(disk.wait_started(1));
  // These arrive while fsync 1 runs: it may not answer them (their writes may have missed it).
  for (int i = 0; i < 100; ++i)
    syncer.after_durable(later.slot());
  disk.release_one();
  REQUIRE(first.wait_for(1));
  REQUIRE(disk.wait_started(2));
  CHECK(later.count() == 0);
  disk.release_one();
  REQUIRE(later.wait_for(100));
  CHECK(syncer.syncs() == 2); // group commit: 101 callers, 2 fsyncs
  CHECK(first.got == std::vector<bool>{true});
}

TEST_CASE("wal syncer: a failed fsync answers false; stop answers whoever waits", "[unit]") {
  controlled_disk disk;
  answers a, b;
  store::wal_syncer syncer([&] { return disk.sync(); });
  disk.healthy = false;
  syncer.after_durable(a.slot());
  REQUIRE(disk.wait_started(1));
  syncer.after_durable(b.slot());
  disk.release_one();
  REQUIRE(a.wait_for(1));
  CHECK(a.got == std::vector<bool>{false});
  disk.healthy = true;
  REQUIRE(disk.wait_started(2));
  disk.release_one();
  disk.release_one(); // lets the inline fsync of the call after stop through too
  syncer.stop();
  REQUIRE(b.wait_for(1));
  CHECK(b.got == std::vector<bool>{true});
  answers late;
  syncer.after_durable(late.slot());
  CHECK(late.got == std::vector<bool>{true});
}

TEST_CASE("store: a batch is atomic, durable across reopen, and numbers its events", "[unit]") {
  test::temp_dir dir;
  std::vector<uint64_t> seen;
  {
    auto s = open_store(dir / "db");
    s->set_event_listener([&](const domain::event& ev) { seen.push_back(ev.seq); });
    store::shard_store alice(*s, 7);
    store::write_batch b;
    b.put(column::entities, "u/alice", "1");
    b.put(column::indexes, "x", "2");
    b.append_event(domain::event{0, "user.registered", "user/alice", 1, {}, {}});
    b.append_event(domain::event{0, "user.other", "user/alice", 1, {}, {}});
    REQUIRE(alice.commit(b));
    CHECK(seen == std::vector<uint64_t>{1, 2});
    // Another shard has its own sequence.
    store::shard_store other(*s, 8);
    store::write_batch c;
    c.append_event(domain::event{0, "user.registered", "user/bob", 1, {}, {}});
    REQUIRE(other.commit(c));
    CHECK(seen == std::vector<uint64_t>{1, 2, 1});
    // Events belong to a shard: a batch outside any shard cannot carry them.
    store::write_batch loose;
    loose.append_event(domain::event{0, "user.registered", "user/carl", 1, {}, {}});
    CHECK_FALSE(s->commit(loose));
    s->close();
  }
  auto s = open_store(dir / "db");
  CHECK(s->last_event_seq(7) == 2);
  CHECK(s->last_event_seq(8) == 1);
  CHECK(s->last_event_seq(9) == 0);
  store::shard_store alice(*s, 7);
  auto v = alice.get(column::entities, "u/alice");
  REQUIRE(v);
  CHECK(**v == "1");
  auto stored = s->get(column::entities, domain::shard_prefix(7) + "u/alice"); // behind the shard's prefix
  REQUIRE(stored);
  CHECK(stored->has_value());
  auto missing = alice.get(column::entities, "u/bob");
  REQUIRE(missing);
  CHECK_FALSE(missing->has_value());
  std::vector<std::string> types;
  REQUIRE(s->scan_events(7, 0, 2, [&](const domain::event& ev) {
    types.push_back(ev.type);
    CHECK(ev.shard == 7);
    return true;
  }));
  CHECK(types == std::vector<std::string>{"user.registered", "user.other"});
}

TEST_CASE("store: a batch's writes to one key keep their order, and a range deletion keeps its place", "[unit]") {
  // The store hands a batch's ops to RocksDB sorted by column and key (ascending memtable inserts): a key written
  // twice must still end as the later write says, and a batch with a range deletion must not be reordered.
  test::temp_dir dir;
  auto s = open_store(dir / "db");
  store::write_batch b;
  b.put(column::entities, "k/5", "first");
  b.put(column::entities, "k/1", "a");
  b.erase(column::entities, "k/5");
  b.put(column::indexes, "k/0", "i");
  b.put(column::entities, "k/3", "x");
  b.put(column::entities, "k/3", "y");
  b.put(column::entities, "k/9", "old");
  b.erase(column::entities, "k/9");
  b.put(column::entities, "k/9", "new");
  REQUIRE(s->commit(b));
  CHECK_FALSE(s->get(column::entities, "k/5")->has_value());
  CHECK(**s->get(column::entities, "k/1") == "a");
  CHECK(**s->get(column::entities, "k/3") == "y");
  CHECK(**s->get(column::entities, "k/9") == "new");
  CHECK(**s->get(column::indexes, "k/0") == "i");
  // A put under a range deleted later in the batch is gone; one after the range stays.
  store::write_batch r;
  r.put(column::entities, "r/2", "gone");
  r.put(column::entities, "r/0", "stays");
  r.put(column::entities, "r/7", "gone too");
  r.put(column::entities, "r/1", "also gone");
  r.erase_range(column::entities, "r/1", "r/8");
  r.put(column::entities, "r/5", "after");
  REQUIRE(s->commit(r));
  CHECK(**s->get(column::entities, "r/0") == "stays");
  CHECK_FALSE(s->get(column::entities, "r/1")->has_value());
  CHECK_FALSE(s->get(column::entities, "r/2")->has_value());
  CHECK_FALSE(s->get(column::entities, "r/7")->has_value());
  CHECK(**s->get(column::entities, "r/5") == "after");
}

TEST_CASE("store: a scan decodes only the events its filter takes, and passes every number", "[unit]") {
  // The catalog reads few of a rush's events (stock, menus), most are orders'; those reach it with their seq and
  // type only. The type is read from the encoded event without decoding it.
  test::temp_dir dir;
  auto s = open_store(dir / "db");
  store::shard_store shard(*s, 3);
  store::write_batch b;
  domain::order o;
  o.id = "o_1";
  o.customer_id = "u_1";
  o.note = std::string(300, 'n');
  b.append_event(domain::event{0, "order.placed", "order/o_1", 5, o, "r1"});
  b.append_event(domain::event{0, "stock.levels", "restaurant/r1", 6,
                               std::vector<domain::stock_level>{{"katsu", 4, {}, 2}}, "r1"});
  b.append_event(domain::event{0, "order.confirmed", "order/o_1", 7, o, "r1"});
  REQUIRE(shard.commit(b));
  std::vector<domain::event> seen;
  auto visit = [&](const domain::event& ev) {
    seen.push_back(ev);
    return true;
  };
  auto stock_only = [](std::string_view type) { return type.substr(0, 6) == "stock."; };
  REQUIRE(s->scan_events(3, 0, 3, visit, stock_only));
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].seq == 1);
  CHECK(seen[0].type == "order.placed");
  CHECK(std::holds_alternative<std::monostate>(seen[0].payload)); // declined: not decoded
  CHECK(seen[0].entity.empty());
  CHECK(seen[1].seq == 2);
  CHECK(seen[1].type == "stock.levels");
  REQUIRE(std::holds_alternative<std::vector<domain::stock_level>>(seen[1].payload));
  CHECK(std::get<std::vector<domain::stock_level>>(seen[1].payload).at(0).item_id == "katsu");
  CHECK(seen[2].seq == 3);
  CHECK(seen[2].type == "order.confirmed");
  CHECK(seen[2].shard == 3);
  // Without a filter every event is decoded, as before.
  seen.clear();
  REQUIRE(s->scan_events(3, 0, 3, visit));
  REQUIRE(seen.size() == 3);
  REQUIRE(std::holds_alternative<domain::order>(seen[0].payload));
  CHECK(std::get<domain::order>(seen[0].payload).note == o.note);
  CHECK(seen[0].entity == "order/o_1");
}

TEST_CASE("store: an event kept as another node's bytes is stored numbered, and decoded from memory only when "
          "asked", "[unit]") {
  test::temp_dir dir;
  auto s = open_store(dir / "db");
  store::shard_store shard(*s, 3);
  domain::order o;
  o.id = "o_1";
  o.note = std::string(100, 'n');
  domain::event placed{0, "order.placed", "order/o_1", 5, o, "r1"};
  auto bytes = codec::encode(placed);
  domain::event header;
  REQUIRE(codec::decode_header(bytes, header));
  CHECK(header.type == "order.placed");
  CHECK(header.entity == "order/o_1");
  CHECK(std::holds_alternative<std::monostate>(header.payload));
  CHECK_FALSE(codec::decode_header(bytes.substr(0, bytes.size() - 10), header)); // cut short: not an event
  store::write_batch b;
  b.append_event(domain::event{0, "user.registered", "user/u", 4, {}, {}});
  b.append_encoded_event(header, bytes);
  REQUIRE(shard.commit(b));
  std::vector<domain::event> seen;
  REQUIRE(s->scan_events(3, 0, 2, [&](const domain::event& ev) {
    seen.push_back(ev);
    return true;
  }));
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].seq == 2);
  REQUIRE(std::holds_alternative<domain::order>(seen[1].payload));
  CHECK(std::get<domain::order>(seen[1].payload).note == o.note);
  std::vector<std::shared_ptr<const domain::event>> recent;
  REQUIRE(s->recent_events(3, 0, 2, recent, [](std::string_view type) { return type == "user.registered"; }));
  REQUIRE(recent.size() == 2);
  CHECK(recent[1]->seq == 2);
  CHECK(std::holds_alternative<std::monostate>(recent[1]->payload)); // declined: its bytes stay as they are
  recent.clear();
  REQUIRE(s->recent_events(3, 1, 2, recent));
  REQUIRE(recent.size() == 1);
  REQUIRE(std::holds_alternative<domain::order>(recent[0]->payload));
  CHECK(std::get<domain::order>(recent[0]->payload).note == o.note);
  CHECK(recent[0]->seq == 2);
  CHECK(recent[0]->shard == 3);
  // An order's event built around its record's bytes is the event with the order in it, byte for byte.
  auto record = codec::encode(o);
  domain::event bare{0, "order.placed", "order/o_1", 5, {}, "r1"};
  CHECK(codec::encode_order_event(bare, record) == codec::encode(domain::event{0, "order.placed", "order/o_1", 5, o,
                                                                               "r1"}));
  // The type a parser would take (the last of two) is the one a peek reads.
  auto retyped = codec::encode(domain::event{0, "stock.levels", "restaurant/r1", 5, {}, "r1"});
  retyped += std::string("\x12\x0c") + "order.placed";
  REQUIRE(codec::event_type_of(retyped));
  CHECK(*codec::event_type_of(retyped) == "order.placed");
  domain::event parsed;
  REQUIRE(codec::decode(retyped, parsed));
  CHECK(parsed.type == "order.placed");
  // A number stamped on bytes that carry one already replaces it.
  placed.seq = 7;
  auto renumbered = codec::encode(placed);
  codec::stamp_seq(renumbered, 300);
  domain::event back;
  REQUIRE(codec::decode(renumbered, back));
  CHECK(back.seq == 300);
}

TEST_CASE("store: a write the next one to the same key replaces is left out of the batch; the last one stands",
          "[unit]") {
  test::temp_dir dir;
  auto s = open_store(dir / "db");
  auto entries = [&] { return s->stats().at("memtable_entries_active"); };
  store::write_batch b;
  for (int i = 0; i < 5; ++i) // a group of five orders of one item: its record five times
    b.put(column::entities, "item/katsu", "stock " + std::to_string(100 - i));
  b.put(column::entities, "order/a", "placed");
  b.erase(column::entities, "order/b");
  b.put(column::entities, "order/b", "back");
  b.put(column::entities, "order/c", "there");
  b.erase(column::entities, "order/c");
  b.put(column::indexes, "item/katsu", "another column: not the same key");
  auto before = entries();
  REQUIRE(s->commit(b));
  CHECK(entries() - before == 5); // katsu once, a, b (the put), c (the erase), the index
  CHECK(**s->get(column::entities, "item/katsu") == "stock 96");
  CHECK(**s->get(column::entities, "order/b") == "back");
  CHECK_FALSE(s->get(column::entities, "order/c")->has_value());
  CHECK(**s->get(column::indexes, "item/katsu") == "another column: not the same key");
  // With a range deletion the batch keeps its order, and a put before the range is not the one that stands.
  store::write_batch r;
  r.put(column::entities, "r/1", "before");
  r.erase_range(column::entities, "r/0", "r/9");
  r.put(column::entities, "r/2", "after");
  r.put(column::entities, "r/2", "after, again");
  REQUIRE(s->commit(r));
  CHECK_FALSE(s->get(column::entities, "r/1")->has_value());
  CHECK(**s->get(column::entities, "r/2") == "after, again");
}

TEST_CASE("store: a write the store refuses leaves the batch as it came, events included, for a retry", "[unit]") {
  // A replica writes a ready again until the disk takes it: its records must not go without their events.
  test::temp_dir dir;
  auto s = open_store(dir / "db");
  store::shard_store shard(*s, 3);
  domain::order o;
  o.id = "o_1";
  auto bytes = codec::encode(domain::event{0, "order.placed", "order/o_1", 5, o, "r1"});
  domain::event header;
  REQUIRE(codec::decode_header(bytes, header));
  store::write_batch b;
  b.put(column::entities, "o/1", "record");
  b.append_event(domain::event{0, "stock.levels", "restaurant/r1", 6, {}, "r1"});
  b.append_encoded_event(header, bytes);
  b.erase_range(column::entities, "z", "a"); // ends before it starts: refused as a write RocksDB refuses
  shard.prefix_keys(b); // the store's own refusal (shard_store::commit refuses it before any writer does)
  CHECK_FALSE(s->commit(b));
  REQUIRE(b.events().size() == 2);
  CHECK(b.events()[0].type == "stock.levels");
  CHECK(b.events()[1].seq == 0);
  REQUIRE(b.encoded_events().size() == 2);
  CHECK(b.encoded_events()[0].empty());
  CHECK(b.encoded_events()[1] == bytes); // as it came: no number stamped on
  CHECK(s->last_event_seq(3) == 2);      // the numbers it took are passed over, never waited on
  // What a retry would write, less the refused range, into a store that takes it.
  auto fresh = open_store(dir / "db2");
  store::shard_store fresh_shard(*fresh, 3);
  store::write_batch good;
  good.put(column::entities, "o/1", "record");
  good.append_event(b.events()[0]);
  good.append_encoded_event(b.events()[1], b.encoded_events()[1]);
  REQUIRE(fresh_shard.commit(good));
  std::vector<domain::event> seen;
  REQUIRE(fresh->scan_events(3, 0, 2, [&](const domain::event& ev) {
    seen.push_back(ev);
    return true;
  }));
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].seq == 2);
  REQUIRE(std::holds_alternative<domain::order>(seen[1].payload));
  CHECK(std::get<domain::order>(seen[1].payload).id == "o_1");
}

TEST_CASE("store: a range that ends before it starts is refused before RocksDB sees it, and the store goes on "
          "taking writes", "[unit]") {
  // RocksDB writes such a range into its WAL, refuses it at the memtable, and stays in its background-error
  // state: every later write failed until a restart, while the store said the disk was fine.
  test::temp_dir dir;
  auto s = open_store(dir / "db");
  store::shard_store shard(*s, 3);
  auto bad = [] {
    store::write_batch b;
    b.put(column::entities, "o/1", "record");
    b.erase_range(column::entities, "z", "a");
    return b;
  };
  auto at_shard = bad(); // refused by the shard, before a replicated log or a group of writes could take it
  auto refused = shard.commit(at_shard);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == domain::errc::storage_failure); // nothing written: a bug, not the caller's fault
  auto at_store = bad(); // and by the store itself
  shard.prefix_keys(at_store);
  refused = s->commit(at_store);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == domain::errc::storage_failure);
  CHECK_FALSE(shard.get(column::entities, "o/1")->has_value()); // nothing of either written
  store::write_batch good;
  good.put(column::entities, "o/2", "record");
  good.append_event(domain::event{0, "stock.levels", "restaurant/r1", 6, {}, "r1"});
  REQUIRE(shard.commit(good));
  CHECK(shard.get(column::entities, "o/2")->value_or("") == "record");
  store::write_batch empty_range; // from == to: an empty range, which RocksDB takes
  empty_range.erase_range(column::entities, "a", "a");
  CHECK(shard.commit(empty_range));
}

TEST_CASE("store: the visible event sequence never runs ahead of what is written", "[unit]") {
  test::temp_dir dir;
  auto s = open_store(dir / "db");
  store::shard_store shard(*s, 3);
  auto key_of = [](uint64_t seq) {
    std::string key = domain::shard_prefix(3);
    key.resize(10);
    for (int i = 9; i >= 2; --i, seq >>= 8)
      key[static_cast<size_t>(i)] = static_cast<char>(seq & 0xff);
    return key;
  };
  constexpr int writers = 4, commits = 400;
  std::atomic<int> done{0};
  std::atomic<uint64_t> written{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      for (int i = 0; i < commits; ++i) {
        store::write_batch b;
        b.put(column::entities, "k/" + std::to_string(w) + "/" + std::to_string(i), std::string(200, 'v'));
        b.append_event(domain::event{0, "test.a", "x/" + std::to_string(w), 1, {}, {}});
        if (i % 2)
          b.append_event(domain::event{0, "test.b", "x/" + std::to_string(w), 1, {}, {}});
        auto events = b.events().size();
        if (!shard.commit(b))
          break; // reported by the count below
        written += events;
      }
      ++done;
    });
  // A tailing reader: whatever the visible sequence says must already be readable. (It checks once more after
  // the writers are done: on a loaded machine they may all finish before it first runs.)
  uint64_t checks = 0, unreadable = 0, not_in_memory = 0;
  bool last = false;
  do {
    last = done == writers;
    auto visible = s->last_event_seq(3);
    if (visible == 0)
      continue;
    auto ev = s->get(column::events, key_of(visible));
    if (!ev || !ev->has_value())
      unreadable = visible;
    // Memory holds every event up to the visible one too (remembered before it became visible), in order.
    std::vector<std::shared_ptr<const domain::event>> recent;
    auto from = visible > 100 ? visible - 100 : 0;
    if (!s->recent_events(3, from, visible, recent)) {
      // Allowed only if the writers went on far enough to push `from + 1` out of memory: that takes
      // recent_events_kept later numbers written (while one writer stalls, holding the visible number back,
      // the others go on). At most 2 per writer are numbered and not yet counted as written.
      if (written.load() + 2 * writers < from + s->recent_events_kept())
        not_in_memory = visible;
    }
    ++checks;
  } while (!last);
  for (auto& t : threads)
    t.join();
  CHECK(checks > 0);
  CHECK(unreadable == 0);
  CHECK(not_in_memory == 0);
  CHECK(s->last_event_seq(3) == uint64_t{writers} * (commits + commits / 2));
}

TEST_CASE("store: the last events written are served from memory as they were stored, and only those",
          "[unit]") {
  test::temp_dir dir;
  auto s = open_store(dir / "db");
  store::shard_store shard(*s, 5);
  for (int i = 0; i < 200; ++i) {
    store::write_batch b;
    b.append_event(domain::event{0, "test.a", "x/" + std::to_string(i), 1000 + i, {}, {}});
    if (i % 3 == 0)
      b.append_event(domain::event{0, "stock.changed", "restaurant/r" + std::to_string(i), 2000 + i,
                                   std::vector<domain::stock_level>{{"fish", i, "2025-01-15", 3}}, "r"});
    REQUIRE(shard.commit(b));
  }
  auto last = s->last_event_seq(5);
  REQUIRE(last == 267);
  auto kept = s->recent_events_kept();
  std::vector<std::shared_ptr<const domain::event>> recent;
  REQUIRE(s->recent_events(5, last - kept, last, recent));
  REQUIRE(recent.size() == kept);
  size_t i = 0;
  REQUIRE(s->scan_events(5, last - kept, last, [&](const domain::event& stored) {
    REQUIRE(i < recent.size());
    auto& mem = *recent[i++];
    CHECK(mem.seq == stored.seq);
    CHECK(mem.shard == stored.shard);
    CHECK(mem.type == stored.type);
    CHECK(mem.entity == stored.entity);
    CHECK(mem.at_ms == stored.at_ms);
    CHECK(mem.restaurant_id == stored.restaurant_id);
    CHECK(codec::encode(mem) == codec::encode(stored));
    return true;
  }));
  CHECK(i == kept);
  std::vector<std::shared_ptr<const domain::event>> none;
  CHECK_FALSE(s->recent_events(5, last - kept - 1, last, none)); // older than memory keeps
  CHECK_FALSE(s->recent_events(5, last - 3, last + 1, none));    // not written yet
  CHECK_FALSE(s->recent_events(6, 0, 1, none));                  // another shard's: nothing written
  CHECK(none.empty());
  CHECK(s->recent_events(5, last, last, none)); // an empty range is trivially there
  CHECK(none.empty());

  // A batch that writes event records itself (a snapshot being installed) makes memory forget: what it holds
  // may no longer be what is stored.
  store::write_batch snapshot_like;
  snapshot_like.put(column::events, store::event_key(5, last), "whatever the leader had");
  REQUIRE(s->commit(snapshot_like));
  CHECK_FALSE(s->recent_events(5, last - 1, last, none));
  // New commits are remembered again, from where they start.
  store::write_batch more;
  more.append_event(domain::event{0, "test.a", "x/more", 1, {}, {}});
  REQUIRE(shard.commit(more));
  CHECK(s->recent_events(5, last, last + 1, none));
  CHECK_FALSE(s->recent_events(5, last - 1, last + 1, none));
  // So does re-reading the sequence (a snapshot installed, a migration).
  s->resume_event_sequence(5);
  CHECK_FALSE(s->recent_events(5, last, last + 1, none));
}

TEST_CASE("store: a second process cannot open the same directory", "[unit]") {
  test::temp_dir dir;
  auto s = open_store(dir / "db");
  auto second = store::entity_store::open(store::store_options{dir / "db", false, 8u << 20});
  REQUIRE_FALSE(second);
  CHECK(second.error().code == domain::errc::storage_failure);
}

TEST_CASE("store: scans by prefix forwards and backwards with cursors", "[unit]") {
  test::temp_dir dir;
  auto s = open_store(dir / "db");
  store::write_batch b;
  for (auto k : {"p/1", "p/2", "p/3", "q/1"})
    b.put(column::indexes, k, k);
  REQUIRE(s->commit(b));
  std::vector<std::string> keys;
  auto collect = [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  };
  REQUIRE(s->scan(column::indexes, "p/", {}, collect));
  CHECK(keys == std::vector<std::string>{"p/1", "p/2", "p/3"});
  keys.clear();
  REQUIRE(s->scan(column::indexes, "p/", "p/1", collect));
  CHECK(keys == std::vector<std::string>{"p/2", "p/3"});
  keys.clear();
  REQUIRE(s->scan_reverse(column::indexes, "p/", {}, collect));
  CHECK(keys == std::vector<std::string>{"p/3", "p/2", "p/1"});
  keys.clear();
  REQUIRE(s->scan_reverse(column::indexes, "p/", "p/3", collect));
  CHECK(keys == std::vector<std::string>{"p/2", "p/1"});
}

TEST_CASE("order index: lists a caller's orders newest first, by status and month, in pages", "[unit]") {
  test::temp_dir dir;
  auto s = open_store(dir / "db");
  for (int i = 0; i < 5; ++i) {
    store::write_batch b;
    domain::order o;
    o.id = "o" + std::to_string(i);
    o.customer_id = "u_c";
    o.merchant_id = "u_m";
    o.date = i < 3 ? "2025-01-1" + std::to_string(i) : "2025-02-0" + std::to_string(i);
    o.created_at_ms = 1000 + i;
    o.status = i == 1 ? domain::order_status::cancelled : domain::order_status::placed;
    o.committed = true;
    b.put(store::column::entities, actors::keys::order_record(o.id), codec::encode(o)); // listings read it
    actors::add_index_writes(b, nullptr, o);
    REQUIRE(store::shard_store(*s, domain::shard_of("order/" + o.id, s->shard_count())).commit(b));
  }
  domain::list_orders q;
  q.caller = domain::principal{"u_c", "carl", domain::role::customer};
  auto all = actors::query_orders(*s, q);
  REQUIRE(all);
  REQUIRE(all->orders.size() == 5);
  CHECK(all->orders.front().id == "o4");
  q.month = "2025-01";
  CHECK(actors::query_orders(*s, q)->orders.size() == 3);
  q.status = domain::order_status::cancelled;
  CHECK(actors::query_orders(*s, q)->orders.size() == 1);
  domain::list_orders paged;
  paged.caller = domain::principal{"u_m", "mia", domain::role::merchant};
  paged.limit = 2;
  auto p1 = actors::query_orders(*s, paged);
  REQUIRE(p1);
  CHECK(p1->orders.size() == 2);
  paged.cursor = p1->next_cursor;
  auto p2 = actors::query_orders(*s, paged);
  REQUIRE(p2);
  CHECK(p2->orders.size() == 2);
  CHECK(p2->orders[0].id == "o2");
  domain::list_orders stranger;
  stranger.caller = domain::principal{"u_x", "x", domain::role::customer};
  CHECK(actors::query_orders(*s, stranger)->orders.empty());
  stranger.cursor = p1->next_cursor; // someone else's cursor
  CHECK_FALSE(actors::query_orders(*s, stranger));
}

TEST_CASE("store: pruning deletes a shard's old events that readers applied, never the newest, and the sequence "
          "resumes after it",
          "[unit]") {
  test::temp_dir dir;
  {
    auto s = open_store(dir / "db");
    auto emit = [&](domain::shard_id shard, int64_t at_ms) {
      store::write_batch b;
      b.append_event(domain::event{0, "menu.item_upserted", "restaurant/r", at_ms, {}, {}});
      REQUIRE(store::shard_store(*s, shard).commit(b));
    };
    for (int64_t at = 1000; at <= 5000; at += 1000)
      emit(7, at);
    for (int k = 0; k < 10; ++k)
      emit(8, 1000);
    CHECK(s->first_event_seq(7) == 1);
    // Only below the last one readers applied (3 stays).
    auto pruned = s->prune_events(7, 3, 10000, 100);
    REQUIRE(pruned);
    CHECK(*pruned == 2);
    CHECK(s->first_event_seq(7) == 3);
    // Only older than the cut-off: 4 was stamped at 4000, not before it.
    pruned = s->prune_events(7, 5, 4000, 100);
    REQUIRE(pruned);
    CHECK(*pruned == 1);
    CHECK(s->first_event_seq(7) == 4);
    // Never the newest, however old and however far readers say they are.
    pruned = s->prune_events(7, 1000, 1'000'000, 100);
    REQUIRE(pruned);
    CHECK(*pruned == 1);
    CHECK(s->first_event_seq(7) == 5);
    pruned = s->prune_events(7, 1000, 1'000'000, 100);
    REQUIRE(pruned);
    CHECK(*pruned == 0);
    // A bounded number per call; other shards are untouched.
    CHECK(s->first_event_seq(8) == 1);
    pruned = s->prune_events(8, 10, 1'000'000, 3);
    REQUIRE(pruned);
    CHECK(*pruned == 3);
    CHECK(s->first_event_seq(8) == 4);
    std::vector<uint64_t> left;
    REQUIRE(s->scan_events(7, 0, 100, [&](const domain::event& ev) {
      left.push_back(ev.seq);
      return true;
    }));
    CHECK(left == std::vector<uint64_t>{5});
    s->close();
  }
  auto s = open_store(dir / "db");
  CHECK(s->last_event_seq(7) == 5);
  CHECK(s->first_event_seq(7) == 5);
  std::vector<uint64_t> seen;
  s->set_event_listener([&](const domain::event& ev) { seen.push_back(ev.seq); });
  store::write_batch b;
  b.append_event(domain::event{0, "menu.item_upserted", "restaurant/r", 6000, {}, {}});
  REQUIRE(store::shard_store(*s, 7).commit(b));
  CHECK(seen == std::vector<uint64_t>{6});
}
