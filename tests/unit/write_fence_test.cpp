// What entities may assume of a replicated shard, built with a stand-in for the shard's replication group
// (held_writer): writes are proposed and land only when the test says, and the lead can be lost. Before these
// rules, the chaos rig saw an acknowledged order placed twice with two creation times, and units held for an
// order that no longer existed.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>

#include "tests/support/actor_fixture.hpp"

using namespace bento;
using namespace bento::test;

namespace {

/// A shard's writer whose proposals wait for apply() (or auto-apply), and whose lead the test can end.
class held_writer final : public store::shard_store::writer {
public:
  explicit held_writer(store::shard_store& shard) : shard_(shard) {}

  outcome<unit_t> commit(store::write_batch& batch) override { return commit(batch, epoch()); }

  outcome<unit_t> commit(store::write_batch& batch, uint64_t epoch) override {
    std::unique_lock lock(mutex_);
    if (epoch != epoch_)
      return fail(errc::unavailable, "fenced: the shard changed hands; retry");
    shard_.prefix_keys(batch);
    held_.push_back(std::move(batch));
    ++proposed_;
    cv_.notify_all();
    if (auto_apply_) {
      lock.unlock();
      apply();
    }
    return unit;
  }

  uint64_t epoch() const override {
    std::lock_guard lock(mutex_);
    return epoch_;
  }
  store::write_mark mark(uint64_t epoch) const override {
    std::lock_guard lock(mutex_);
    if (epoch != 0 && epoch != epoch_)
      return store::unknown_mark;
    return proposed_ > applied_ ? store::write_mark{term_, proposed_} : store::write_mark{};
  }
  void when_committed(const store::write_mark& m, std::function<void(bool)> done) override {
    {
      std::lock_guard lock(mutex_);
      if (m.term == term_ && m.index > applied_) {
        waiters_.emplace(m.index, std::move(done));
        return;
      }
    }
    done(m.term == term_);
  }
  bool landed(const store::write_mark& m) const override {
    std::lock_guard lock(mutex_);
    return m.term != term_ || applied_ >= m.index;
  }

  /// Everything proposed so far lands (written to the store, waiters told).
  void apply() {
    std::vector<std::function<void(bool)>> ready;
    {
      std::lock_guard lock(mutex_);
      for (auto& b : held_) {
        b.set_shard(shard_.shard());
        REQUIRE(shard_.db().commit(b));
      }
      held_.clear();
      applied_ = proposed_;
      while (!waiters_.empty() && waiters_.begin()->first <= applied_) {
        ready.push_back(std::move(waiters_.begin()->second));
        waiters_.erase(waiters_.begin());
      }
    }
    for (auto& done : ready)
      done(true);
  }
  void auto_apply() {
    {
      std::lock_guard lock(mutex_);
      auto_apply_ = true;
    }
    apply();
  }
  /// The lease lapsed: the epoch ends, the lead (and what was proposed) stays.
  void revoke() {
    std::lock_guard lock(mutex_);
    ++epoch_;
  }
  /// The lead is lost before anything held was committed: a new term, the held writes gone.
  void lose_lead() {
    std::multimap<uint64_t, std::function<void(bool)>> waiters;
    {
      std::lock_guard lock(mutex_);
      ++epoch_;
      ++term_;
      held_.clear();
      proposed_ = applied_;
      waiters.swap(waiters_);
    }
    for (auto& [index, done] : waiters)
      done(false);
  }
  bool wait_proposed(uint64_t n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, 20s, [&] { return proposed_ >= n; });
  }

private:
  store::shard_store& shard_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<store::write_batch> held_;
  std::multimap<uint64_t, std::function<void(bool)>> waiters_;
  uint64_t proposed_ = 0, applied_ = 0, epoch_ = 1, term_ = 1;
  bool auto_apply_ = false;
};

/// Detaches the stand-in before the store goes away.
struct attached {
  store::shard_store& shard;
  held_writer writer;
  explicit attached(store::shard_store& s) : shard(s), writer(s) { shard.set_writer(&writer); }
  ~attached() { shard.set_writer(nullptr); }
};

/// Waits until the router has handled everything sent to it before (its mailbox is in order).
void sync_router(fixture& f) {
  caf::scoped_actor self{*f.sys};
  self->request(f.router, 10s, actors::stats_atom::value).receive([](actors::entity_counts&) {}, [](caf::error&) {});
}

} // namespace

TEST_CASE("write fence: a shard dropped with a write in flight activates none of its entities before it lands",
          "[unit]") {
  fixture f;
  attached held(f.shard_of(actors::keys::user_entity("ann")));
  caf::scoped_actor self{*f.sys};
  auto registering = self->request(f.router, 10s, register_user{"ann", "password123", "a@x.io", role::customer, "tp"});
  REQUIRE(held.writer.wait_proposed(1));
  // The lease lapses while the registration is in flight (the lead stays): the host ends the epoch, the
  // router stops the shard's entities.
  held.writer.revoke();
  caf::anon_send(f.router, actors::drop_shard_atom::value, static_cast<uint16_t>(held.shard.shard()));
  auto reading = self->request(f.router, 10s, get_user{"ann"});
  sync_router(f); // an activation for the read, if any, has loaded its state by now
  held.writer.apply();
  std::optional<outcome<user_view>> read;
  reading.receive([&](user_view& v) { read.emplace(std::move(v)); },
                  [&](caf::error& e) { read.emplace(actors::to_failure(e)); });
  registering.receive([](user_view&) {}, [](caf::error&) {});
  REQUIRE(read);
  INFO((bool(*read) ? std::string() : read->error().message));
  REQUIRE(bool(*read)); // not "user not found": the state before the write
  CHECK((*read)->username == "ann");
}

TEST_CASE("write fence: an entity of an ended epoch cannot write, and its successor loads what it proposed",
          "[unit]") {
  fixture f;
  attached held(f.shard_of(actors::keys::restaurant_entity("r1")));
  caf::scoped_actor self{*f.sys};
  auto creating = self->request(f.router, 10s, create_restaurant{merchant, "r1", "Mia's", "taipei"});
  REQUIRE(held.writer.wait_proposed(1));
  held.writer.revoke(); // no drop reached the router (yet): the entity is still in memory
  menu_item_input in;
  in.name = "Katsu";
  in.price_cents = 1200;
  in.stock = 5;
  auto upsert = f.ask<upsert_result>(upsert_menu_item{merchant, "r1", "katsu", in});
  REQUIRE_FALSE(upsert); // fenced: it loaded its state in the ended epoch
  CHECK(upsert.error().code == errc::unavailable); // nothing written: the caller may retry
  // It stopped on the failed write (wait until the router knows, or the read would reach the stopping actor);
  // the next activation waits for the restaurant's creation to land.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    std::optional<actors::entity_counts> counts;
    self->request(f.router, 10s, actors::stats_atom::value)
      .receive([&](actors::entity_counts& c) { counts = c; }, [](caf::error&) {});
    REQUIRE(counts);
    if (counts->restaurants == 0)
      break;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(5ms); // polling interval of a bounded wait
  }
  auto reading = self->request(f.router, 10s, get_menu{"r1", {}});
  sync_router(f);
  held.writer.apply();
  std::optional<outcome<menu_view>> menu;
  reading.receive([&](menu_view& m) { menu.emplace(std::move(m)); },
                  [&](caf::error& e) { menu.emplace(actors::to_failure(e)); });
  creating.receive([](restaurant&) {}, [](caf::error&) {});
  REQUIRE(menu);
  INFO((bool(*menu) ? std::string() : menu->error().message));
  REQUIRE(bool(*menu)); // not "restaurant not found"
  held.writer.auto_apply();
  CHECK(f.ask<upsert_result>(upsert_menu_item{merchant, "r1", "katsu", in}));
}

TEST_CASE("write fence: an order asks the restaurant only once its intent is committed", "[unit]") {
  fixture f;
  f.restaurant_with_stock(10);
  // An order whose shard is not the restaurant's: only the order's writes are held.
  std::string oid;
  for (int i = 0; oid.empty(); ++i) {
    auto candidate = "o_fence" + std::to_string(i);
    if (f.shard_of(actors::keys::order_entity(candidate)).shard()
        != f.shard_of(actors::keys::restaurant_entity("r1")).shard())
      oid = candidate;
  }
  attached held(f.shard_of(actors::keys::order_entity(oid)));
  auto cmd = order_for(1, 2);
  cmd.order_id = oid;
  SECTION("the lead is lost before the intent commits: the restaurant never heard of the order") {
    caf::scoped_actor self{*f.sys};
    auto placing = self->request(f.router, 10s, cmd);
    REQUIRE(held.writer.wait_proposed(1));
    held.writer.lose_lead();
    std::optional<failure> failed;
    placing.receive([](order&) {}, [&](caf::error& e) { failed = actors::to_failure(e); });
    REQUIRE(failed);
    CHECK(failed->code == errc::outcome_unknown);
    CHECK(f.stock() == 10); // no units held for an order whose record was never committed
    CHECK_FALSE(f.stored_order(oid));
  }
  SECTION("the intent commits: the order goes on and is placed") {
    caf::scoped_actor self{*f.sys};
    auto placing = self->request(f.router, 10s, cmd);
    REQUIRE(held.writer.wait_proposed(1));
    CHECK(f.stock() == 10);
    held.writer.auto_apply();
    std::optional<order> placed;
    placing.receive([&](order& o) { placed = std::move(o); }, [](caf::error&) {});
    REQUIRE(placed);
    CHECK(placed->status == order_status::placed);
    CHECK(f.stock() == 8);
  }
}
