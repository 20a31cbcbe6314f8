// The catalog actor fed as the node feeds it: commits from several threads, announcements coalesced into one
// outstanding message. Every committed item must end up in the catalog, whatever order the announcements
// (or their absence) come in.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/catalog/catalog_actor.hpp"
#include "actors/catalog/page_board.hpp"
#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"
#include "tests/support/caf_config.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento;
using namespace bento::domain;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<store::entity_store> open_db(const test::temp_dir& dir) {
  auto opened = store::entity_store::open(store::store_options{dir / "db", false, 8u << 20});
  REQUIRE(opened);
  return std::move(*opened);
}

/// Waits until the catalog has opened, then announces commits to it as node/main.cpp does: one outstanding
/// announcement, cleared by the catalog before it reads the events.
void feed_as_the_node_does(caf::scoped_actor& self, store::entity_store& db, const actors::catalog_actor& catalog,
                           std::shared_ptr<std::atomic<bool>> announced) {
  self->request(catalog, 10s, actors::stats_atom::value)
    .receive([](actors::catalog_stats&) {}, [](caf::error& e) { FAIL(caf::to_string(e)); });
  db.set_event_listener([catalog, announced](const event& ev) {
    if (!announced->exchange(true))
      caf::anon_send(catalog, event{ev.seq, ev.type, {}, ev.at_ms, {}, {}, ev.shard});
  });
}

} // namespace

TEST_CASE("catalog actor: commits from many threads, announced once per burst, are all applied", "[unit]") {
  test::temp_dir dir;
  auto db = open_db(dir);
  store::shard_store r1(*db, shard_of("restaurant/r1", db->shard_count())); // where these events go
  caf::actor_system sys{test::quiet_caf_config()};
  auto announced = std::make_shared<std::atomic<bool>>(false);
  auto catalog = actors::spawn_catalog_actor(sys, db.get(), announced);
  caf::scoped_actor self{sys};
  // The first answer comes after the catalog has opened: on this empty data dir it builds itself from the
  // entity records, and the events below (written without entity records) must come after that.
  feed_as_the_node_does(self, *db, catalog, announced);
  {
    store::write_batch b;
    b.append_event(event{0, "restaurant.created", "restaurant/r1", 1, restaurant{"r1", "Sea", "taipei", "m", 1, 1}, "r1"});
    REQUIRE(r1.commit(b));
  }
  constexpr int writers = 4, items = 150;
  std::atomic<int> failed_commits{0}; // Catch2 assertions are not thread-safe: counted, checked after join
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      for (int i = 0; i < items; ++i) {
        menu_item item;
        item.restaurant_id = "r1";
        item.id = "i" + std::to_string(w) + "_" + std::to_string(i);
        item.name = item.id;
        item.stock = 1;
        store::write_batch b;
        b.append_event(event{0, "menu.item_upserted", "restaurant/r1", 1, item, "r1"});
        if (i % 3 == 0) // events the catalog does not apply still pass through its sequence
          b.append_event(event{0, "order.placed", "order/o", 1, order{}, "r1"});
        if (!r1.commit(b))
          ++failed_commits;
      }
    });
  for (auto& t : threads)
    t.join();
  REQUIRE(failed_commits == 0);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  actors::catalog_stats stats;
  do {
    self->request(catalog, 5s, actors::stats_atom::value)
      .receive([&](actors::catalog_stats& s) { stats = s; }, [&](caf::error&) {});
    if (stats.items == uint64_t{writers} * items)
      break;
    std::this_thread::sleep_for(10ms); // polling interval of a bounded wait, not synchronisation
  } while (std::chrono::steady_clock::now() < deadline);
  CHECK(stats.restaurants == 1);
  CHECK(stats.items == uint64_t{writers} * items);
  menu_query q;
  q.place = "taipei";
  q.limit = 100;
  size_t seen = 0;
  for (int page = 0; page < 20; ++page) {
    std::optional<menu_page> got;
    self->request(catalog, 5s, q).receive([&](menu_page& p) { got = std::move(p); }, [&](caf::error&) {});
    REQUIRE(got);
    seen += got->items().size();
    if (got->next_cursor().empty())
      break;
    q.cursor = got->next_cursor();
  }
  CHECK(seen == size_t{writers} * items);
  db->set_event_listener(nullptr);
  caf::anon_send_exit(catalog, caf::exit_reason::user_shutdown);
}

TEST_CASE("catalog actor: a page is shared by readers until the catalog changes, then shows the change",
          "[unit]") {
  test::temp_dir dir;
  auto db = open_db(dir);
  store::shard_store r1(*db, shard_of("restaurant/r1", db->shard_count()));
  store::shard_store other(*db, (shard_of("restaurant/r1", db->shard_count()) + 1) % db->shard_count());
  caf::actor_system sys{test::quiet_caf_config()};
  auto catalog = actors::spawn_catalog_actor(sys, db.get(), nullptr);
  caf::scoped_actor self{sys};
  self->request(catalog, 10s, actors::stats_atom::value) // opened (built from the empty store) before the events
    .receive([](actors::catalog_stats&) {}, [](caf::error& e) { FAIL(caf::to_string(e)); });
  auto commit = [&](store::shard_store& shard, event ev) {
    store::write_batch b;
    b.append_event(std::move(ev));
    REQUIRE(shard.commit(b));
    self->send(catalog, event{}); // the announcement: catch up
  };
  menu_item soup;
  soup.restaurant_id = "r1";
  soup.id = "soup";
  soup.name = "Soup";
  soup.price_cents = 500;
  soup.stock = 3;
  commit(r1, event{0, "restaurant.created", "restaurant/r1", 1, restaurant{"r1", "Sea", "taipei", "m", 1, 1}, "r1"});
  commit(r1, event{0, "menu.item_upserted", "restaurant/r1", 1, soup, "r1"});
  menu_query q;
  q.place = "taipei";
  auto ask = [&] {
    std::optional<menu_page> got;
    self->request(catalog, 5s, q).receive([&](menu_page& p) { got = std::move(p); },
                                           [&](caf::error& e) { FAIL(caf::to_string(e)); });
    REQUIRE(got);
    return *got;
  };
  auto first = ask();
  REQUIRE(first.items().size() == 1);
  CHECK(ask().same_as(first));
  // Events that are not the catalog's (an order elsewhere) change nothing: the page stays shared.
  commit(other, event{0, "order.placed", "order/o1", 1, order{}, "r9"});
  CHECK(ask().same_as(first));
  // A price change: the next reader gets a new page with it; the old one is unchanged for its readers.
  soup.price_cents = 650;
  commit(r1, event{0, "menu.item_upserted", "restaurant/r1", 1, soup, "r1"});
  auto changed = ask();
  CHECK_FALSE(changed.same_as(first));
  REQUIRE(changed.items().size() == 1);
  CHECK(changed.items()[0].item.price_cents == 650);
  CHECK(first.items()[0].item.price_cents == 500);
  caf::anon_send_exit(catalog, caf::exit_reason::user_shutdown);
}

TEST_CASE("catalog actor: a page an edge finds on the board shows every change acknowledged before it looked",
          "[unit]") {
  // The edge reads the board on its own thread while the catalog reads events on its own: a page found
  // must never be older than a write that was acknowledged before the lookup (a merchant's edit, then browse).
  test::temp_dir dir;
  auto db = open_db(dir);
  store::shard_store r1(*db, shard_of("restaurant/r1", db->shard_count()));
  caf::actor_system sys{test::quiet_caf_config()};
  auto announced = std::make_shared<std::atomic<bool>>(false);
  actors::catalog_options options;
  options.board = std::make_shared<actors::page_board>(announced);
  options.catch_up_every_ms = 1;
  auto& board = *options.board;
  auto catalog = actors::spawn_catalog_actor(sys, db.get(), announced, options);
  caf::scoped_actor self{sys};
  feed_as_the_node_does(self, *db, catalog, announced);
  menu_item soup;
  soup.restaurant_id = "r1";
  soup.id = "soup";
  soup.name = "Soup";
  soup.stock = 3;
  auto commit = [&](event ev) {
    store::write_batch b;
    b.append_event(std::move(ev));
    return bool(r1.commit(b));
  };
  REQUIRE(commit(event{0, "restaurant.created", "restaurant/r1", 1, restaurant{"r1", "Sea", "taipei", "m", 1, 1}, "r1"}));
  menu_query q;
  q.place = "taipei";
  auto ask = [&] {
    std::optional<menu_page> got;
    self->request(catalog, 5s, q).receive([&](menu_page& p) { got = std::move(p); }, [&](caf::error&) {});
    return got;
  };
  CHECK_FALSE(board.find_current(q)); // nothing answered yet
  auto empty = ask();
  REQUIRE(empty);
  CHECK(empty->items().empty());
  auto pinned = board.find_current(q);
  REQUIRE(pinned);
  CHECK(pinned->same_as(*empty));

  // Readers keep the catalog answering (and so pinning pages) while one writer raises the price and, after
  // each acknowledged write, looks at the board: a page it finds must have that price.
  std::atomic<bool> stop{false};
  std::atomic<int> reader_failures{0};
  std::thread reader([&] {
    caf::scoped_actor asker{sys};
    while (!stop) {
      bool ok = false;
      asker->request(catalog, 5s, q).receive([&](menu_page&) { ok = true; }, [&](caf::error&) {});
      if (!ok)
        ++reader_failures;
    }
  });
  int found = 0, stale = 0, failed_commits = 0;
  for (int price = 1; price <= 2000; ++price) {
    soup.price_cents = price;
    if (!commit(event{0, "menu.item_upserted", "restaurant/r1", 1, soup, "r1"})) {
      ++failed_commits;
      continue;
    }
    auto look = [&] {
      for (int i = 0; i < 10; ++i) {
        auto page = board.find_current(q);
        if (!page)
          continue;
        ++found;
        if (page->items().size() != 1 || page->items()[0].item.price_cents != price)
          ++stale;
      }
    };
    look(); // while the catalog may be catching up (the reader's queries make it)
    if (price % 2 == 0) {
      ask(); // caught up and pinned: the board answers now, unless the reader's query is mid catch-up
      look();
    }
  }
  stop = true;
  reader.join();
  CHECK(failed_commits == 0);
  CHECK(reader_failures == 0);
  CHECK(stale == 0);
  INFO("pages found on the board: " << found);
  CHECK(found > 0); // the board did answer: the property was exercised
  
  db->set_event_listener(nullptr);
  caf::anon_send_exit(catalog, caf::exit_reason::user_shutdown);
}
