#include "actors/order/order_state.hpp"

#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>

#include "protocol/codec/entity_codec.hpp"
#include "protocol/domain/calendar.hpp"
#include "protocol/domain/validation.hpp"

namespace bento::actors {

using namespace bento::domain;

namespace {

std::map<std::string, int64_t> quantities(const std::vector<order_line>& lines) {
  std::map<std::string, int64_t> out;
  for (auto& l : lines)
    out[l.item_id] += l.qty;
  return out;
}

} // namespace

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

void held_order::set(domain::order o, std::string encoded) {
  if (decoded_)
    *decoded_ = std::move(o);
  else
    decoded_ = std::make_unique<domain::order>(std::move(o));
  encoded_ = std::move(encoded);
  in_store_ = false;
}

void held_order::reset() noexcept {
  decoded_.reset();
  encoded_.clear();
  encoded_.shrink_to_fit();
  in_store_ = false;
}

void held_order::shrink() noexcept {
  if (decoded_ && !encoded_.empty() && !decoded_->intent)
    decoded_.reset();
}

void held_order::release() noexcept {
  if (!*this || (decoded_ && decoded_->intent))
    return; // nothing to release, or a change in flight (encoded alone never holds one: shrink keeps those)
  decoded_.reset();
  std::string().swap(encoded_);
  in_store_ = true;
}

void held_order::reload(std::string encoded) {
  decoded_.reset();
  encoded_ = std::move(encoded);
  in_store_ = false;
}

const domain::order& held_order::get() const {
  if (in_store_) {
    // Every command reloads a released order first: reading one here is a bug, and guessing would be worse.
    spdlog::critical("order.read_while_released");
    std::abort();
  }
  if (!decoded_) {
    auto o = std::make_unique<domain::order>();
    if (!codec::decode(encoded_, *o)) {
      // The bytes were the store's or this actor's own encoding: not parsing them is memory corruption.
      spdlog::critical("order.held_record_corrupt");
      std::abort();
    }
    decoded_ = std::move(o);
  }
  return *decoded_;
}

bool order_state::unsettled() const noexcept {
  return has_intent() && order_->intent->kind != intent_kind::deliver;
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
  if (order_ && order_->customer_id != cmd.caller.user_id)
    return fail(errc::idempotency_mismatch, "order id is taken");
  if (order_ && order_->refused && !order_->intent) {
    if (order_->request_fingerprint != fingerprint(cmd))
      return fail(errc::idempotency_mismatch, "Idempotency-Key was used for a different order");
    return *order_->refused; // the key's attempt was refused: every try with it hears so, even after a restock
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
  o.committed = false;
  o.version = 0;
  // A record left by a placement that did not happen keeps its change numbers: go on after them.
  o.reservation_seq = order_ ? order_->reservation_seq : 0;
  std::vector<order_line> wanted;
  for (auto& l : cmd.lines)
    wanted.push_back(order_line{l.item_id, {}, 0, l.qty});
  order_intent in;
  in.kind = intent_kind::place;
  in.seq = ++o.reservation_seq;
  in.lines = std::move(wanted);
  o.intent = std::move(in);
  return place_decision{false, std::move(o)};
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

order order_state::with_intent(intent_kind kind, std::vector<order_line> lines) const {
  order o = *order_;
  order_intent in;
  in.kind = kind;
  in.seq = ++o.reservation_seq;
  in.lines = std::move(lines);
  o.intent = std::move(in);
  return o;
}

outcome<transition_plan> order_state::plan_transition(const transition_order& cmd, int64_t now_ms) const {
  if (auto f = check_visible(cmd.caller))
    return *f;
  const auto& o = *order_;
  bool is_merchant = cmd.caller.user_id == o.merchant_id && cmd.caller.role == role::merchant;
  bool is_customer = cmd.caller.user_id == o.customer_id && cmd.caller.role == role::customer;
  auto refuse = [&](const char* what) {
    return fail(errc::invalid_transition,
                std::string("cannot ") + what + " an order that is " + to_string(o.status));
  };
  switch (cmd.action) {
    case order_action::confirm: {
      if (!is_merchant)
        return fail(errc::forbidden, "only the restaurant's merchant may confirm");
      if (o.status != order_status::placed)
        return refuse("confirm");
      transition_plan plan{o, "order.confirmed"};
      plan.next.status = order_status::confirmed;
      plan.next.updated_at_ms = now_ms;
      plan.next.version = o.version + 1;
      return plan;
    }
    case order_action::deliver: {
      if (!is_merchant)
        return fail(errc::forbidden, "only the restaurant's merchant may deliver");
      if (o.status != order_status::confirmed)
        return refuse("deliver");
      // Delivered is final at once; the intent only makes sure the restaurant hears that the units are used.
      transition_plan plan{with_intent(intent_kind::deliver, {}), "order.delivered"};
      plan.next.status = order_status::delivered;
      plan.next.updated_at_ms = now_ms;
      plan.next.version = o.version + 1;
      return plan;
    }
    case order_action::cancel: {
      if (is_customer) {
        if (o.status != order_status::placed)
          return refuse("cancel");
      } else if (is_merchant) {
        if (o.status != order_status::placed && o.status != order_status::confirmed)
          return refuse("cancel");
      } else {
        return fail(errc::forbidden, "not allowed to cancel this order");
      }
      // The status changes with the outcome, once the restaurant has released the units.
      return transition_plan{with_intent(intent_kind::cancel, {}), "order.cancelled"};
    }
  }
  return fail(errc::invalid_argument, "unknown action");
}

outcome<order> order_state::plan_edit(const edit_order& cmd, int64_t now_ms) const {
  if (auto f = check_visible(cmd.caller))
    return *f;
  const auto& o = *order_;
  if (cmd.caller.user_id != o.merchant_id || cmd.caller.role != role::merchant)
    return fail(errc::forbidden, "only the restaurant's merchant may edit an order");
  if (o.status != order_status::placed)
    return fail(errc::invalid_transition, std::string("cannot edit an order that is ") + to_string(o.status));
  if (!cmd.lines && !cmd.merchant_note)
    return fail(errc::invalid_argument, "nothing to change: give items and/or merchant_note");
  if (cmd.merchant_note)
    if (auto f = check_text("merchant_note", *cmd.merchant_note, max_note_length, false, true))
      return *f;
  if (!cmd.lines) {
    order next = o;
    next.merchant_note = *cmd.merchant_note;
    next.updated_at_ms = now_ms;
    next.version = o.version + 1;
    return next;
  }
  if (auto f = check_lines(*cmd.lines))
    return *f;
  // A merchant changes how many of what the customer ordered (or drops lines), never adds something new.
  auto ordered = quantities(o.lines);
  std::map<std::string, int64_t> target;
  for (auto& l : *cmd.lines) {
    if (!ordered.count(l.item_id))
      return fail(errc::invalid_argument, "the order has no item " + l.item_id + "; a merchant may only change "
                                          "the quantities of items already in it", l.item_id);
    target[l.item_id] += l.qty;
    if (target[l.item_id] > max_line_qty)
      return fail(errc::invalid_argument, "qty must be between 1 and " + std::to_string(max_line_qty), l.item_id);
  }
  std::vector<order_line> lines;
  for (auto& [id, qty] : target)
    lines.push_back(order_line{id, {}, 0, static_cast<int32_t>(qty)});
  auto next = with_intent(intent_kind::edit, std::move(lines));
  next.intent->merchant_note = cmd.merchant_note;
  return next;
}

set_reservation order_state::reservation_request() const {
  const auto& o = *order_;
  set_reservation req{o.restaurant_id, o.id, o.intent->lines, std::nullopt, o.date, o.intent->seq};
  if (o.intent->kind == intent_kind::place)
    req.for_meal = o.meal;
  return req;
}

finalize_reservation order_state::finalize_request() const {
  return finalize_reservation{order_->restaurant_id, order_->id, order_->intent->seq};
}

settle_reservation order_state::settle_request() const {
  return settle_reservation{order_->restaurant_id, order_->id, order_->intent->seq, order_->date};
}

order order_state::applied_to(const order& current, const reservation_result& held, int64_t now_ms) {
  order next = current;
  auto in = std::move(*next.intent); // next keeps no intent
  next.intent.reset();
  next.updated_at_ms = now_ms;
  switch (in.kind) {
    case intent_kind::place:
      next.lines = held.lines;
      next.total_cents = total_of(next.lines);
      next.restaurant_name = held.info.name;
      next.merchant_id = held.info.owner_id;
      next.committed = true;
      next.version = 1;
      break;
    case intent_kind::edit: {
      // Lines kept from the original order keep the price the customer agreed to.
      std::vector<order_line> lines;
      for (auto line : held.lines) {
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
      if (in.merchant_note)
        next.merchant_note = *in.merchant_note;
      next.version = current.version + 1;
      break;
    }
    case intent_kind::cancel:
      // The lines stay as the record of what was ordered; the restaurant holds nothing any more.
      next.status = order_status::cancelled;
      next.version = current.version + 1;
      break;
    case intent_kind::deliver:
      next.updated_at_ms = current.updated_at_ms; // only the bookkeeping changed
      break;
  }
  return next;
}

order order_state::not_applied(int64_t now_ms) const {
  order next = *order_;
  next.intent.reset();
  if (!next.committed) {
    // Nothing was placed: keep only what makes the next try go on with fresh change numbers.
    next.lines.clear();
    next.total_cents = 0;
  } else {
    next.updated_at_ms = std::max(next.updated_at_ms, now_ms);
  }
  return next;
}

bool order_state::is_placed_form(const order& placed) const {
  if (!order_ || !order_->intent || order_->intent->kind != intent_kind::place)
    return false;
  const auto& asked = *order_;
  return placed.id == asked.id && placed.committed && !placed.intent && placed.customer_id == asked.customer_id &&
         placed.restaurant_id == asked.restaurant_id && quantities(placed.lines) == quantities(asked.intent->lines);
}

order order_state::refused_placement(const failure& f, int64_t now_ms) const {
  order next = not_applied(now_ms);
  next.refused = f;
  return next;
}

bool order_state::settle_applies(const settle_result& r) const {
  const auto& in = *order_->intent;
  if (r.applied)
    return true;
  // Not applied under this number (or the number is unknown: an intent written before numbers, a record
  // forgotten after its day): what counts is what the restaurant holds. Holding exactly the asked lines is
  // the change done (a cancel whose empty record was forgotten, say); holding anything else, it is not.
  return quantities(r.held.lines) == quantities(in.lines);
}

order order_state::settled(const settle_result& r, int64_t now_ms) const {
  if (!settle_applies(r))
    return not_applied(now_ms);
  return applied(r.held, now_ms);
}

} // namespace bento::actors
