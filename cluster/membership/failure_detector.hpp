#pragma once
// Which peers are alive, from when each was last heard. Pure logic fed with "heard from X (incarnation i) at t"
// and "now is t": no clock, no I/O, no CAF, so tests drive it with a virtual clock.
//
//   up --(not heard for suspect_after)--> suspect --(not heard for down_after)--> down
//   suspect/down --(heard)--> up
//
// An incarnation grows by one each time a node starts on its data dir. A frame carrying an older incarnation
// than the one known comes from a process that has been replaced and is ignored; a newer one is a restart.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bento::cluster::membership {

enum class member_state : uint8_t { up, suspect, down };
const char* to_string(member_state s) noexcept;

struct member_status {
  std::string id;
  member_state state = member_state::up;
  uint64_t incarnation = 0;
  std::chrono::steady_clock::time_point last_heard{};
};

struct member_change {
  std::string id;
  member_state from = member_state::up; // for a first sighting: up, with `joined`
  member_state to = member_state::up;
  uint64_t incarnation = 0;
  bool joined = false;    // never heard before
  bool restarted = false; // heard with a higher incarnation than before
};

class failure_detector {
public:
  using time_point = std::chrono::steady_clock::time_point;

  /// Precondition: 0 < suspect_after < down_after.
  failure_detector(std::chrono::milliseconds suspect_after, std::chrono::milliseconds down_after);

  /// A sign of life from `id`. Returns the change it makes, if any.
  std::optional<member_change> heard(const std::string& id, uint64_t incarnation, time_point now);

  /// Members not heard for suspect_after become suspect, for down_after down (passing through suspect). A tick
  /// more than down_after after the one before means this process did not run in between (SIGSTOP, a stalled
  /// VM, a starved thread): that time does not count against the members.
  std::vector<member_change> tick(time_point now);

  std::optional<member_status> status(const std::string& id) const;
  std::vector<member_status> members() const;
  /// Stops tracking `id` (a member that left for good).
  void forget(const std::string& id);

  /// Frames ignored because they carried an older incarnation.
  uint64_t stale() const noexcept { return stale_; }

private:
  std::chrono::milliseconds suspect_after_;
  std::chrono::milliseconds down_after_;
  std::map<std::string, member_status> members_;
  uint64_t stale_ = 0;
  std::optional<time_point> last_tick_;
  std::optional<time_point> last_forgiven_; // the last stall forgiven (at most one per 4 × down_after)
};

} // namespace bento::cluster::membership
