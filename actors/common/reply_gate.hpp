#pragma once
// Replies wait for the writes they reflect. In a replicated shard an entity keeps working on its in-memory
// state while its batches are being committed by the group; an answer that shows that state (a placed order, a
// reservation another entity relies on, a read) must not leave before the group has committed the entity's
// last write, or a failover could take back what was answered. A lone leader's writes wait the same way for the
// driver's next group write (cluster/shard/direct_writes.hpp). If the write can no longer be known to commit
// here (leadership lost), the answer is outcome_unknown; a lone leader's write the disk refused says so (503).
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

  /// Answers from the entity's own handler for committed_atom: every answer held for a write up to `index`
  /// (committed, or each with why it is not), then asks again for those still held.
  template <class Self>
  void release(Self* self, store::shard_store& store, uint64_t index, bool committed) {
    if (index == registered_)
      registered_ = 0;
    // Past the index asked about, whatever is known committed since goes too (a lone leader's group commit
    // writes many at once): each answer waiting for another round trip through the mailbox would add to every
    // latency.
    size_t n = 0;
    while (n < waiting_.size() && (waiting_[n].mark.index <= index || store.committed(waiting_[n].mark)))
      ++n;
    if (n > 0) {
      // Taken out before delivering: a delivery may hold a new answer on this gate. Usually all of them are
      // due, and the whole vector changes hands without a copy.
      std::vector<waiting> due;
      if (n == waiting_.size()) {
        due.swap(waiting_);
      } else {
        due.assign(std::make_move_iterator(waiting_.begin()),
                   std::make_move_iterator(waiting_.begin() + static_cast<std::ptrdiff_t>(n)));
        waiting_.erase(waiting_.begin(), waiting_.begin() + static_cast<std::ptrdiff_t>(n));
      }
      // A failed index says nothing of earlier writes held with it: each is asked (a lone leader's write
      // before a failed group was written).
      for (auto& w : due)
        w.deliver((committed && w.mark.index <= index) || store.committed(w.mark) ? caf::error{}
                                                                                  : refusal(store, w.mark));
    }
    if (!waiting_.empty() && registered_ == 0)
      listen(self, store, waiting_.back().mark);
  }

  /// Holds `deliver` until the owner's last write (wrote) is committed (or at once when it is): it gets no
  /// error then, else why the answer cannot say the write happened. `abandon` runs instead if the entity stops
  /// first (it must not touch the entity's state).
  template <class Self>
  void hold(Self* self, store::shard_store& store, std::function<void(const caf::error&)> deliver,
            std::function<void()> abandon = {}) {
    auto mark = awaited(store);
    if (mark.index == 0) {
      deliver(caf::error{});
      return;
    }
    waiting_.push_back(waiting{mark, std::move(deliver), std::move(abandon)});
    // One question to the writer at a time, for the newest write held: a lone leader's queued writes each
    // have a mark, and a busy restaurant holding an answer per write would otherwise get a committed_atom per
    // write where one per group commit does.
    if (registered_ == 0)
      listen(self, store, mark);
  }

  /// Whether the owner's writes so far are all applied (a reply may leave at once).
  bool clear(const store::shard_store& store) const { return awaited(store).index == 0; }

  /// Notes a write the owner just committed through `store`: its answers from now on wait for it. Only the
  /// owner's own writes: whatever it learned from another entity came in an answer that waited for that
  /// entity's writes, and what it reads from the store is applied. (Waiting for the whole shard's last write
  /// instead held every order's answer for the next group of other orders' writes.)
  void wrote(const store::shard_store& store) { own_ = store.mark(epoch); }
  /// The owner's last write noted (wrote()).
  const store::write_mark& own() const noexcept { return own_; }

  /// The write epoch of the entity owning the gate (shard_store::epoch, taken when it loaded; 0: the current
  /// one). An entity of an ended epoch can vouch for nothing: its held answers say outcome_unknown.
  uint64_t epoch = 0;

  bool empty() const noexcept { return waiting_.empty(); }

private:
  struct waiting {
    store::write_mark mark;
    std::function<void(const caf::error&)> deliver;
    std::function<void()> abandon;
  };

  template <class Self>
  void listen(Self* self, store::shard_store& store, const store::write_mark& mark) {
    registered_ = mark.index;
    store.when_committed(mark, [who = caf::actor_cast<caf::actor>(self), index = mark.index](bool ok) {
      caf::anon_send(who, committed_atom::value, index, ok);
    });
  }

  static caf::error refusal(const store::shard_store& store, const store::write_mark& mark);

  /// What an answer must wait for: the owner's last write until it is known committed; unknown_mark once the
  /// owner's epoch has ended (a deposed leader's entity can vouch for nothing, reads included).
  store::write_mark awaited(const store::shard_store& store) const {
    if (epoch != 0 && store.epoch() != epoch)
      return store::unknown_mark;
    if (own_.index == 0 || store.committed(own_))
      return {};
    return own_;
  }

  store::write_mark own_; // the owner's last write (wrote)

  uint64_t registered_ = 0; // the index asked about (when_committed), until its answer came
  // A vector, not a deque: most entities never hold an answer, and an empty libstdc++ deque already owns
  // ~600 bytes, a seventh of an idle entity.
  std::vector<waiting> waiting_;
};

inline caf::error not_known_committed() {
  return make_error(domain::fail(domain::errc::outcome_unknown,
                                 "this node lost the lead of the shard before the change was committed; "
                                 "read it again (or retry with the same Idempotency-Key)"));
}

/// A write known not to have been made (a lone leader's queued write the disk refused) says so, with the
/// disk's reason (503, retry); anything else not known to commit is outcome_unknown.
inline caf::error reply_gate::refusal(const store::shard_store& store, const store::write_mark& mark) {
  if (auto refused = store.refusal_of(mark); !refused)
    return make_error(refused.error());
  return not_known_committed();
}

/// A promise answered once the entity's writes so far are committed.
template <class T, class Self>
void deliver_gated(Self* self, store::shard_store& store, reply_gate& gate, caf::typed_response_promise<T> rp,
                   T value) {
  gate.hold(
    self, store,
    [rp, value = std::move(value)](const caf::error& err) mutable {
      if (!err)
        rp.deliver(std::move(value));
      else
        rp.deliver(err);
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
