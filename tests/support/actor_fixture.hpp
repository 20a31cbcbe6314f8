#pragma once
// Entity actors behind the local router on a real actor system and a real store, for tests: restart on the
// same data, a shiftable clock, and a gate that parks or crashes entities at named points of their code.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <sodium.h>

#include "actors/common/domain_error.hpp"
#include "actors/common/entity_context.hpp"
#include "actors/common/keys.hpp"
#include "actors/order/order_recovery.hpp"
#include "actors/restaurant/menu_board.hpp"
#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"
#include "actors/store/store_layout.hpp"
#include "cluster/local_router.hpp"
#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/calendar.hpp"
#include "tests/support/caf_config.hpp"
#include "tests/support/temp_dir.hpp"

namespace bento::test {

using namespace bento::domain;
using namespace std::chrono_literals;

inline const principal merchant{"u_m", "mia", role::merchant};

inline caf::actor_system_config& config() {
  return quiet_caf_config();
}

/// Parks entities at named points of their code (ctx.fault_point) until the test lets them go, or crashes
/// them there: the deterministic way to build a race or a kill -9 between two writes.
class fault_gate {
public:
  /// The next time `point` is reached (by any entity), it waits there until release(point).
  void park(const std::string& point) {
    std::lock_guard lock(mutex_);
    parked_[point] = state{};
  }
  /// Every time `point` is reached by `entity`, the entity crashes there (stops, writing nothing more).
  void crash(std::string point, std::string entity) {
    std::lock_guard lock(mutex_);
    crash_point_ = std::move(point);
    crash_entity_ = std::move(entity);
  }
  void clear_crash() {
    std::lock_guard lock(mutex_);
    crash_point_.clear();
  }
  /// Waits (bounded) until the parked point is reached.
  bool wait_reached(const std::string& point) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, 20s, [&] { return parked_.count(point) && parked_[point].reached; });
  }
  void release(const std::string& point) {
    std::lock_guard lock(mutex_);
    parked_.erase(point);
    cv_.notify_all();
  }
  /// Lets go of every entity waiting at a point (shutdown); parks not reached yet stay armed.
  void release_reached() {
    std::lock_guard lock(mutex_);
    for (auto it = parked_.begin(); it != parked_.end();)
      it = it->second.reached ? parked_.erase(it) : std::next(it);
    cv_.notify_all();
  }

  bool operator()(std::string_view point, const std::string& entity) {
    std::unique_lock lock(mutex_);
    if (!crash_point_.empty() && point == crash_point_ && entity == crash_entity_)
      return true;
    auto it = parked_.find(std::string(point));
    if (it == parked_.end() || it->second.reached)
      return false;
    it->second.reached = true;
    cv_.notify_all();
    auto name = std::string(point);
    cv_.wait_for(lock, 20s, [&] { return !parked_.count(name); });
    return false;
  }

private:
  struct state {
    bool reached = false;
  };
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, state> parked_;
  std::string crash_point_, crash_entity_;
};

inline place_order order_for(int customer, int qty) {
  place_order cmd;
  cmd.caller = principal{"u_c" + std::to_string(customer), "c" + std::to_string(customer), role::customer};
  cmd.order_id = "o_" + std::to_string(customer);
  cmd.restaurant_id = "r1";
  cmd.lines = {{"katsu", qty}};
  cmd.for_meal = meal::lunch;
  return cmd;
}

struct fixture {
  test::temp_dir dir;
  std::unique_ptr<store::entity_store> db;
  std::unique_ptr<store::shard_set> shards;
  std::unique_ptr<caf::actor_system> sys;
  actors::entity_context ctx;
  actors::router_actor router;
  std::shared_ptr<fault_gate> gate = std::make_shared<fault_gate>();
  std::shared_ptr<std::atomic<int64_t>> clock_shift = std::make_shared<std::atomic<int64_t>>(0);
  std::chrono::milliseconds idle;
  std::chrono::milliseconds empty_idle{0}; // entities that do not exist; 0: as idle (set it, then restart())
  // The password hasher the entities get; empty: a real pool with cheap settings (set it, then restart()).
  std::function<actors::hasher_actor(caf::actor_system&)> make_hasher;
  size_t max_active;
  std::chrono::milliseconds call_timeout{5000};
  size_t max_restaurants = 20;

  explicit fixture(std::chrono::milliseconds idle_ = std::chrono::minutes(5), size_t max_active_ = 100000,
                   std::chrono::milliseconds call_timeout_ = std::chrono::milliseconds(5000),
                   size_t max_restaurants_ = 20)
    : idle(idle_), max_active(max_active_), call_timeout(call_timeout_), max_restaurants(max_restaurants_) {
    REQUIRE(sodium_init() >= 0);
    REQUIRE(set_time_zone("Asia/Taipei"));
    start();
  }

  ~fixture() { stop(); }

  void start() {
    auto s = store::entity_store::open(store::store_options{dir / "db", false, 8u << 20});
    REQUIRE(s);
    db = std::move(*s);
    REQUIRE(actors::ensure_store_layout(*db));
    shards = std::make_unique<store::shard_set>(*db);
    sys = std::make_unique<caf::actor_system>(config());
    actors::hash_settings cheap{1, 8u << 20};
    ctx = actors::entity_context{};
    ctx.shards = shards.get();
    ctx.hasher = make_hasher ? make_hasher(*sys) : actors::spawn_hasher_pool(*sys, 2, cheap);
    ctx.idle_ticker = actors::spawn_idle_ticker(*sys);
    ctx.gate = std::make_shared<actors::hash_gate>();
    ctx.dummy_hash = *actors::hash_password("dummy", cheap);
    ctx.idle_timeout = idle;
    ctx.empty_idle_timeout = empty_idle.count() > 0 ? empty_idle : idle;
    ctx.max_active_entities = max_active;
    ctx.call_timeout = call_timeout;
    ctx.max_restaurants_per_merchant = max_restaurants;
    ctx.clock = [shift = clock_shift] { return now_ms() + shift->load(); };
    ctx.fault_point = [gate = gate](std::string_view point, const std::string& entity) {
      return (*gate)(point, entity);
    };
    ctx.menus = std::make_shared<actors::menu_board>(ctx.clock);
    router = cluster::spawn_local_router(*sys, ctx);
  }

  void stop() {
    if (!sys)
      return;
    gate->release_reached();
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx.hasher, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx.idle_ticker, caf::exit_reason::user_shutdown);
    sys->await_all_actors_done();
    ctx = {};
    router = nullptr;
    sys.reset();
    shards.reset();
    db->close();
    db.reset();
  }

  /// A node restart on the same data: what is stored is all that is left. Then the start-up sweep.
  void restart() {
    stop();
    start();
    auto interrupted = actors::interrupted_orders(*db);
    REQUIRE(interrupted);
    for (auto& id : *interrupted)
      caf::anon_send(router, actors::wake_atom::value, id);
  }

  void shift_days(int days) { clock_shift->fetch_add(int64_t{days} * 86'400'000); }

  template <class Reply, class Cmd>
  outcome<Reply> ask(Cmd cmd) {
    caf::scoped_actor self{*sys};
    std::optional<outcome<Reply>> result;
    self->request(router, 10s, std::move(cmd))
      .receive([&](Reply& r) { result.emplace(std::move(r)); },
               [&](caf::error& e) { result.emplace(actors::to_failure(e)); });
    return std::move(*result);
  }

  void restaurant_with_stock(int64_t stock, int64_t daily_stock = 0) {
    REQUIRE(ask<restaurant>(create_restaurant{merchant, "r1", "Mia's", "taipei"}));
    menu_item_input in;
    in.name = "Katsu";
    in.price_cents = 1200;
    in.stock = stock;
    in.daily_stock = daily_stock;
    REQUIRE(ask<upsert_result>(upsert_menu_item{merchant, "r1", "katsu", in}));
  }

  /// Sends every command before reading any answer, so that they race; answers in command order.
  template <class Reply, class Cmd>
  std::vector<outcome<Reply>> ask_all(std::vector<Cmd> cmds) {
    caf::scoped_actor self{*sys};
    std::vector<outcome<Reply>> results;
    std::vector<std::function<void()>> waits;
    for (auto& cmd : cmds) {
      auto h = self->request(router, 10s, std::move(cmd));
      waits.push_back([h, &results]() mutable {
        h.receive([&](Reply& r) { results.emplace_back(std::move(r)); },
                  [&](caf::error& e) { results.emplace_back(actors::to_failure(e)); });
      });
    }
    for (auto& w : waits)
      w();
    return results;
  }

  int64_t stock(const std::string& day = {}, const std::string& item = "katsu") {
    auto m = ask<menu_view>(get_menu{"r1", day});
    REQUIRE(m);
    for (auto& i : m->items())
      if (i.id == item)
        return i.stock;
    FAIL("no item " << item);
    return -1;
  }

  /// The shard store that holds an entity's records.
  store::shard_store& shard_of(const std::string& entity_key) { return shards->of_entity(entity_key); }

  std::optional<order> stored_order(const std::string& oid) {
    auto rec = shard_of(actors::keys::order_entity(oid)).get(store::column::entities, actors::keys::order_record(oid));
    REQUIRE(rec);
    if (!rec->has_value())
      return std::nullopt;
    order o;
    REQUIRE(codec::decode(**rec, o));
    return o;
  }

  /// The router's counts (entities active, activations, passivations, evictions, ...).
  actors::entity_counts counts() {
    auto c = ask<actors::entity_counts>(actors::stats_atom::value);
    REQUIRE(c);
    return *c;
  }

  /// How many entities have an idle tick waiting in the node's ticker.
  uint64_t ticks_waiting() {
    caf::scoped_actor probe{*sys};
    uint64_t n = ~uint64_t{0};
    probe->request(ctx.idle_ticker, caf::infinite, actors::idle_ticks_waiting_atom::value)
      .receive([&](uint64_t w) { n = w; }, [](caf::error&) {});
    return n;
  }

  /// Polls `done` until it holds or 20 s have passed; its last answer.
  template <class Predicate>
  static bool wait_for(Predicate done) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms); // polling interval of a bounded wait, not synchronisation
    return done();
  }

  /// Waits (bounded) until no order has an unsettled change on disk.
  void wait_settled() {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    auto left = actors::interrupted_orders(*db);
    while (left && !left->empty() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms); // polling interval of a bounded wait, not synchronisation
      left = actors::interrupted_orders(*db);
    }
    REQUIRE(left);
    INFO("orders still settling: " << left->size());
    REQUIRE(left->empty());
  }

  /// The state kill -9 leaves between "intent written" and "outcome written" of a placement: the order's
  /// record holds the intent; whether the restaurant applied it is up to `applied`.
  void interrupted_placement(const std::string& oid, const std::string& customer_id, int32_t qty, bool applied) {
    if (applied)
      REQUIRE(ask<reservation_result>(set_reservation{"r1", oid, {{"katsu", "", 0, qty}}, {}, {}, 1}));
    order intent;
    intent.id = oid;
    intent.customer_id = customer_id;
    intent.restaurant_id = "r1";
    intent.date = local_date(now_ms());
    intent.intent = order_intent{intent_kind::place, 1, {{"katsu", "", 0, qty}}, std::nullopt};
    intent.reservation_seq = 1;
    intent.committed = false;
    store::write_batch b;
    b.put(store::column::entities, actors::keys::order_record(oid), codec::encode(intent));
    b.put(store::column::indexes, actors::keys::pending_order(oid), {});
    REQUIRE(shard_of(actors::keys::order_entity(oid)).commit(b));
  }
};


} // namespace bento::test
