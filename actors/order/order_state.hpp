#pragma once
// Rules of one order entity (order/<id>): placement (idempotent per key), who may see and change it, the state
// machine placed -> confirmed -> delivered (or cancelled), and edits. Stock itself belongs to the restaurant;
// an order states which lines it wants reserved and keeps an intent record so a crash mid-way can be undone.
#include <optional>
#include <string>
#include <vector>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::actors {

/// Canonical text of what a placement asked for; the same key with another request is a client error.
std::string fingerprint(const domain::place_order& cmd);

struct place_decision {
  bool replay = false;     // the order already exists: return it, reserve nothing
  domain::order order;     // the existing order, or the intent to persist before reserving
};

struct transition_plan {
  domain::order next;
  bool release_stock = false;  // cancel: set the reservation to nothing first
  bool finalize = false;       // deliver: the restaurant may forget the reservation
};

struct edit_plan {
  std::vector<domain::order_line> target; // item_id + qty to reserve
  std::optional<std::string> note;
  bool touches_stock = false;
};

class order_state {
public:
  bool exists() const noexcept { return order_.has_value(); }
  const std::optional<domain::order>& current() const noexcept { return order_; }
  void load(domain::order o) { order_ = std::move(o); }
  void reset() { order_.reset(); }

  domain::outcome<place_decision> begin_place(const domain::place_order& cmd, int64_t now_ms) const;
  domain::order complete_place(domain::order intent, const domain::reservation_result& r, int64_t now_ms) const;

  domain::outcome<domain::order> read(const domain::principal& caller) const;

  domain::outcome<transition_plan> plan_transition(const domain::transition_order& cmd, int64_t now_ms) const;

  domain::outcome<edit_plan> plan_edit(const domain::edit_order& cmd) const;
  domain::order complete_edit(const edit_plan& plan, const domain::reservation_result& r, int64_t now_ms) const;

  /// The intent record for a reservation change to `target` (written before asking the restaurant).
  domain::order with_intent(std::vector<domain::order_line> target) const;

  void commit(domain::order o) { order_ = std::move(o); }

private:
  /// Order visibility: its customer and its restaurant's merchant; everyone else is told it does not exist.
  std::optional<domain::failure> check_visible(const domain::principal& caller) const;

  std::optional<domain::order> order_;
};

int64_t total_of(const std::vector<domain::order_line>& lines);

} // namespace bento::actors
