// Interrupted stock changes, built deterministically: entities parked or crashed at named points between the
// order's and the restaurant's writes (issue 6, part 1), then a restart on the same data. The promise checked
// each time: the restaurant's free units plus what the stored orders hold equals what the merchant declared,
// and no order is left unsettled.
#include <algorithm>
#include <catch2/catch.hpp>

#include <future>

#include "tests/support/actor_fixture.hpp"

using namespace bento;
using namespace bento::domain;
using namespace std::chrono_literals;
using bento::test::fixture;
using bento::test::merchant;
using bento::test::order_for;

namespace {

principal customer(int n) {
  return order_for(n, 1).caller;
}

/// Units the stored, live orders hold of the item (what customers and merchants see).
int64_t held_by_orders(fixture& f, const std::vector<std::string>& ids) {
  int64_t units = 0;
  for (auto& id : ids) {
    auto o = f.stored_order(id);
    if (!o || !o->committed || o->status == order_status::cancelled || o->status == order_status::delivered)
      continue;
    for (auto& l : o->lines)
      units += l.qty;
  }
  return units;
}

edit_order lower_to(const std::string& oid, int32_t qty) {
  return edit_order{merchant, oid, std::vector<line_request>{{"katsu", qty}}, std::nullopt};
}

} // namespace

TEST_CASE("settle: a lowering edit the restaurant applied before a crash rolls forward; the freed units stay sold",
          "[unit]") {
  // Stock 5; A takes 5; PATCH A to 1; the restaurant applies it (4 free) but the order crashes before writing
  // its outcome; B takes those 4; restart. Re-asserting A's old lines (5) could never be granted again: A
  // was stuck holding 5 on paper while 4 of them were B's.
  fixture f;
  f.restaurant_with_stock(5);
  REQUIRE(f.ask<order>(order_for(1, 5)));
  f.gate->crash("order.outcome", "o_1");
  auto edit = f.ask<order>(lower_to("o_1", 1));
  REQUIRE_FALSE(edit); // the order crashed before it could answer
  f.gate->clear_crash();
  CHECK(f.stock() == 4);
  auto b = f.ask<order>(order_for(2, 4));
  REQUIRE(b);
  // The restart wakes A; new requests may reach the restaurant before A settles: park A there to make sure.
  f.gate->park("order.settle");
  f.restart();
  REQUIRE(f.gate->wait_reached("order.settle"));
  CHECK(f.stock() == 0);
  CHECK_FALSE(f.ask<order>(order_for(3, 1))); // nothing left for anyone else
  f.gate->release("order.settle");
  f.wait_settled();
  auto a = f.stored_order("o_1");
  REQUIRE(a);
  CHECK(a->lines.at(0).qty == 1);
  CHECK(f.stock() + held_by_orders(f, {"o_1", "o_2", "o_3"}) == 5);
  // Not stuck: the merchant can act on it at once.
  auto cancelled = f.ask<order>(transition_order{merchant, "o_1", order_action::cancel});
  REQUIRE(cancelled);
  CHECK(cancelled->status == order_status::cancelled);
  CHECK(f.stock() == 1);
}

TEST_CASE("settle: a cancel the restaurant applied before a crash rolls forward", "[unit]") {
  fixture f;
  f.restaurant_with_stock(5);
  REQUIRE(f.ask<order>(order_for(1, 5)));
  f.gate->crash("order.outcome", "o_1");
  REQUIRE_FALSE(f.ask<order>(transition_order{customer(1), "o_1", order_action::cancel}));
  f.gate->clear_crash();
  REQUIRE(f.ask<order>(order_for(2, 5)));
  f.restart();
  f.wait_settled();
  auto a = f.stored_order("o_1");
  REQUIRE(a);
  CHECK(a->status == order_status::cancelled);
  CHECK(f.stock() == 0);
  CHECK(f.stock() + held_by_orders(f, {"o_1", "o_2"}) == 5);
}

TEST_CASE("settle: a change the restaurant never saw rolls back, and its late copy is refused", "[unit]") {
  fixture f;
  f.restaurant_with_stock(5);
  REQUIRE(f.ask<order>(order_for(1, 2)));
  f.gate->crash("order.intent_written", "o_1");
  REQUIRE_FALSE(f.ask<order>(lower_to("o_1", 1)));
  f.gate->clear_crash();
  f.restart();
  f.wait_settled();
  auto a = f.stored_order("o_1");
  REQUIRE(a);
  CHECK(a->lines.at(0).qty == 2);
  CHECK_FALSE(a->intent);
  CHECK(f.stock() == 3);
  // The edit it had written down (change 2) is fenced off at the restaurant: it cannot apply late.
  auto late = f.ask<reservation_result>(set_reservation{"r1", "o_1", {{"katsu", "", 0, 1}}, {}, {}, 2});
  REQUIRE_FALSE(late);
  CHECK(late.error().code == errc::superseded);
  CHECK(f.stock() == 3);
  REQUIRE(f.ask<order>(lower_to("o_1", 1))); // and the merchant can edit it again
  CHECK(f.stock() == 4);
}

TEST_CASE("settle: a restaurant that answers after the order's timeout, while others take the freed units",
          "[unit]") {
  // No crash: the order gives up waiting (504 outcome_unknown), B takes the 4 units the edit freed before A
  // settles, and A ends at what the restaurant applied instead of claiming its old 5.
  fixture f(std::chrono::minutes(5), 100000, 300ms);
  f.restaurant_with_stock(5);
  REQUIRE(f.ask<order>(order_for(1, 5)));
  f.gate->park("restaurant.reserved");
  f.gate->park("order.settle");
  auto edit = std::async(std::launch::async, [&] { return f.ask<order>(lower_to("o_1", 1)); });
  REQUIRE(f.gate->wait_reached("restaurant.reserved")); // applied and written, the answer held back
  REQUIRE(f.gate->wait_reached("order.settle"));        // the order timed out and is about to settle
  auto answer = edit.get();
  REQUIRE_FALSE(answer);
  CHECK(answer.error().code == errc::outcome_unknown);
  f.gate->release("restaurant.reserved");
  auto b = f.ask<order>(order_for(2, 4));
  REQUIRE(b);
  f.gate->release("order.settle");
  f.wait_settled();
  auto a = f.ask<order>(get_order{merchant, "o_1"});
  REQUIRE(a);
  CHECK(a->lines.at(0).qty == 1);
  CHECK(f.stock() == 0);
  CHECK(f.stock() + held_by_orders(f, {"o_1", "o_2"}) == 5);
  REQUIRE(f.ask<order>(transition_order{merchant, "o_1", order_action::cancel}));
  CHECK(f.stock() == 1);
}

TEST_CASE("settle: an order evicted while its restaurant is unreachable settles first, then passivates",
          "[unit]") {
  // The router no longer lists an evicted entity, and entities that exist tick no more: one that could not go
  // when asked (a change to settle) must remember it and go once done, or it stays active for good.
  constexpr size_t cap = 10;
  fixture f(std::chrono::minutes(5), cap, 300ms);
  f.restaurant_with_stock(5);
  REQUIRE(f.ask<order>(order_for(1, 5)));
  f.gate->park("restaurant.reserved");
  auto edit = f.ask<order>(lower_to("o_1", 1)); // applied and written by the restaurant, the answer held back
  REQUIRE_FALSE(edit);
  CHECK(edit.error().code == errc::outcome_unknown);
  auto retries = [&] { return f.ctx.probe ? f.ctx.probe->settle_retries.load() : 0; };
  auto counts = [&] { return f.counts(); };
  auto wait_for = [](auto done) { return fixture::wait_for(done); };
  // Twenty newer entities past a cap of ten: the order (and the parked restaurant) are asked to go.
  auto evicted_before = counts().evictions;
  std::vector<get_user> others;
  for (int i = 0; i < 20; ++i)
    others.push_back(get_user{"other" + std::to_string(i)});
  (void)f.ask_all<user_view>(std::move(others));
  CHECK(counts().evictions >= evicted_before + 10);
  // Two more failed settles: the eviction, queued before the second, was taken while the change was open.
  auto seen = retries();
  REQUIRE(wait_for([&] { return retries() >= seen + 2; }));
  CHECK(counts().orders == 1);
  f.gate->release("restaurant.reserved");
  REQUIRE(wait_for([&] { return counts().orders == 0; })); // settled, then gone, long before five minutes
  auto a = f.ask<order>(get_order{merchant, "o_1"});
  REQUIRE(a);
  CHECK(a->lines.at(0).qty == 1);
  CHECK(f.stock() == 4);
}

TEST_CASE("settle: an interrupted cancel of an order whose day has passed still settles", "[unit]") {
  fixture f;
  f.restaurant_with_stock(0, 10); // a daily item
  auto a = f.ask<order>(order_for(1, 3));
  REQUIRE(a);
  f.shift_days(1);
  f.gate->crash("order.outcome", "o_1");
  REQUIRE_FALSE(f.ask<order>(transition_order{merchant, "o_1", order_action::cancel}));
  f.gate->clear_crash();
  for (int restart = 0; restart < 2; ++restart) {
    f.restart();
    f.wait_settled();
  }
  auto stored = f.stored_order("o_1");
  REQUIRE(stored);
  CHECK(stored->status == order_status::cancelled);
  CHECK(f.stock() == 10); // the new day's stock, untouched by the old day's order
}

TEST_CASE("settle: an interrupted cancel of an order holding a deleted item still settles", "[unit]") {
  fixture f;
  f.restaurant_with_stock(5);
  REQUIRE(f.ask<order>(order_for(1, 2)));
  REQUIRE(f.ask<bool>(delete_menu_item{merchant, "r1", "katsu", std::nullopt}));
  f.gate->crash("order.outcome", "o_1");
  REQUIRE_FALSE(f.ask<order>(transition_order{customer(1), "o_1", order_action::cancel}));
  f.gate->clear_crash();
  f.restart();
  f.wait_settled();
  auto stored = f.stored_order("o_1");
  REQUIRE(stored);
  CHECK(stored->status == order_status::cancelled);
  // Re-created, the item offers exactly what the merchant declares: the old order's units went nowhere.
  menu_item_input in;
  in.name = "Katsu";
  in.price_cents = 1200;
  in.stock = 5;
  REQUIRE(f.ask<upsert_result>(upsert_menu_item{merchant, "r1", "katsu", in}));
  CHECK(f.stock() == 5);
}

TEST_CASE("settle: a delivery cut off before the restaurant heard of it is finalized at start", "[unit]") {
  fixture f;
  f.restaurant_with_stock(5);
  REQUIRE(f.ask<order>(order_for(1, 2)));
  REQUIRE(f.ask<order>(transition_order{merchant, "o_1", order_action::confirm}));
  f.gate->crash("order.settle", "o_1");
  auto delivered = f.ask<order>(transition_order{merchant, "o_1", order_action::deliver});
  f.gate->clear_crash();
  (void)delivered; // answered or cut off by the crash: either way the delivery is written
  auto record = f.shard_of(actors::keys::restaurant_entity("r1")).get(store::column::entities, actors::keys::reservation_record("r1", "o_1"));
  REQUIRE(record);
  REQUIRE(record->has_value());
  f.restart();
  f.wait_settled();
  auto stored = f.stored_order("o_1");
  REQUIRE(stored);
  CHECK(stored->status == order_status::delivered);
  CHECK_FALSE(stored->intent);
  record = f.shard_of(actors::keys::restaurant_entity("r1")).get(store::column::entities, actors::keys::reservation_record("r1", "o_1"));
  REQUIRE(record);
  REQUIRE(record->has_value());
  reservation r;
  REQUIRE(codec::decode(**record, r));
  CHECK(r.lines.empty()); // consumed: a tombstone until its day has passed
  CHECK(f.stock() == 3);  // delivered units are sold, not returned
}

namespace {

/// An order id in the restaurant's shard, as the edges give a placement without an Idempotency-Key.
place_order in_restaurant_shard(fixture& f, int customer, int qty) {
  auto cmd = order_for(customer, qty);
  auto count = f.shards->count();
  cmd.order_id = id_in_shard("o_s" + std::to_string(customer), "order/", shard_of("restaurant/r1", count), count);
  REQUIRE_FALSE(cmd.order_id.empty());
  return cmd;
}

uint64_t writes(fixture& f) {
  return static_cast<uint64_t>(f.db->stats().at("writes"));
}

} // namespace

TEST_CASE("settle: a first placement in its restaurant's shard is placed in the reservation's own write, and a "
          "crash right after it loses nothing",
          "[unit]") {
  fixture f;
  f.restaurant_with_stock(5);
  auto warm = order_for(5, 1); // the restaurant's first command of the day writes its day's bookkeeping too
  REQUIRE(f.ask<order>(warm));
  // Elsewhere (another shard): intent, reservation, outcome.
  auto far = order_for(1, 1);
  REQUIRE(shard_of("order/" + far.order_id, f.shards->count()) != shard_of("restaurant/r1", f.shards->count()));
  auto before = writes(f);
  REQUIRE(f.ask<order>(far));
  CHECK(writes(f) - before == 3);
  // In the restaurant's shard: the reservation with the placed order, one write, placed by the restaurant
  // itself (no order actor activated for it).
  auto near = in_restaurant_shard(f, 2, 1);
  before = writes(f);
  auto activations = f.counts().activations;
  auto placed = f.ask<order>(near);
  REQUIRE(placed);
  CHECK(placed->status == order_status::placed);
  CHECK(placed->lines.at(0).price_cents == 1200);
  CHECK(placed->total_cents == 1200);
  CHECK(placed->merchant_id == "u_m");
  CHECK(placed->version == 1);
  CHECK(writes(f) - before == 1);
  CHECK(f.counts().activations == activations);
  auto stored = f.stored_order(near.order_id);
  REQUIRE(stored);
  CHECK(stored->committed);
  CHECK_FALSE(stored->intent);
  CHECK_FALSE(f.shard_of("order/" + near.order_id).get(store::column::indexes,
                                                        actors::keys::pending_order(near.order_id))->has_value());
  // The same command again (a forwarded retry): the same order, nothing written, nothing more held.
  before = writes(f);
  auto replay = f.ask<order>(near);
  REQUIRE(replay);
  CHECK(replay->id == placed->id);
  CHECK(replay->version == 1);
  CHECK(writes(f) == before);
  CHECK(f.stock() == 2);
  // Another customer's command under that id is refused, and changes nothing.
  auto thief = near;
  thief.caller = customer(9);
  auto stolen = f.ask<order>(thief);
  REQUIRE_FALSE(stolen);
  CHECK(stolen.error().code == errc::idempotency_mismatch);
  CHECK(f.stored_order(near.order_id)->customer_id == near.caller.user_id);
  // Refused outright: nothing at all is written, not even an erase.
  auto greedy = in_restaurant_shard(f, 3, 3);
  before = writes(f);
  auto refused = f.ask<order>(greedy);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::out_of_stock);
  CHECK(writes(f) == before);
  CHECK_FALSE(f.stored_order(greedy.order_id));
  // The restaurant crashes once it wrote, before it answered: the order is placed in the store already, with
  // its listing entry, and nothing is left to settle.
  auto crashed = in_restaurant_shard(f, 4, 1);
  f.gate->crash("restaurant.reserved", "r1");
  auto lost = f.ask<order>(crashed);
  REQUIRE_FALSE(lost);
  CHECK(lost.error().code == errc::outcome_unknown);
  f.gate->clear_crash();
  auto interrupted = f.stored_order(crashed.order_id);
  REQUIRE(interrupted);
  CHECK(interrupted->committed);
  CHECK_FALSE(interrupted->intent);
  // Readable at once (bounded wait: the router hears of the crashed restaurant's exit asynchronously).
  std::optional<outcome<order>> read;
  CHECK(fixture::wait_for([&] {
    read = f.ask<order>(get_order{crashed.caller, crashed.order_id});
    return bool(*read);
  }));
  REQUIRE(read);
  REQUIRE(bool(*read));
  CHECK((*read)->version == 1);
  // The menu read may reach the crashed restaurant before the router hears of its exit: asked again then.
  CHECK(fixture::wait_for([&] {
    auto m = f.ask<menu_view>(get_menu{"r1", {}});
    return m && std::any_of(m->items().begin(), m->items().end(),
                            [](const auto& i) { return i.id == "katsu" && i.stock == 1; });
  }));
  // An order actor active for an id (a read of it, before) places it itself, with the same single write; a crash
  // of that order once the restaurant wrote loses nothing either.
  auto read_first = in_restaurant_shard(f, 6, 1);
  REQUIRE_FALSE(f.ask<order>(get_order{read_first.caller, read_first.order_id}));
  f.gate->crash("order.outcome", read_first.order_id);
  before = writes(f);
  REQUIRE_FALSE(f.ask<order>(read_first));
  f.gate->clear_crash();
  CHECK(writes(f) - before == 1);
  auto by_actor = f.stored_order(read_first.order_id);
  REQUIRE(by_actor);
  CHECK(by_actor->committed);
  CHECK_FALSE(by_actor->intent);
  CHECK(f.stock() == 0);
  f.restart();
  f.wait_settled();
  auto settled = f.stored_order(crashed.order_id);
  REQUIRE(settled);
  CHECK(settled->committed);
  CHECK_FALSE(settled->intent);
  CHECK(f.stock() + held_by_orders(f, {warm.order_id, far.order_id, near.order_id, crashed.order_id,
                                       read_first.order_id}) == 5);
}

TEST_CASE("settle: an order read while its restaurant places it finds it placed on its next command", "[unit]") {
  // The router sends a keyless placement to the restaurant when no order actor is active for its id. A read of
  // the id that arrives before the restaurant wrote activates an order actor that finds nothing: it must not
  // keep answering "not found" for the order placed a moment later.
  fixture f;
  f.restaurant_with_stock(5);
  REQUIRE(f.ask<order>(order_for(5, 1)));
  auto cmd = in_restaurant_shard(f, 2, 2);
  f.gate->park("restaurant.placing");
  auto placing = std::async(std::launch::async, [&] { return f.ask<order>(cmd); });
  REQUIRE(f.gate->wait_reached("restaurant.placing"));
  auto early = f.ask<order>(get_order{cmd.caller, cmd.order_id});
  REQUIRE_FALSE(early);
  CHECK(early.error().code == errc::not_found);
  f.gate->release("restaurant.placing");
  auto placed = placing.get();
  REQUIRE(placed);
  auto later = f.ask<order>(get_order{cmd.caller, cmd.order_id});
  REQUIRE(later);
  CHECK(later->version == 1);
  CHECK(later->lines.at(0).qty == 2);
  // And a merchant's change goes through that activation too.
  auto confirmed = f.ask<order>(transition_order{merchant, cmd.order_id, order_action::confirm});
  REQUIRE(confirmed);
  CHECK(confirmed->status == order_status::confirmed);
  CHECK(f.stock() == 2);
}

TEST_CASE("settle: a placement under a fresh id reads neither of its keys; one delivered again reads and replays",
          "[unit]") {
  // The edge marks a keyless command whose id it drew just now (place_order::fresh_id): nothing can be stored
  // under that id, so the restaurant skips the reads of the order's record and reservation. A command that may
  // have been delivered before (from a peer, or again) never carries the mark, and is checked as before.
  fixture f;
  f.restaurant_with_stock(5);
  REQUIRE(f.ask<order>(order_for(5, 1)));
  auto gets = [&] { return static_cast<uint64_t>(f.db->stats().at("gets")); };
  auto cmd = in_restaurant_shard(f, 2, 2);
  cmd.fresh_id = true;
  auto before = gets();
  auto placed = f.ask<order>(cmd);
  REQUIRE(placed);
  CHECK(gets() == before);
  CHECK(f.stock() == 2);
  cmd.fresh_id = false;
  before = gets();
  auto again = f.ask<order>(cmd);
  REQUIRE(again);
  CHECK(gets() > before);
  CHECK(again->id == placed->id);
  CHECK(again->version == placed->version);
  CHECK(f.stock() == 2); // not reserved twice
  auto unmarked = in_restaurant_shard(f, 3, 1);
  before = gets();
  REQUIRE(f.ask<order>(unmarked));
  CHECK(gets() >= before + 2); // its record and its reservation
  CHECK(f.stock() == 1);
  f.restart();
  auto stored = f.stored_order(cmd.order_id);
  REQUIRE(stored);
  CHECK(stored->committed);
}

TEST_CASE("settle: a keyless placement meets the fence its id's earlier try left, even after a restart", "[unit]") {
  // An order whose intent rode with its reservation timed out and settled: the restaurant fenced the change (a
  // reservation with no lines) and the order never wrote its outcome (it crashed). The same command delivered
  // again goes to the restaurant, which finds no record: it must still see the fence, not place the order.
  fixture f;
  f.restaurant_with_stock(5);
  REQUIRE(f.ask<order>(order_for(5, 1)));
  auto cmd = in_restaurant_shard(f, 2, 2);
  auto fenced = f.ask<settle_result>(settle_reservation{"r1", cmd.order_id, 1, {}});
  REQUIRE(fenced);
  CHECK_FALSE(fenced->applied);
  CHECK_FALSE(f.stored_order(cmd.order_id));
  f.restart(); // the fence is read back from the store, not held in memory
  auto again = f.ask<order>(cmd);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == errc::superseded);
  CHECK_FALSE(f.stored_order(cmd.order_id));
  CHECK(f.stock() == 4);
}

TEST_CASE("restaurant: an order record sent with a reservation must be that order's first placement in its shard",
          "[unit]") {
  // A peer's set_reservation carrying an order record is checked before anything is written: a record for an
  // order of another shard would land where nobody reads it, another order's or a later change would
  // overwrite what the order holds.
  fixture f;
  f.restaurant_with_stock(5);
  auto count = f.shards->count();
  auto near = in_restaurant_shard(f, 2, 1);
  order o;
  o.id = near.order_id;
  o.customer_id = near.caller.user_id;
  o.restaurant_id = "r1";
  o.intent = order_intent{intent_kind::place, 1, {{"katsu", "", 0, 1}}, std::nullopt};
  auto ask = [&](set_reservation cmd) { return f.ask<reservation_result>(std::move(cmd)); };
  set_reservation good{"r1", o.id, {{"katsu", "", 0, 1}}, meal::lunch, "", 1, codec::encode(o)};
  auto far_order = o;
  far_order.id = "o_1";
  REQUIRE(shard_of("order/o_1", count) != shard_of("restaurant/r1", count));
  auto far = good;
  far.order_id = "o_1";
  far.order_record = codec::encode(far_order);
  CHECK(ask(far).error().code == errc::invalid_argument);
  auto other = good;
  other.order_record = codec::encode(far_order); // another order's record under this order's id
  CHECK(ask(other).error().code == errc::invalid_argument);
  auto later = good;
  later.seq = 2;
  CHECK(ask(later).error().code == errc::invalid_argument);
  auto garbage = good;
  garbage.order_record = "not a record";
  CHECK(ask(garbage).error().code == errc::invalid_argument);
  CHECK(f.stock() == 5); // none of them reserved anything
  auto held = ask(good);
  REQUIRE(held);
  CHECK(f.stock() == 4);
  REQUIRE(f.stored_order(o.id));
  CHECK(f.stored_order(o.id)->committed); // placed with the reservation, and handed back
  order answered;
  REQUIRE(codec::decode(held->order_record, answered));
  CHECK(answered.id == o.id);
  CHECK(answered.total_cents == 1200);
  // An order that has a record already (a keyed refusal, say) is not placed by a command that says it is its
  // first placement: a stale activation of it elsewhere, or a lying peer, would overwrite what it holds.
  auto taken = in_restaurant_shard(f, 7, 1);
  order kept;
  kept.id = taken.order_id;
  kept.customer_id = taken.caller.user_id;
  kept.restaurant_id = "r1";
  kept.refused = fail(errc::out_of_stock, "katsu: 0 left", "katsu");
  {
    store::write_batch b;
    b.put(store::column::entities, actors::keys::order_record(kept.id), codec::encode(kept));
    REQUIRE(f.shard_of("order/" + kept.id).commit(b));
  }
  auto intent = o;
  intent.id = kept.id;
  intent.customer_id = kept.customer_id;
  auto over = good;
  over.order_id = kept.id;
  over.order_record = codec::encode(intent);
  CHECK(ask(over).error().code == errc::unavailable);
  CHECK(f.stock() == 4);
  REQUIRE(f.stored_order(kept.id));
  CHECK(f.stored_order(kept.id)->refused);
  // The same change sent again is answered as held, and writes nothing over the order.
  auto before = static_cast<uint64_t>(f.db->stats().at("writes"));
  auto again = ask(good);
  REQUIRE(again);
  CHECK(again->order_record.empty());
  CHECK(static_cast<uint64_t>(f.db->stats().at("writes")) == before);
}
