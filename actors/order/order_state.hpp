#pragma once
// Rules of one order entity (order/<id>): placement (idempotent per key), who may see and change it, the state
// machine placed -> confirmed -> delivered (or cancelled), and merchants' edits. Stock belongs to the
// restaurant; an order changes what it holds there in three steps, each a stored record:
//   1. intent: the record with the change written down (kind, the change number `seq`, the lines asked for);
//   2. the restaurant applies the change, or refuses it, in one write of its own;
//   3. outcome: the record without the intent.
// A crash or a lost answer between 1 and 3 is *settled*: the restaurant says whether it applied change `seq`
// (and fences it off if not), and the order rolls forward or back to match. Settling never asks the restaurant
// for stock, so it cannot be refused, and an order can never stay stuck holding units it does not show.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::actors {

/// Canonical text of what a placement asked for; the same key with another request is a client error.
std::string fingerprint(const domain::place_order& cmd);

struct place_decision {
  bool replay = false; // the order exists: return it, reserve nothing
  domain::order order; // the existing order, or the record with a placement intent
};

/// The order an actor holds. While the actor idles it keeps only the encoded record (~5x smaller than the
/// decoded struct with its strings and lines: an idle order actor's memory is mostly this and CAF's actor); the
/// decoded order exists while the actor works with it. Both forms come from the store or from a commit, which
/// has the bytes anyway, so shrinking never encodes.
///
/// Once the store is known to hold the record (loaded from it, or written and applied), an idle order keeps
/// nothing at all (release): the next command reads the record back (reload), a point read the block cache or
/// memtable answers in microseconds, against ~265 B per idle order held for minutes.
class held_order {
public:
  explicit operator bool() const noexcept { return decoded_ != nullptr || !encoded_.empty() || in_store_; }
  const domain::order& operator*() const { return get(); }
  const domain::order* operator->() const { return &get(); }

  /// `encoded` is codec::encode(o), or empty (then the order stays decoded until the next set).
  void set(domain::order o, std::string encoded);
  void reset() noexcept;
  /// Drops the decoded form when the encoded one can stand for it and no change is in flight.
  void shrink() noexcept;
  /// Drops both forms when no change is in flight; the caller vouches that the store holds this very record.
  void release() noexcept;
  /// Released: the record must be read back from the store (reload) before the order is used.
  bool released() const noexcept { return in_store_; }
  void reload(std::string encoded);
  bool decoded() const noexcept { return decoded_ != nullptr; }

private:
  const domain::order& get() const;

  mutable std::unique_ptr<domain::order> decoded_;
  std::string encoded_;
  bool in_store_ = false;
};

struct transition_plan {
  domain::order next;      // final (confirm), or with an intent (cancel, deliver)
  const char* event_type;  // written with the record that changes the status
};

class order_state {
public:
  bool exists() const noexcept { return bool(order_); }
  /// The order, or null when there is none.
  const domain::order* current() const { return order_ ? &*order_ : nullptr; }
  /// `encoded`: the stored bytes of `o` (held_order::set).
  void load(domain::order o, std::string encoded = {}) { order_.set(std::move(o), std::move(encoded)); }
  void reset() { order_.reset(); }
  void commit(domain::order o, std::string encoded = {}) { order_.set(std::move(o), std::move(encoded)); }
  /// Between messages: keep the order encoded only (held_order::shrink), or nothing when the store holds
  /// this very record (held_order::release).
  void shrink(bool stored = false) noexcept { stored ? order_.release() : order_.shrink(); }
  bool released() const noexcept { return order_.released(); }
  /// The stored record of a released order, read back.
  void reload(std::string encoded) { order_.reload(std::move(encoded)); }
  bool decoded() const noexcept { return order_.decoded(); }

  /// An intent is written and its outcome is not (deliveries included).
  bool has_intent() const noexcept { return order_.decoded() && order_->intent.has_value(); } // encoded only: none
  /// An intent that changes stock (placement, edit, cancel): the order waits for it before anything else.
  bool unsettled() const noexcept;

  domain::outcome<place_decision> begin_place(const domain::place_order& cmd, int64_t now_ms) const;
  domain::outcome<domain::order> read(const domain::principal& caller) const;
  domain::outcome<transition_plan> plan_transition(const domain::transition_order& cmd, int64_t now_ms) const;
  /// A merchant's edit: the final record when only the merchant's note changes, else one with an intent.
  domain::outcome<domain::order> plan_edit(const domain::edit_order& cmd, int64_t now_ms) const;

  /// What to ask the restaurant for the current intent.
  domain::set_reservation reservation_request() const;
  domain::finalize_reservation finalize_request() const;
  domain::settle_reservation settle_request() const;

  /// The restaurant applied the current intent and holds `held`: the record to write.
  domain::order applied(const domain::reservation_result& held, int64_t now_ms) const {
    return applied_to(*order_, held, now_ms);
  }
  /// The same for `current` with its intent, held by no order_state (a restaurant placing an order).
  static domain::order applied_to(const domain::order& current, const domain::reservation_result& held,
                                  int64_t now_ms);
  /// It did not: the record to write (an unplaced order stays as a record without lines, so its change numbers
  /// go on where they were: a retry with the same key must not reuse a number the restaurant fenced off).
  domain::order not_applied(int64_t now_ms) const;
  /// Whether `placed` is the current placement intent placed: this order, customer and restaurant, committed,
  /// the quantities it asked for (what the restaurant hands back when it placed the order itself).
  bool is_placed_form(const domain::order& placed) const;
  /// not_applied for a keyed placement the restaurant refused outright: the refusal is kept for the key's tries.
  domain::order refused_placement(const domain::failure& f, int64_t now_ms) const;
  /// What settling decided: the record to write.
  domain::order settled(const domain::settle_result& r, int64_t now_ms) const;
  /// Whether `settled` rolled forward (for logs and metrics).
  bool settle_applies(const domain::settle_result& r) const;

private:
  /// Order visibility: its customer and its restaurant's merchant; everyone else is told it does not exist.
  std::optional<domain::failure> check_visible(const domain::principal& caller) const;
  domain::order with_intent(domain::intent_kind kind, std::vector<domain::order_line> lines) const;

  held_order order_;
};

int64_t total_of(const std::vector<domain::order_line>& lines);

} // namespace bento::actors
