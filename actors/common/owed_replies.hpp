#pragma once
// Answers an entity owes while it waits for another actor (a user's logins, for the hasher), each with what answers
// its caller if the entity stops first. A shard that leaves this node (its lead handed home, its lease lapsed)
// stops its entities at once, whatever they wait for; the awaited answer then finds no actor, and the response
// promise goes with the entity's state unanswered (CAF 0.17 promises do not break when destroyed): its caller
// heard nothing until its own deadline (504 outcome_unknown, 5-10 s later). Held here, it hears at once. Only
// waits taken with then() need it: CAF 0.17 holds an exit back while an actor await()s (an order awaiting its
// restaurant, a registration its hash), so such an actor stops only after its answer or its request timeout,
// and answers its caller itself.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

namespace bento::actors {

class owed_replies {
public:
  owed_replies() = default;
  owed_replies(const owed_replies&) = delete;
  owed_replies& operator=(const owed_replies&) = delete;
  /// Runs as the entity's state goes (its actor stopped): every answer still owed is given up.
  ~owed_replies() {
    for (auto& r : owed_)
      r.abandon();
  }

  /// Owes an answer; `abandon` answers the caller (and frees what the wait held) if the entity stops first. It
  /// must not touch the entity's state, which is being destroyed when it runs.
  uint64_t owe(std::function<void()> abandon) {
    owed_.push_back(entry{++last_, std::move(abandon)});
    return last_;
  }
  /// The awaited answer came (or failed): the handler answers the caller itself.
  void settle(uint64_t id) {
    auto it = std::find_if(owed_.begin(), owed_.end(), [id](const entry& e) { return e.id == id; });
    if (it != owed_.end())
      owed_.erase(it);
  }
  size_t size() const noexcept { return owed_.size(); }

private:
  struct entry {
    uint64_t id;
    std::function<void()> abandon;
  };
  std::vector<entry> owed_; // a handful at most
  uint64_t last_ = 0;
};

} // namespace bento::actors
