#pragma once
// Replies wait for the writes they reflect. In a replicated shard an entity keeps working on its in-memory
// state while its batches are being committed by the group; an answer that shows that state (a placed order, a
// reservation another entity relies on, a read) must not leave before the group has committed the entity's
// last write, or a failover could take back what was answered. A lone leader has nothing pending, so replies
// leave at once (the single-node path costs nothing). If the write can no longer be known to commit here
// (leadership lost), the answer is outcome_unknown.
#include <cstdint>
#include <functional>
#include <iterator>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include "actors/common/atoms.hpp"
#include "actors/common/domain_error.hpp"
#include "actors/store/shard_store.hpp"

namespace bento::actors {

class reply_gate {
public:
  reply_gate() = default;
  reply_gate(const reply_gate&) = delete;
  reply_gate& operator=(const reply_gate&) = delete;
  /// An entity stopping with answers held (its shard dropped, a failed write): their callers hear at once that
  /// the outcome is unknown, not at their timeout. Only the promises are touched: the entity's state is going.
  ~reply_gate() {
    for (auto& w : waiting_)
      if (w.abandon)
        w.abandon();
  }

  /// Answers from the entity's own handler for committed_atom.
  void release(uint64_t index, bool committed) {
    size_t n = 0;
    while (n < waiting_.size() && waiting_[n].index <= index)
      ++n;
    if (n == 0)
      return;
    // Taken out before delivering: a delivery may hold a new answer on this gate. Usually all of them are due,
    // and the whole vector changes hands without a copy.
    std::vector<waiting> due;
    if (n == waiting_.size()) {
      due.swap(waiting_);
    } else {
      due.assign(std::make_move_iterator(waiting_.begin()),
                 std::make_move_iterator(waiting_.begin() + static_cast<std::ptrdiff_t>(n)));
      waiting_.erase(waiting_.begin(), waiting_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    for (auto& w : due)
      w.deliver(committed);
  }

  /// Holds `deliver` until the shard's last pending write is committed (or at once when none is).
  /// `abandon` runs instead if the entity stops first (it must not touch the entity's state).
  template <class Self>
  void hold(Self* self, store::shard_store& store, std::function<void(bool)> deliver,
            std::function<void()> abandon = {}) {
    auto mark = store.mark(epoch);
    if (mark.index == 0) {
      deliver(true);
      return;
    }
    bool first_for_index = waiting_.empty() || waiting_.back().index < mark.index;
    waiting_.push_back(waiting{mark.index, std::move(deliver), std::move(abandon)});
    if (first_for_index)
      store.when_committed(mark, [who = caf::actor_cast<caf::actor>(self), index = mark.index](bool ok) {
        caf::anon_send(who, committed_atom::value, index, ok);
      });
  }

  /// Whether the owner's writes so far are all applied (a reply may leave at once).
  bool clear(const store::shard_store& store) const { return store.mark(epoch).index == 0; }

  /// The write epoch of the entity owning the gate (shard_store::epoch, taken when it loaded; 0: the current
  /// one). An entity of an ended epoch can vouch for nothing: its held answers say outcome_unknown.
  uint64_t epoch = 0;

  bool empty() const noexcept { return waiting_.empty(); }

private:
  struct waiting {
    uint64_t index;
    std::function<void(bool)> deliver;
    std::function<void()> abandon;
  };
  // A vector, not a deque: most entities never hold an answer, and an empty libstdc++ deque already owns
  // ~600 bytes, a seventh of an idle entity.
  std::vector<waiting> waiting_;
};

inline caf::error not_known_committed() {
  return make_error(domain::fail(domain::errc::outcome_unknown,
                                 "this node lost the lead of the shard before the change was committed; "
                                 "read it again (or retry with the same Idempotency-Key)"));
}

/// A promise answered once the entity's writes so far are committed.
template <class T, class Self>
void deliver_gated(Self* self, store::shard_store& store, reply_gate& gate, caf::typed_response_promise<T> rp,
                   T value) {
  gate.hold(
    self, store,
    [rp, value = std::move(value)](bool ok) mutable {
      if (ok)
        rp.deliver(std::move(value));
      else
        rp.deliver(not_known_committed());
    },
    [rp]() mutable { rp.deliver(not_known_committed()); });
}

/// A handler's successful answer, held by the gate when writes are pending.
template <class T, class Self>
caf::result<T> gated(Self* self, store::shard_store& store, reply_gate& gate, T value) {
  if (gate.clear(store))
    return value;
  auto rp = self->template make_response_promise<T>();
  deliver_gated(self, store, gate, rp, std::move(value));
  return rp;
}

} // namespace bento::actors
