// The streaming writer of the hot replies must say exactly what the json tree said: the same bytes for the same
// menus, items and orders, whatever their strings hold (quotes, backslashes, control characters, multi-byte
// UTF-8), and valid JSON even for bytes that are not UTF-8.
#include <catch2/catch.hpp>

#include <random>

#include "node/http/json_views.hpp"
#include "node/http/json_writer.hpp"

using namespace bento;
using namespace bento::node;
namespace jv = bento::node::json_views;
using json = nlohmann::json;

namespace {

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// Valid UTF-8 with every kind of character the escaper treats apart.
std::string awkward(std::mt19937& rng, size_t n) {
  static const std::vector<std::string> pieces = {
    "a", "Z", " ", "\"", "\\", "/", "\b", "\f", "\n", "\r", "\t", std::string(1, '\0'), "\x01", "\x1f", "\x7f",
    "\xC3\xA9", "\xE6\x97\xA5", "\xF0\x9F\x8D\xB1", "\xE2\x80\xA8", "\xEF\xBF\xBD", "{", "}", ",", ":"};
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s += pieces[rng() % pieces.size()];
  return s;
}

domain::menu_item item(std::mt19937& rng) {
  domain::menu_item i;
  i.restaurant_id = "r_" + awkward(rng, 3);
  i.id = awkward(rng, 5);
  i.name = awkward(rng, 12);
  i.description = awkward(rng, 40);
  i.price_cents = static_cast<int64_t>(rng() % 100000) - 50;
  i.stock = static_cast<int64_t>(rng());
  i.daily_stock = rng() % 2 ? 0 : 30;
  i.stock_date = rng() % 2 ? "" : "2026-11-26";
  for (int k = 0, n = static_cast<int>(rng() % 4); k < n; ++k)
    i.tags.push_back(awkward(rng, 4));
  if (rng() % 2)
    i.meals = {domain::meal::lunch, domain::meal::dinner};
  i.image_url = rng() % 2 ? "" : "https://img.example/" + awkward(rng, 6);
  i.version = (uint64_t{1} << 63) + rng();
  return i;
}

domain::order order(std::mt19937& rng) {
  domain::order o;
  o.id = "o_" + awkward(rng, 4);
  o.customer_id = awkward(rng, 4);
  o.restaurant_id = awkward(rng, 4);
  o.restaurant_name = awkward(rng, 10);
  for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; ++k)
    o.lines.push_back({awkward(rng, 3), awkward(rng, 8), static_cast<int64_t>(rng() % 1000), 1 + static_cast<int32_t>(rng() % 2)});
  o.total_cents = static_cast<int64_t>(rng() % 100000);
  o.status = domain::order_status::confirmed;
  o.meal = domain::meal::lunch;
  o.date = "2026-11-26";
  o.note = awkward(rng, 20);
  o.merchant_note = awkward(rng, 5);
  o.created_at_ms = 1795712604123;
  o.updated_at_ms = 1795712605999;
  return o;
}

} // namespace

TEST_CASE("json_writer: items, orders and restaurants come out as the json tree dumped them", "[unit][edge]") {
  std::mt19937 rng(20261126);
  for (int round = 0; round < 500; ++round) {
    auto i = item(rng);
    json_writer w;
    jv::write(w, i);
    REQUIRE(w.str() == dump(jv::to_json(i)));

    // As a search finds it: its restaurant among its fields.
    json_writer s;
    std::string restaurant_name = awkward(rng, 6);
    jv::write(s, i, &restaurant_name);
    auto j = jv::to_json(i);
    j["restaurant_id"] = i.restaurant_id;
    j["restaurant_name"] = restaurant_name;
    REQUIRE(s.str() == dump(j));

    auto o = order(rng);
    json_writer ow;
    jv::write(ow, o);
    REQUIRE(ow.str() == dump(jv::to_json(o)));

    domain::restaurant r{awkward(rng, 4), awkward(rng, 9), "taipei", awkward(rng, 3), 1795712604123};
    json_writer rw;
    jv::write(rw, r);
    REQUIRE(rw.str() == dump(jv::to_json(r)));
  }
}

TEST_CASE("json_writer: nesting, separators and scalars", "[unit][edge]") {
  json_writer w;
  w.begin_object().key("a").begin_array().value(int64_t{-1}).value(true).null().begin_object().end_object()
    .begin_array().end_array().end_array().field("b", "x").key("c").raw("[1,2]").field("d", uint64_t{18446744073709551615u})
    .end_object();
  CHECK(w.str() == R"({"a":[-1,true,null,{},[]],"b":"x","c":[1,2],"d":18446744073709551615})");
  CHECK(json::parse(w.str()) == json::parse(dump(json::parse(w.str()))));
}

TEST_CASE("json_writer: bytes that are not UTF-8 give valid JSON, each bad sequence replaced as nlohmann does",
          "[unit][edge]") {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    // Bytes drawn so that truncated, overlong and surrogate sequences are common, not only stray bytes.
    static const unsigned char bytes[] = {0x41, 0x22, 0x5c, 0x01, 0x7f, 0x80, 0x8f, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
                                          0xc2, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
    for (int k = 0, n = static_cast<int>(rng() % 12); k < n; ++k)
      s += static_cast<char>(rng() % 3 ? bytes[rng() % sizeof bytes] : rng() % 256);
    json_writer w;
    w.begin_object().field("s", s).end_object();
    json parsed;
    REQUIRE_NOTHROW(parsed = json::parse(w.str()));
    // And it is what nlohmann's replacing dump gives, invalid sequences included (one U+FFFD for each).
    REQUIRE(w.str() == dump(json{{"s", s}}));
  }
}
