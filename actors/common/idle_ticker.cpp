#include "actors/common/idle_ticker.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

namespace bento::actors {

namespace {

using clock = std::chrono::steady_clock;

// Wake-ups are rounded up to this grain: a rush activates thousands of entities a second, and a timer per
// entity would wake CAF's clock thread for each. Idle timeouts are seconds to minutes.
constexpr auto grain = std::chrono::milliseconds(10);

using wake_atom = caf::atom_constant<caf::atom("idlewake")>;

struct ticker_state {
  std::map<std::pair<clock::time_point, caf::actor_id>, caf::weak_actor_ptr> schedule;
  std::unordered_map<caf::actor_id, clock::time_point> due_of;
  std::optional<clock::time_point> armed; // the earliest wake on its way (a later one may be too: harmless)

  void forget(caf::actor_id id) {
    auto it = due_of.find(id);
    if (it == due_of.end())
      return;
    schedule.erase({it->second, id});
    due_of.erase(it);
  }
};

using ticker_actor = caf::stateful_actor<ticker_state>;

clock::time_point round_up(clock::time_point t) {
  auto since = t.time_since_epoch();
  auto rem = since % grain;
  return rem == clock::duration::zero() ? t : t + (grain - rem);
}

// A wake is on its way for the earliest waiting tick (or earlier).
void arm(ticker_actor* self) {
  auto& st = self->state;
  if (st.schedule.empty())
    return;
  auto at = round_up(st.schedule.begin()->first.first);
  if (st.armed && *st.armed <= at)
    return;
  st.armed = at;
  auto delay = std::chrono::ceil<std::chrono::microseconds>(at - clock::now()); // never before `at`
  self->delayed_send(self, std::max(delay, std::chrono::microseconds(0)), wake_atom::value,
                     at.time_since_epoch().count());
}

caf::behavior ticker(ticker_actor* self) {
  return {
    [self](idle_tick_for& t) {
      auto& st = self->state;
      if (!t.entity)
        return;
      auto id = t.entity->id();
      auto it = st.due_of.find(id);
      if (it != st.due_of.end()) {
        if (it->second <= t.due)
          return; // the earlier one waiting covers it
        st.schedule.erase({it->second, id});
        it->second = t.due;
      } else {
        st.due_of.emplace(id, t.due);
      }
      st.schedule.emplace(std::make_pair(t.due, id), std::move(t.entity));
      arm(self);
    },
    [self](idle_tick_forget f) { self->state.forget(f.entity); },
    [self](wake_atom, clock::rep at) {
      auto& st = self->state;
      if (st.armed && *st.armed == clock::time_point(clock::duration(at)))
        st.armed.reset();
      auto now = clock::now();
      while (!st.schedule.empty() && st.schedule.begin()->first.first <= now) {
        auto node = st.schedule.extract(st.schedule.begin());
        st.due_of.erase(node.key().second);
        if (auto alive = node.mapped().lock())
          caf::anon_send(caf::actor_cast<caf::actor>(alive), idle_tick_atom::value);
      }
      arm(self);
    },
    [self](idle_ticks_waiting_atom) { return static_cast<uint64_t>(self->state.schedule.size()); },
  };
}

} // namespace

caf::actor spawn_idle_ticker(caf::actor_system& sys) {
  return sys.spawn(ticker);
}

} // namespace bento::actors
