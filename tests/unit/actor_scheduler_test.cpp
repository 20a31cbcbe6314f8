// The node's scheduler clock (actors/common/actor_scheduler): it wakes its thread only for timers due before
// the time it sleeps until, so what must hold is that no timer is late for it, no cancelled one fires, and a
// system with timers far ahead still shuts down.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "tests/support/actor_fixture.hpp"

using namespace bento;
using namespace std::chrono_literals;

namespace {

using early_atom = caf::atom_constant<caf::atom("early")>;
using late_atom = caf::atom_constant<caf::atom("late")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using hold_atom = caf::atom_constant<caf::atom("hold")>;

/// Answers ping at once; keeps hold's promise and never answers it.
struct echo_state {
  std::vector<caf::response_promise> held;
};

caf::behavior echo(caf::stateful_actor<echo_state>* self) {
  return {
    [](ping_atom, int i) { return i; },
    [self](hold_atom) -> caf::result<int> {
      self->state.held.push_back(self->make_response_promise());
      return caf::delegated<int>{};
    },
  };
}

} // namespace

TEST_CASE("node clock: a timer due before the one the clock sleeps toward wakes it", "[unit]") {
  caf::actor_system sys{test::config()};
  caf::scoped_actor self{sys};
  self->delayed_send(self, std::chrono::seconds(30), late_atom::value);
  // A timer due at once, received: the clock has applied both events, and then goes to sleep toward the late
  // one (it may not be asleep yet: the early one is right either way, and this makes the sleeping case usual).
  self->delayed_send(self, std::chrono::milliseconds(1), early_atom::value);
  self->receive([](early_atom) {});
  auto start = std::chrono::steady_clock::now();
  self->delayed_send(self, std::chrono::milliseconds(50), early_atom::value);
  bool early = false;
  self->receive([&](early_atom) { early = true; }, [&](late_atom) {});
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(early);
  CHECK(took >= 50ms);
  CHECK(took < 10s); // late would have come at 30 s
  // The system goes away with the late timer still scheduled: stopping the clock must not wait for it.
}

TEST_CASE("node clock: answered requests never time out, an unanswered one does, in time", "[unit]") {
  caf::actor_system sys{test::config()};
  caf::scoped_actor self{sys};
  auto peer = sys.spawn(echo);
  // Thousands of timeouts set and cancelled (past the clock's backlog, which wakes it): none may fire.
  constexpr int n = 10000;
  int answered = 0, failed = 0;
  for (int i = 0; i < n; ++i)
    self->request(peer, std::chrono::milliseconds(300), ping_atom::value, i)
      .receive([&](int r) { answered += r == i; }, [&](caf::error&) { ++failed; });
  CHECK(answered == n);
  CHECK(failed == 0);
  // Wait past the timeouts they set: a cancellation that did not land would fire now, as an error message in
  // the mailbox (receive would see it before the reply below).
  auto start = std::chrono::steady_clock::now();
  bool timed_out = false;
  self->request(peer, std::chrono::milliseconds(600), hold_atom::value)
    .receive([&](int) {}, [&](caf::error& e) { timed_out = e == caf::sec::request_timeout; });
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(timed_out);
  CHECK(took >= 600ms);
  CHECK(took < 10s);
  int stray = 0;
  bool more = true;
  self->receive_while([&] { return more; })([&](caf::message&) { ++stray; },
                                            caf::after(std::chrono::milliseconds(0)) >> [&] { more = false; });
  CHECK(stray == 0);
  caf::anon_send_exit(peer, caf::exit_reason::user_shutdown);
}
