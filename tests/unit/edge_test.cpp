// The HTTP edge's readers and guards as plain C++: request framing and limits, strict query text, client
// addresses behind proxies, the login guard and the password gate's fair shares.
#include <catch2/catch.hpp>

#include <string>

#include <boost/beast/http.hpp>

#include "actors/crypto/password_hasher.hpp"
#include "actors/user/login_guard.hpp"
#include "node/auth/throttles.hpp"
#include "node/http/client_address.hpp"
#include "node/http/query_text.hpp"
#include "node/http/request_reader.hpp"
#include "node/http/response_head.hpp"
#include "node/node_config.hpp"

using namespace bento;
using node::read_result;

namespace {

read_result read_all(node::request_reader& r, const std::string& bytes) {
  return r.feed(bytes);
}

/// Parses head + body as a client would (Beast's response parser): what it read, or why it failed.
struct parsed_response {
  bool ok = false;
  std::string error;
  boost::beast::http::response<boost::beast::http::string_body> msg;
  bool keep_alive = false;
};

parsed_response parse_response(const std::string& bytes, bool head_only_status = false) {
  namespace http = boost::beast::http;
  parsed_response out;
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  if (head_only_status)
    parser.skip(true);
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(bytes), ec);
  if (!ec && !parser.is_done())
    parser.put_eof(ec);
  if (ec) {
    out.error = ec.message();
    return out;
  }
  out.ok = parser.is_done() && used == bytes.size();
  out.msg = parser.release();
  out.keep_alive = out.msg.keep_alive();
  return out;
}

} // namespace

TEST_CASE("response head: what a client parses back is what was meant, keep-alive by version", "[unit]") {
  node::http_response resp;
  resp.status = 429;
  resp.body = R"({"error":"too_many_requests","message":"slow down"})";
  resp.headers = {{"Retry-After", "2"}, {"X-Request-Id", "17"}};
  std::string head;
  for (unsigned minor : {0u, 1u})
    for (bool keep : {false, true}) {
      node::write_response_head(head, resp, minor, keep, resp.body.size());
      auto r = parse_response(head + resp.body);
      INFO(head);
      REQUIRE(r.ok);
      CHECK(r.msg.result_int() == 429);
      CHECK(r.msg.version() == (minor == 0 ? 10 : 11));
      CHECK(r.msg.reason() == "Too Many Requests");
      CHECK(r.msg.body() == resp.body);
      CHECK(r.msg[boost::beast::http::field::content_type] == "application/json");
      CHECK(r.msg["Retry-After"] == "2");
      CHECK(r.msg["X-Request-Id"] == "17");
      CHECK(r.msg["Server"] == "bento");
      CHECK(r.keep_alive == keep);
    }
  // The buffer is reused: a shorter head replaces a longer one entirely.
  node::http_response small;
  node::write_response_head(head, small, 1, true, 0);
  CHECK(head == "HTTP/1.1 200 OK\r\nServer: bento\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("response head: no body length for 204, and no field can split the response", "[unit]") {
  node::http_response none;
  none.status = 204;
  std::string head;
  node::write_response_head(head, none, 1, true, 0);
  CHECK(head.find("Content-Length") == std::string::npos);
  CHECK_FALSE(node::status_has_body(204));
  CHECK_FALSE(node::status_has_body(304));
  CHECK(node::status_has_body(200));
  auto r = parse_response(head);
  REQUIRE(r.ok);
  CHECK(r.msg.result_int() == 204);

  node::http_response hostile;
  hostile.status = 200;
  hostile.body = "{}";
  hostile.headers = {{"ETag", "\"1\"\r\nSet-Cookie: a=b"}, {"X\nY", "1"}, {"A:B", "1"}, {"", "1"},
                     {"Location", std::string("/x\0y", 4)}, {"Allow", "GET, PUT"}};
  hostile.content_type = "text/plain\r\nX-Evil: 1";
  node::write_response_head(head, hostile, 1, true, hostile.body.size());
  INFO(head);
  auto h = parse_response(head + hostile.body);
  REQUIRE(h.ok);
  CHECK(h.msg["Set-Cookie"].empty());
  CHECK(h.msg["X-Evil"].empty());
  CHECK(h.msg["ETag"].empty());
  CHECK(h.msg["Location"].empty());
  CHECK(h.msg["Allow"] == "GET, PUT");
  CHECK(h.msg.body() == "{}");
  CHECK(h.msg[boost::beast::http::field::content_type].empty());
  // Server and Content-Length, and the one safe field given: nothing else.
  CHECK(std::distance(h.msg.begin(), h.msg.end()) == 3);
}

TEST_CASE("request reader: a trailer field of 64 KiB fails the request, not the process", "[unit]") {
  node::request_reader r;
  auto res = read_all(r, "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: "
                           + std::string(65534, 'a') + "\r\n\r\n");
  CHECK(res.what == read_result::kind::failed);
  CHECK(res.status == 400);
}

TEST_CASE("request reader: a chunk extension cannot grow the buffer", "[unit]") {
  node::request_reader r;
  auto res = read_all(r, "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;x="
                           + std::string(1 << 20, 'a'));
  CHECK(res.what == read_result::kind::failed);
  CHECK(res.status == 400);
  CHECK(r.buffered() <= (24u << 10) + (8u << 10));
}

TEST_CASE("request reader: bytes per request are capped, framing included", "[unit]") {
  node::read_limits limits;
  limits.max_body_bytes = 1000;
  node::request_reader r(limits);
  std::string body = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  // One-byte chunks with long extensions: 1000 bytes of body would take ~200 KiB on the wire.
  for (int i = 0; i < 1000; ++i)
    body += "1;e=" + std::string(200, 'e') + "\r\nx\r\n";
  auto res = read_all(r, body);
  CHECK(res.what == read_result::kind::failed);
  CHECK(res.status == 413);
}

TEST_CASE("request reader: only a lone, exact chunked is a transfer encoding", "[unit]") {
  auto status_of = [](const std::string& headers) {
    node::request_reader r;
    auto res = r.feed("POST /x HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n5\r\nhello\r\n0\r\n\r\n");
    return res.what == read_result::kind::failed ? res.status : 0;
  };
  CHECK(status_of("Transfer-Encoding: chunked, gzip\r\n") == 400);
  CHECK(status_of("Transfer-Encoding: gzip, chunked\r\n") == 400);
  CHECK(status_of("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n") == 400);
  CHECK(status_of("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n") == 400);
  CHECK(status_of("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") == 400);
  CHECK(status_of("Transfer-Encoding:  CHUNKED \r\n") == 0);
  CHECK(status_of("Authorization: a\r\nAuthorization: b\r\nTransfer-Encoding: chunked\r\n") == 400);
  node::request_reader r;
  auto res = r.feed("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  REQUIRE(res.what == read_result::kind::done);
  CHECK(r.take("1.2.3.4").body == "hello");
}

TEST_CASE("request reader: pipelined requests are read one at a time, headers bounded", "[unit]") {
  node::request_reader r;
  auto res = r.feed("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b?c=d HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(res.what == read_result::kind::done);
  CHECK(r.take("p").path == "/a");
  r.start();
  REQUIRE(r.parse_buffered().what == read_result::kind::done);
  auto second = r.take("p");
  CHECK(second.path == "/b");
  CHECK(second.raw_query == "c=d");
  r.start();
  CHECK(r.parse_buffered().what == read_result::kind::need_more);
  CHECK(r.request_bytes() == 0);
  auto big = r.feed("GET / HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n");
  CHECK(big.what == read_result::kind::failed);
  CHECK(big.status == 431);
}

TEST_CASE("query text: numbers and values are parsed strictly", "[unit]") {
  CHECK(node::parse_decimal("5", 500) == 5u);
  CHECK(node::parse_decimal("500", 500) == 500u);
  CHECK_FALSE(node::parse_decimal("501", 500));
  CHECK_FALSE(node::parse_decimal("+5", 500));
  CHECK_FALSE(node::parse_decimal(" 100", 500));
  CHECK_FALSE(node::parse_decimal("-1", 500));
  CHECK_FALSE(node::parse_decimal("0x10", 500));
  CHECK_FALSE(node::parse_decimal(std::string("100\0", 4), 500));
  CHECK_FALSE(node::parse_decimal("99999999999999999999", 500));
  std::map<std::string, std::string> q;
  REQUIRE(node::parse_query("limit=5&place=new+taipei&tag=%E9%AD%9A", q));
  CHECK(q["place"] == "new taipei");
  std::map<std::string, std::string> bad;
  CHECK_FALSE(node::parse_query("limit=100%00", bad));
  CHECK_FALSE(node::parse_query("q=a%0Ab", bad));
  CHECK_FALSE(node::parse_query("q=%7F", bad));
  CHECK_FALSE(node::parse_query("q=%ff", bad)); // not UTF-8
  CHECK_FALSE(node::parse_query("q=%4", bad));
  CHECK_FALSE(node::parse_query("limit=1&limit=2", bad));
  CHECK(node::json_depth_within(R"({"a":[{"b":"[[[[["}]})", 3));
  CHECK_FALSE(node::json_depth_within(std::string(33, '['), 32));
}

TEST_CASE("client address: X-Forwarded-For only from trusted proxies", "[unit]") {
  auto proxies = node::trusted_proxies::parse("10.0.0.0/8, 192.0.2.7 ,fd00::/8");
  REQUIRE(proxies);
  CHECK(proxies->contains("10.1.2.3"));
  CHECK(proxies->contains("::ffff:10.1.2.3"));
  CHECK(proxies->contains("fd12::1"));
  CHECK_FALSE(proxies->contains("192.0.2.8"));
  // An untrusted peer's header is ignored.
  CHECK(proxies->client_address("203.0.113.5", "1.1.1.1") == "203.0.113.5");
  // Rightmost address that is not a proxy.
  CHECK(proxies->client_address("10.0.0.1", "1.1.1.1, 198.51.100.9, 10.0.0.2") == "198.51.100.9");
  CHECK(proxies->client_address("10.0.0.1", " 2001:db8::1 ") == "2001:db8::1");
  // Malformed entries are never taken for a client.
  CHECK(proxies->client_address("10.0.0.1", "1.1.1.1, not-an-ip") == "10.0.0.1");
  CHECK(proxies->client_address("10.0.0.1", "1.1.1.1:80") == "10.0.0.1");
  CHECK(proxies->client_address("10.0.0.1", "") == "10.0.0.1");
  CHECK_FALSE(node::trusted_proxies::parse("10.0.0.0/33"));
  CHECK_FALSE(node::trusted_proxies::parse("example.com"));
  CHECK_FALSE(node::trusted_proxies::parse("10.0.0.1/"));
  CHECK(node::trusted_proxies::parse("")->empty());
  CHECK(node::address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");
  CHECK(node::address_key("::ffff:1.2.3.4") == "1.2.3.4");
  CHECK(node::address_key("1.2.3.4") == "1.2.3.4");
}

TEST_CASE("config: connection share, trusted proxies and metrics token", "[unit]") {
  auto env = [](std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  };
  auto dflt = node::load_config(env({{"BENTO_MAX_CONNECTIONS", "500"}}));
  REQUIRE(dflt);
  CHECK(dflt->max_connections_per_address == 50);
  CHECK_FALSE(node::load_config(env({{"BENTO_TRUSTED_PROXIES", "10.0.0.0/8,bogus"}})));
  CHECK_FALSE(node::load_config(env({{"BENTO_METRICS_TOKEN", "short"}})));
  CHECK_FALSE(node::load_config(env({{"BENTO_MAX_CONNECTIONS_PER_ADDRESS", "0"}})));
  auto ok = node::load_config(env({{"BENTO_TRUSTED_PROXIES", "::1"}, {"BENTO_METRICS_TOKEN", "0123456789abcdef"}}));
  REQUIRE(ok);
  CHECK(ok->metrics_token == "0123456789abcdef");
}

TEST_CASE("login guard: a success does not wipe its address's other failures", "[unit]") {
  actors::login_guard_policy policy;
  policy.address_free_failures = 20;
  actors::local_login_guard guard(policy);
  int64_t now = 1'000'000;
  int attempts = 0;
  // 19 failures over many names, one good login, repeat: the address must be stopped within the rounds.
  for (int round = 0; round < 4 && guard.retry_after_ms("x", "1.2.3.4", now) == 0; ++round) {
    for (int i = 0; i < 19 && guard.retry_after_ms("x", "1.2.3.4", now) == 0; ++i, ++attempts)
      guard.record_failure("user" + std::to_string(i), "1.2.3.4", now);
    guard.record_success("attacker", "1.2.3.4", now);
  }
  CHECK(guard.retry_after_ms("anyone", "1.2.3.4", now) > 0);
  CHECK(attempts <= 21);
  CHECK(guard.retry_after_ms("anyone", "5.6.7.8", now) == 0); // other addresses are not affected
}

TEST_CASE("login guard: a known username cannot be locked out from another address", "[unit]") {
  actors::local_login_guard guard;
  int64_t now = 1'000'000;
  for (int i = 0; i < 12; ++i)
    guard.record_failure("carl", "6.6.6.6", now);
  CHECK(guard.retry_after_ms("carl", "6.6.6.6", now) > 0);
  CHECK(guard.retry_after_ms("carl", "1.2.3.4", now) == 0); // the owner, elsewhere
  // Five free failures per (name, address), then lockouts that double; the same for any name.
  for (int i = 0; i < 5; ++i)
    guard.record_failure("nobody-has-this-name", "7.7.7.7", now);
  auto unknown = guard.retry_after_ms("nobody-has-this-name", "7.7.7.7", now);
  for (int i = 0; i < 5; ++i)
    guard.record_failure("carl", "8.8.8.8", now);
  CHECK(unknown == guard.retry_after_ms("carl", "8.8.8.8", now));
  CHECK(unknown == 1000);
  guard.record_success("carl", "8.8.8.8", now);
  CHECK(guard.retry_after_ms("carl", "8.8.8.8", now) == 0);
}

TEST_CASE("login guard: memory is bounded and stale entries are swept", "[unit]") {
  actors::login_guard_policy policy;
  policy.max_entries = 100;
  actors::local_login_guard guard(policy);
  for (int i = 0; i < 10000; ++i)
    guard.record_failure("u" + std::to_string(i), "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256),
                         1000);
  CHECK(guard.size() <= 200);
  guard.record_failure("x", "1.1.1.1", 1000 + policy.forget_after_ms + 120'000);
  CHECK(guard.size() <= 2);
}

TEST_CASE("password gate: each address and each username gets a bounded share", "[unit]") {
  actors::hash_gate gate;
  gate.limit = 16;
  gate.per_address_limit = 2;
  gate.per_user_limit = 3;
  using adm = actors::hash_gate::admission;
  CHECK(gate.try_enter("a", "u1") == adm::admitted);
  CHECK(gate.try_enter("a", "u2") == adm::admitted);
  CHECK(gate.try_enter("a", "u3") == adm::address_busy); // one address, many accounts
  CHECK(gate.try_enter("b", "u1") == adm::admitted);     // everyone else still gets in
  CHECK(gate.try_enter("c", "u1") == adm::admitted);
  CHECK(gate.try_enter("d", "u1") == adm::user_busy);    // a crowd on one account
  CHECK(gate.in_flight() == 4);
  gate.leave("a", "u1");
  CHECK(gate.try_enter("a", "u3") == adm::admitted);
  for (int i = 0; i < 20; ++i)
    (void)gate.try_enter("addr" + std::to_string(i), "name" + std::to_string(i));
  CHECK(gate.in_flight() == 16);
  CHECK(gate.try_enter("z", "z") == adm::overloaded);
}

TEST_CASE("rate limiter: many addresses cannot grow its table without bound", "[unit]") {
  node::rate_limiter limiter(5, 1000);
  for (int i = 0; i < 5000; ++i)
    (void)limiter.acquire("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), 0);
  CHECK(limiter.acquire("192.0.2.1", 0) > 0);    // table full of addresses active this second
  CHECK(limiter.acquire("192.0.2.1", 2000) == 0); // a second later the idle ones are swept
}
