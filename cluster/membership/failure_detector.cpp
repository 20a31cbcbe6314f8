#include "cluster/membership/failure_detector.hpp"

#include <algorithm>

namespace bento::cluster::membership {

const char* to_string(member_state s) noexcept {
  switch (s) {
    case member_state::up: return "up";
    case member_state::suspect: return "suspect";
    case member_state::down: return "down";
  }
  return "unknown";
}

failure_detector::failure_detector(std::chrono::milliseconds suspect_after, std::chrono::milliseconds down_after)
  : suspect_after_(suspect_after), down_after_(down_after) {
}

std::optional<member_change> failure_detector::heard(const std::string& id, uint64_t incarnation, time_point now) {
  auto i = members_.find(id);
  if (i == members_.end()) {
    members_[id] = member_status{id, member_state::up, incarnation, now};
    return member_change{id, member_state::up, member_state::up, incarnation, true, false};
  }
  auto& m = i->second;
  if (incarnation < m.incarnation) {
    ++stale_;
    return std::nullopt;
  }
  // Heartbeats may arrive out of order with a tick that ran later: time never goes back for a member.
  if (now > m.last_heard)
    m.last_heard = now;
  bool restarted = incarnation > m.incarnation;
  auto before = m.state;
  m.incarnation = incarnation;
  m.state = member_state::up;
  if (before == member_state::up && !restarted)
    return std::nullopt;
  return member_change{id, before, member_state::up, incarnation, false, restarted};
}

std::vector<member_change> failure_detector::tick(time_point now) {
  // A frozen node woke up: it heard nothing because it listened to nothing, and the heartbeats that came
  // meanwhile still wait in its queues. Judged now, every peer would go down and up again a moment later
  // (and calls in flight to them would be given up as outcome_unknown): the lost time is forgiven instead,
  // so a peer that stays silent goes down on the usual schedule, counted from now.
  // (Past down_after only: a shorter gap can make a member suspect, which decides nothing and ends when the
  // queued heartbeats are read.)
  // At most once per four down_after: a checker starved on every tick (a node overloaded for good) must still
  // find a dead peer, a few seconds late, rather than forgive every gap.
  if (last_tick_ && now - *last_tick_ > down_after_ && (!last_forgiven_ || now - *last_forgiven_ > 4 * down_after_)) {
    auto lost = now - *last_tick_;
    for (auto& [id, m] : members_)
      m.last_heard = std::min(now, m.last_heard + lost);
    last_forgiven_ = now;
  }
  if (!last_tick_ || now > *last_tick_)
    last_tick_ = now;
  std::vector<member_change> out;
  for (auto& [id, m] : members_) {
    auto quiet = now - m.last_heard;
    if (m.state == member_state::up && quiet >= suspect_after_) {
      out.push_back(member_change{id, member_state::up, member_state::suspect, m.incarnation, false, false});
      m.state = member_state::suspect;
    }
    if (m.state == member_state::suspect && quiet >= down_after_) {
      out.push_back(member_change{id, member_state::suspect, member_state::down, m.incarnation, false, false});
      m.state = member_state::down;
    }
  }
  return out;
}

std::optional<member_status> failure_detector::status(const std::string& id) const {
  auto i = members_.find(id);
  if (i == members_.end())
    return std::nullopt;
  return i->second;
}

std::vector<member_status> failure_detector::members() const {
  std::vector<member_status> out;
  out.reserve(members_.size());
  for (auto& [id, m] : members_)
    out.push_back(m);
  return out;
}

void failure_detector::forget(const std::string& id) {
  members_.erase(id);
}

} // namespace bento::cluster::membership
