#include "actors/order/order_state.hpp"

#include <algorithm>
#include <map>

#include "protocol/domain/calendar.hpp"
#include "protocol/domain/validation.hpp"

namespace bento::actors {

using namespace bento::domain;

int64_t total_of(const std::vector<order_line>& lines) {
  int64_t total = 0;
  for (auto& l : lines)
    total += l.price_cents * l.qty;
  return total;
}

std::string fingerprint(const place_order& cmd) {
  std::map<std::string, int64_t> qty;
  for (auto& l : cmd.lines)
    qty[l.item_id] += l.qty;
  std::string out = cmd.restaurant_id + "|";
  for (auto& [id, q] : qty)
    out += id + "=" + std::to_string(q) + ",";
  out += "|";
  out += cmd.for_meal ? to_string(*cmd.for_meal) : "";
  out += "|" + cmd.date.value_or("") + "|" + cmd.note;
  return out;
}

outcome<place_decision> order_state::begin_place(const place_order& cmd, int64_t now_ms) const {
  if (cmd.caller.role != role::customer)
    return fail(errc::forbidden, "only customers may place orders");
  if (auto f = check_id("restaurant_id", cmd.restaurant_id))
    return *f;
  if (auto f = check_lines(cmd.lines))
    return *f;
  if (auto f = check_text("note", cmd.note, max_note_length, false, true))
    return *f;
  if (order_ && order_->committed) {
    if (order_->customer_id != cmd.caller.user_id)
      return fail(errc::idempotency_mismatch, "order id is taken");
    if (order_->request_fingerprint != fingerprint(cmd))
      return fail(errc::idempotency_mismatch, "Idempotency-Key was used for a different order");
    return place_decision{true, *order_};
  }
  auto slot = next_meal_slot(now_ms);
  order o;
  o.id = cmd.order_id;
  o.customer_id = cmd.caller.user_id;
  o.restaurant_id = cmd.restaurant_id;
  o.meal = cmd.for_meal.value_or(slot.meal);
  if (cmd.date) {
    if (!is_valid_date(*cmd.date))
      return fail(errc::invalid_argument, "date must be a real day as YYYY-MM-DD");
    auto today = local_date(now_ms);
    if (*cmd.date < today)
      return fail(errc::invalid_argument, "date must not be in the past");
    if (*cmd.date > add_days(today, max_days_ahead))
      return fail(errc::invalid_argument, "date must be within " + std::to_string(max_days_ahead) + " days");
    o.date = *cmd.date;
  } else {
    o.date = cmd.for_meal ? local_date(now_ms) : slot.date;
  }
  o.note = cmd.note;
  o.status = order_status::placed;
  o.created_at_ms = now_ms;
  o.updated_at_ms = now_ms;
  o.idempotency_key = cmd.idempotency_key;
  o.request_fingerprint = fingerprint(cmd);
  std::vector<order_line> wanted;
  for (auto& l : cmd.lines)
    wanted.push_back(order_line{l.item_id, {}, 0, l.qty});
  o.pending_lines = std::move(wanted);
  o.committed = false;
  o.version = 0;
  return place_decision{false, std::move(o)};
}

order order_state::complete_place(order intent, const reservation_result& r, int64_t now_ms) const {
  intent.lines = r.lines;
  intent.total_cents = total_of(intent.lines);
  intent.restaurant_name = r.info.name;
  intent.merchant_id = r.info.owner_id;
  intent.pending_lines.reset();
  intent.committed = true;
  intent.updated_at_ms = now_ms;
  intent.version = 1;
  return intent;
}

std::optional<failure> order_state::check_visible(const principal& caller) const {
  if (!order_ || !order_->committed)
    return fail(errc::not_found, "order not found");
  if (caller.user_id != order_->customer_id && caller.user_id != order_->merchant_id)
    return fail(errc::not_found, "order not found");
  return std::nullopt;
}

outcome<order> order_state::read(const principal& caller) const {
  if (auto f = check_visible(caller))
    return *f;
  return *order_;
}

outcome<transition_plan> order_state::plan_transition(const transition_order& cmd, int64_t now_ms) const {
  if (auto f = check_visible(cmd.caller))
    return *f;
  const auto& o = *order_;
  bool is_merchant = cmd.caller.user_id == o.merchant_id && cmd.caller.role == role::merchant;
  bool is_customer = cmd.caller.user_id == o.customer_id && cmd.caller.role == role::customer;
  transition_plan plan{o, false, false};
  plan.next.updated_at_ms = now_ms;
  plan.next.version = o.version + 1;
  auto refuse = [&](const char* what) {
    return fail(errc::invalid_transition,
                std::string("cannot ") + what + " an order that is " + to_string(o.status));
  };
  switch (cmd.action) {
    case order_action::confirm:
      if (!is_merchant)
        return fail(errc::forbidden, "only the restaurant's merchant may confirm");
      if (o.status != order_status::placed)
        return refuse("confirm");
      plan.next.status = order_status::confirmed;
      break;
    case order_action::deliver:
      if (!is_merchant)
        return fail(errc::forbidden, "only the restaurant's merchant may deliver");
      if (o.status != order_status::confirmed)
        return refuse("deliver");
      plan.next.status = order_status::delivered;
      plan.finalize = true;
      break;
    case order_action::cancel:
      if (is_customer) {
        if (o.status != order_status::placed)
          return refuse("cancel");
      } else if (is_merchant) {
        if (o.status != order_status::placed && o.status != order_status::confirmed)
          return refuse("cancel");
      } else {
        return fail(errc::forbidden, "not allowed to cancel this order");
      }
      plan.next.status = order_status::cancelled;
      plan.release_stock = true;
      break;
  }
  return plan;
}

outcome<edit_plan> order_state::plan_edit(const edit_order& cmd) const {
  if (auto f = check_visible(cmd.caller))
    return *f;
  const auto& o = *order_;
  if (cmd.caller.user_id != o.merchant_id || cmd.caller.role != role::merchant)
    return fail(errc::forbidden, "only the restaurant's merchant may edit an order");
  if (o.status != order_status::placed)
    return fail(errc::invalid_transition, std::string("cannot edit an order that is ") + to_string(o.status));
  if (!cmd.lines && !cmd.note)
    return fail(errc::invalid_argument, "nothing to change: give items and/or note");
  edit_plan plan;
  if (cmd.note) {
    if (auto f = check_text("note", *cmd.note, max_note_length, false, true))
      return *f;
    plan.note = cmd.note;
  }
  if (cmd.lines) {
    if (auto f = check_lines(*cmd.lines))
      return *f;
    for (auto& l : *cmd.lines)
      plan.target.push_back(order_line{l.item_id, {}, 0, l.qty});
    plan.touches_stock = true;
  } else {
    plan.target = o.lines;
  }
  return plan;
}

order order_state::complete_edit(const edit_plan& plan, const reservation_result& r, int64_t now_ms) const {
  order next = *order_;
  if (plan.touches_stock) {
    // Lines kept from the original order keep the price the customer agreed to.
    std::vector<order_line> lines;
    for (auto line : r.lines) {
      auto old = std::find_if(next.lines.begin(), next.lines.end(),
                              [&](const order_line& l) { return l.item_id == line.item_id; });
      if (old != next.lines.end()) {
        line.price_cents = old->price_cents;
        line.name = old->name;
      }
      lines.push_back(std::move(line));
    }
    next.lines = std::move(lines);
    next.total_cents = total_of(next.lines);
  }
  if (plan.note)
    next.note = *plan.note;
  next.pending_lines.reset();
  next.updated_at_ms = now_ms;
  next.version = order_->version + 1;
  return next;
}

order order_state::with_intent(std::vector<order_line> target) const {
  order o = *order_;
  o.pending_lines = std::move(target);
  return o;
}

} // namespace bento::actors
