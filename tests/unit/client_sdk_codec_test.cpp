// The SDK's pure parts: framing, error codes, result<T>, shard routing (docs/protocol.md).
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "bento/client/errors.hpp"
#include "client/sdk/dial.hpp"
#include "client/sdk/frame_codec.hpp"
#include "client/sdk/router.hpp"
#include "client/sdk/shard_key.hpp"
#include "client/sdk/utf8.hpp"

namespace bc = bento::client;
namespace cd = bento::client::detail;

namespace {

std::string framed(const std::string& body) {
  std::string out;
  cd::append_frame(out, body);
  return out;
}

} // namespace

TEST_CASE("client frames: a 4-byte big-endian length, then the body", "[unit][client_sdk]") {
  auto f = framed(std::string(300, 'x'));
  REQUIRE(f.size() == 304);
  CHECK(static_cast<unsigned char>(f[0]) == 0);
  CHECK(static_cast<unsigned char>(f[1]) == 0);
  CHECK(static_cast<unsigned char>(f[2]) == 1);
  CHECK(static_cast<unsigned char>(f[3]) == 44);
}

TEST_CASE("client frames: any split of the stream gives the same frames", "[unit][client_sdk]") {
  std::string stream = framed("one") + framed(std::string(70000, 'b')) + framed("three");
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{4}, size_t{5}, size_t{4096}, stream.size()}) {
    cd::frame_decoder d;
    std::vector<std::string> got;
    std::string body;
    for (size_t at = 0; at < stream.size(); at += chunk) {
      d.feed(stream.data() + at, std::min(chunk, stream.size() - at));
      for (;;) {
        auto s = d.next(body);
        if (s == cd::frame_decoder::status::need_more)
          break;
        REQUIRE(s == cd::frame_decoder::status::frame);
        got.push_back(body);
      }
    }
    INFO("chunk " << chunk);
    REQUIRE(got.size() == 3);
    CHECK(got[0] == "one");
    CHECK(got[1] == std::string(70000, 'b'));
    CHECK(got[2] == "three");
    CHECK(d.buffered() == 0);
  }
}

TEST_CASE("client frames: a length over the limit is refused before its body arrives", "[unit][client_sdk]") {
  cd::frame_decoder d(4096);
  std::string body;
  auto big = framed(std::string(4097, 'x'));
  d.feed(big.data(), 4); // the prefix alone
  CHECK(d.next(body) == cd::frame_decoder::status::too_large);
  d.feed(big.data() + 4, big.size() - 4); // ignored: the stream is broken for good
  CHECK(d.next(body) == cd::frame_decoder::status::too_large);
  CHECK(d.buffered() == 4);

  cd::frame_decoder exact(4096);
  auto fits = framed(std::string(4096, 'y'));
  exact.feed(fits.data(), fits.size());
  CHECK(exact.next(body) == cd::frame_decoder::status::frame);
  CHECK(body.size() == 4096);
}

TEST_CASE("client frames: a zero length is a broken stream; the limit can change after the Welcome",
          "[unit][client_sdk]") {
  cd::frame_decoder d;
  std::string body;
  const char zero[4] = {0, 0, 0, 0};
  d.feed(zero, 4);
  CHECK(d.next(body) == cd::frame_decoder::status::empty_frame);

  cd::frame_decoder limited;
  CHECK(limited.limit() == cd::max_frame_limit);
  limited.set_limit(8);
  auto f = framed("123456789");
  limited.feed(f.data(), f.size());
  CHECK(limited.next(body) == cd::frame_decoder::status::too_large);
}

TEST_CASE("client errors: every code maps to its wire string and back", "[unit][client_sdk]") {
  const std::vector<std::pair<bc::errc, std::string>> codes = {
    {bc::errc::invalid_argument, "invalid_argument"}, {bc::errc::unauthorized, "unauthorized"},
    {bc::errc::forbidden, "forbidden"}, {bc::errc::not_found, "not_found"},
    {bc::errc::already_exists, "already_exists"}, {bc::errc::out_of_stock, "out_of_stock"},
    {bc::errc::meal_unavailable, "meal_unavailable"}, {bc::errc::invalid_transition, "invalid_transition"},
    {bc::errc::idempotency_key_reused, "idempotency_key_reused"},
    {bc::errc::precondition_failed, "precondition_failed"}, {bc::errc::superseded, "superseded"},
    {bc::errc::too_many_requests, "too_many_requests"}, {bc::errc::overloaded, "overloaded"},
    {bc::errc::unavailable, "unavailable"}, {bc::errc::storage_failure, "storage_failure"},
    {bc::errc::outcome_unknown, "outcome_unknown"}, {bc::errc::not_leader, "not_leader"},
    {bc::errc::unknown_method, "unknown_method"}, {bc::errc::protocol_error, "protocol_error"},
    {bc::errc::frame_too_large, "frame_too_large"}, {bc::errc::unsupported_version, "unsupported_version"},
    {bc::errc::idle_timeout, "idle_timeout"}, {bc::errc::slow_client, "slow_client"},
    {bc::errc::too_many_connections, "too_many_connections"}, {bc::errc::shutting_down, "shutting_down"},
    {bc::errc::unreachable, "unreachable"}, {bc::errc::timeout, "timeout"}, {bc::errc::cancelled, "cancelled"},
  };
  std::set<std::string> seen;
  for (auto& [code, text] : codes) {
    CHECK(bc::to_string(code) == text);
    CHECK(bc::errc_from_string(text) == code);
    CHECK(seen.insert(text).second);
  }
  CHECK(codes.size() == static_cast<size_t>(bc::errc::unknown));
  CHECK(bc::errc_from_string("a_code_from_the_future") == bc::errc::unknown);
  CHECK(bc::errc_from_string("") == bc::errc::unknown);
  CHECK(bc::to_string(bc::errc::unknown) == "unknown");
}

TEST_CASE("client errors: result<T> holds a value or an error", "[unit][client_sdk]") {
  bc::result<int> ok(7);
  REQUIRE(ok.has_value());
  CHECK(*ok == 7);
  bc::result<std::string> text(std::string("abc"));
  CHECK(text->size() == 3);

  bc::error e = bc::make_error(bc::errc::out_of_stock, "not enough katsu");
  e.item_id = "katsu";
  bc::result<int> bad(e);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == bc::errc::out_of_stock);
  CHECK(bad.error().code_text == "out_of_stock");
  CHECK(bc::describe(bad.error()) == "out_of_stock: not enough katsu (item katsu)");
  CHECK_THROWS_AS(bad.value(), bc::bad_result_access);

  bc::result<void> done;
  CHECK(done.has_value());
  bc::result<void> failed(bc::make_error(bc::errc::timeout, "slow"));
  CHECK_FALSE(failed);
  CHECK(failed.error().code == bc::errc::timeout);
}

TEST_CASE("client routing: shard_of is the node's FNV-1a 64 modulo the count", "[unit][client_sdk]") {
  // Computed by protocol/domain/shards.cpp (bento::domain::shard_of) for counts 1, 3, 64 and 4096.
  struct known {
    std::string key;
    uint32_t s1, s3, s64, s4096;
  };
  const std::vector<known> keys = {
    {"", 0, 2, 37, 805},
    {"user/carl", 0, 2, 41, 1001},
    {"user/mia", 0, 1, 60, 2876},
    {"restaurant/r_01", 0, 1, 47, 3823},
    {"order/o_42", 0, 2, 20, 2388},
    {"restaurant/Mia's Bento", 0, 0, 10, 2762},
    {"user/\xc3\xa9t\xc3\xa9", 0, 0, 13, 3661},
  };
  for (auto& k : keys) {
    INFO(k.key);
    CHECK(cd::shard_of(k.key, 1) == k.s1);
    CHECK(cd::shard_of(k.key, 3) == k.s3);
    CHECK(cd::shard_of(k.key, 64) == k.s64);
    CHECK(cd::shard_of(k.key, 4096) == k.s4096);
    CHECK(cd::shard_of(k.key, 0) == 0);
  }
  CHECK(cd::user_key("carl") == "user/carl");
  CHECK(cd::restaurant_key("r_01") == "restaurant/r_01");
  CHECK(cd::order_key("o_42") == "order/o_42");
}

TEST_CASE("client routing: keyed requests go to the shard's leader, others round the nodes", "[unit][client_sdk]") {
  cd::router r({"a:1", "b:2"}, true);
  auto none = std::set<std::string>{};
  CHECK_FALSE(r.pick("order/o_42", none, none, true).direct); // no map yet: any node, undirected

  bc::shard_map m;
  m.epoch = 5;
  m.shards = 3;
  m.leaders = {"a:1", "", "c:3"}; // order/o_42 is in shard 2, user/mia in shard 1
  m.nodes = {"a:1", "b:2", "c:3"};
  REQUIRE(r.adopt(m));
  auto to = r.pick("order/o_42", none, none, true);
  CHECK(to.address == "c:3");
  CHECK(to.direct);
  CHECK_FALSE(r.pick("user/mia", none, none, true).direct); // no leader known for shard 1
  CHECK_FALSE(r.pick("order/o_42", none, none, false).direct);
  CHECK_FALSE(r.pick("order/o_42", {"c:3"}, none, true).direct);

  m.epoch = 4; // older: ignored
  m.leaders = {"", "", "a:1"};
  CHECK_FALSE(r.adopt(m));
  CHECK(r.pick("order/o_42", none, none, true).address == "c:3");

  CHECK(r.note_leader("order/o_42", "b:2")); // a node's hint
  CHECK(r.pick("order/o_42", none, none, true).address == "b:2");
  CHECK_FALSE(r.note_leader("order/o_42", "b:2"));

  std::set<std::string> spread;
  for (int i = 0; i < 6; ++i)
    spread.insert(r.pick({}, none, none, true).address);
  CHECK(spread == std::set<std::string>{"a:1", "b:2", "c:3"});
  CHECK(r.pick({}, {"a:1", "b:2", "c:3"}, none, true).address.empty());
  CHECK(r.pick({}, {"a:1", "b:2"}, {"c:3"}, true).address == "c:3"); // disfavoured is better than nothing

  r.node_failed("a:1"); // skipped for a while, unless nothing else is left
  for (int i = 0; i < 4; ++i)
    CHECK(r.pick({}, none, none, true).address != "a:1");
  CHECK(r.pick({}, {"b:2", "c:3"}, none, true).address == "a:1");
}

TEST_CASE("client routing: addresses split into host and port", "[unit][client_sdk]") {
  cd::host_port hp;
  REQUIRE(cd::split_host_port("127.0.0.1:7410", hp));
  CHECK(hp.host == "127.0.0.1");
  CHECK(hp.port == "7410");
  REQUIRE(cd::split_host_port("[::1]:7410", hp));
  CHECK(hp.host == "::1");
  CHECK(hp.port == "7410");
  REQUIRE(cd::split_host_port("node-3.internal:1", hp));
  CHECK(hp.host == "node-3.internal");
  CHECK_FALSE(cd::split_host_port("no-port", hp));
  CHECK_FALSE(cd::split_host_port(":7410", hp));
  CHECK_FALSE(cd::split_host_port("[::1]7410", hp));
}

TEST_CASE("client strings: what goes in the frame itself must be UTF-8", "[unit][client_sdk]") {
  CHECK(cd::valid_utf8(""));
  CHECK(cd::valid_utf8("restaurant/r_01"));
  CHECK(cd::valid_utf8("caf\xc3\xa9 \xe4\xbe\xbf\xe7\x95\xb6 \xf0\x9f\x8d\xb1")); // café 便當 🍱
  CHECK_FALSE(cd::valid_utf8("\xff"));
  CHECK_FALSE(cd::valid_utf8("caf\xc3"));              // cut short
  CHECK_FALSE(cd::valid_utf8("\xc0\xaf"));             // overlong '/'
  CHECK_FALSE(cd::valid_utf8("\xed\xa0\x80"));         // a surrogate
  CHECK_FALSE(cd::valid_utf8("\xf4\x90\x80\x80"));     // past U+10FFFF
  CHECK_FALSE(cd::valid_utf8("a\x80z"));               // a lone continuation byte

  CHECK(cd::utf8_prefix("short", 64, "x") == "short");
  CHECK(cd::utf8_prefix("ab\xc3\xa9", 3, "x") == "ab"); // never half of é
  CHECK(cd::utf8_prefix("ab\xc3\xa9", 4, "x") == "ab\xc3\xa9");
  CHECK(cd::utf8_prefix("\xff", 64, "fallback") == "fallback");
}
