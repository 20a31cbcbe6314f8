// The order index actor on a real actor system: listings run on its workers in the fair queue's order, so one
// caller's heavy listings cannot hold anyone else's. The listings themselves are stand-ins that block until
// the test lets them go, so what is "heavy" and what overlaps is decided here, not by timing.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <functional>
#include <mutex>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/common/domain_error.hpp"
#include "actors/order_index/order_index_actor.hpp"
#include "tests/support/caf_config.hpp"

using namespace bento;
using namespace bento::domain;
using namespace std::chrono_literals;

namespace {

/// Heavy listings block here until released; the test can wait until a number of them are running.
struct gate {
  std::mutex mutex;
  std::condition_variable changed;
  bool open = false;
  int running = 0;

  void enter() {
    std::unique_lock lock(mutex);
    ++running;
    changed.notify_all();
    changed.wait(lock, [&] { return open; });
  }
  bool wait_running(int n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 20s, [&] { return running >= n; });
  }
  void release() {
    std::lock_guard lock(mutex);
    open = true;
    changed.notify_all();
  }
};

list_orders listing_by(const std::string& user_id) {
  list_orders q;
  q.caller = principal{user_id, user_id, role::customer};
  return q;
}

} // namespace

TEST_CASE("order index: another user's listing completes while one user's heavy listings are queued", "[unit]") {
  caf::actor_system sys{test::quiet_caf_config()};
  auto blocker = std::make_shared<gate>();
  actors::order_index_options options;
  options.workers = 2;
  options.queue.max_queued = 64;
  options.queue.max_queued_per_caller = 8;
  options.query = [blocker](const list_orders& q) -> outcome<order_list> {
    if (q.caller.user_id == "u_heavy")
      blocker->enter();
    order_list out;
    out.next_cursor = q.caller.user_id;
    return out;
  };
  auto index = actors::spawn_order_index_actor(sys, nullptr, options);
  caf::scoped_actor heavy{sys};
  int answered = 0;
  std::vector<std::function<void()>> pending;
  for (int i = 0; i < 9; ++i) {
    auto h = heavy->request(index, 30s, listing_by("u_heavy"));
    pending.push_back([h, &answered]() mutable {
      h.receive([&](order_list&) { ++answered; }, [&](caf::error& e) { FAIL(actors::to_failure(e).message); });
    });
  }
  // One heavy listing runs (its share of the two workers) and eight wait: the caller's queue is full.
  REQUIRE(blocker->wait_running(1));
  caf::scoped_actor other{sys};
  std::optional<outcome<order_list>> refused;
  other->request(index, 10s, listing_by("u_heavy"))
    .receive([&](order_list& l) { refused.emplace(std::move(l)); },
             [&](caf::error& e) { refused.emplace(actors::to_failure(e)); });
  REQUIRE(refused);
  REQUIRE_FALSE(*refused);
  CHECK(refused->error().code == errc::overloaded);

  // The victim is answered although heavy listings hold a worker and eight more queued before it.
  std::optional<outcome<order_list>> victim;
  other->request(index, 10s, listing_by("u_victim"))
    .receive([&](order_list& l) { victim.emplace(std::move(l)); },
             [&](caf::error& e) { victim.emplace(actors::to_failure(e)); });
  REQUIRE(victim);
  REQUIRE(*victim);
  CHECK((*victim)->next_cursor == "u_victim");
  {
    std::lock_guard lock(blocker->mutex);
    CHECK(blocker->running == 1); // never more than its share at once
  }

  blocker->release();
  for (auto& wait : pending)
    wait();
  CHECK(answered == 9);
  caf::anon_send_exit(index, caf::exit_reason::user_shutdown);
}
