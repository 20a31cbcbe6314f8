// Issue 5's attacks on the HTTP edge, against the real bento-node over real sockets: each answered with a
// 4xx and bounded memory, never a crash, and one client never locks the others out. Raw sockets send what an
// HTTP client would not; other client addresses are other loopback addresses (127.0.0.2, ...) or, behind a
// trusted proxy, X-Forwarded-For.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "tests/support/api_session.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento::test;
using namespace std::chrono_literals;

namespace {

/// A TCP connection to the node from a chosen loopback address (a different client as far as the node sees).
int connect_from(const char* source, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source, &local.sin_addr);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

void send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    sent += static_cast<size_t>(n);
  }
}

/// Reads until one complete response (headers + Content-Length body; headers alone without one, as a 204)
/// arrived, the peer closed, or timeout.
std::string read_response(int fd, int timeout_ms = 5000) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    auto end = out.find("\r\n\r\n");
    if (end != std::string::npos) {
      auto cl = out.find("Content-Length: ");
      if (cl == std::string::npos || cl > end)
        return out;
      auto len = std::stoul(out.substr(cl + 16));
      if (out.size() >= end + 4 + len)
        return out;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0)
      continue;
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

/// True when the peer closed the connection within the timeout.
bool closed_by_peer(int fd, int timeout_ms = 5000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[256];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0)
      continue;
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      return true;
  }
  return false;
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
    ++n;
  return n;
}

std::string login_body(const std::string& user, const std::string& password) {
  return json{{"username", user}, {"password", password}}.dump();
}

} // namespace

TEST_CASE("edge: a chunked trailer field of 64 KiB ends its connection, not the node", "[integration]") {
  running_node n;
  auto answer = raw_http(n.node.port(), "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: "
                                          + std::string(65534, 'a') + "\r\n\r\n");
  CHECK(answer.rfind("HTTP/1.1 400", 0) == 0);
  bento::client::http_client c(n.node.base_url(), 5s);
  CHECK(c.get("/healthz").status == 200);
}

TEST_CASE("edge: chunk extensions are bounded and memory stays flat", "[integration]") {
  running_node n;
  auto before = rss_kib(n.node.pid());
  std::vector<int> fds;
  for (int i = 0; i < 8; ++i) {
    int fd = connect_from("127.0.0.1", n.node.port());
    send_all(fd, "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;x="
                   + std::string(4 << 20, 'a'));
    fds.push_back(fd);
  }
  for (int fd : fds) {
    auto answer = read_response(fd);
    CHECK(answer.rfind("HTTP/1.1 400", 0) == 0);
  }
  auto after = rss_kib(n.node.pid());
  INFO("RSS before " << before << " KiB, after " << after << " KiB");
  CHECK(after - before < 16 * 1024); // 8 × 4 MiB buffered would be 32 MiB
  for (int fd : fds)
    ::close(fd);
}

TEST_CASE("edge: invented methods collapse into one metrics label", "[integration]") {
  running_node n;
  for (int i = 0; i < 50; ++i) {
    auto answer = raw_http(n.node.port(), "INVENTED" + std::to_string(i) + " /x HTTP/1.1\r\nHost: x\r\n"
                                            "Connection: close\r\n\r\n");
    CHECK(answer.rfind("HTTP/1.1 4", 0) == 0);
  }
  bento::client::http_client c(n.node.base_url(), 5s);
  auto metrics = c.get("/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("INVENTED") == std::string::npos);
  CHECK(metrics.body.find("method=\"OTHER\"") != std::string::npos);
}

TEST_CASE("edge: a transfer encoding other than chunked, or with Content-Length, is refused and closed",
          "[integration]") {
  running_node n;
  const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  for (auto te : {"chunked, gzip", "gzip", "chunked\r\nTransfer-Encoding: chunked", "identity"}) {
    INFO(te);
    auto answer = raw_http(n.node.port(), "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                                            + std::string(te) + "\r\n\r\n" + smuggled);
    CHECK(answer.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(count_of(answer, "HTTP/1.1 ") == 1); // the body was never run as a request
  }
  auto both = raw_http(n.node.port(), "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n"
                                        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled);
  CHECK(both.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(count_of(both, "HTTP/1.1 ") == 1);
}

TEST_CASE("edge: one address cannot hold every connection", "[integration]") {
  auto env = fast_node_env();
  env["BENTO_MAX_CONNECTIONS"] = "100";
  env["BENTO_MAX_CONNECTIONS_PER_ADDRESS"] = "10";
  running_node n(env);
  std::vector<int> mine;
  for (int i = 0; i < 10; ++i) {
    mine.push_back(connect_from("127.0.0.2", n.node.port()));
    send_all(mine.back(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(read_response(mine.back()).rfind("HTTP/1.1 200", 0) == 0); // accepted and now idle
  }
  int extra = connect_from("127.0.0.2", n.node.port());
  auto refused = read_response(extra);
  CHECK(refused.rfind("HTTP/1.1 429", 0) == 0);
  CHECK(refused.find("Retry-After: 1") != std::string::npos);
  CHECK(refused.find("\"error\":\"too_many_requests\"") != std::string::npos);
  int other = connect_from("127.0.0.3", n.node.port());
  send_all(other, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(read_response(other).rfind("HTTP/1.1 200", 0) == 0);
  for (int fd : mine)
    ::close(fd);
  ::close(extra);
  ::close(other);
}

TEST_CASE("edge: at the connection cap the longest-idle connection gives way to a new client", "[integration]") {
  auto env = fast_node_env();
  env["BENTO_MAX_CONNECTIONS"] = "20";
  env["BENTO_MAX_CONNECTIONS_PER_ADDRESS"] = "20";
  running_node n(env);
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) {
    idle.push_back(connect_from("127.0.0.2", n.node.port()));
    send_all(idle.back(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(read_response(idle.back()).rfind("HTTP/1.1 200", 0) == 0);
  }
  // The server marks a connection idle when it has written its answer, which may be a moment after the client
  // read it; a second round on all but the first makes the first clearly the one idle longest.
  for (size_t i = 1; i < idle.size(); ++i) {
    send_all(idle[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(read_response(idle[i]).rfind("HTTP/1.1 200", 0) == 0);
  }
  int newcomer = connect_from("127.0.0.3", n.node.port());
  send_all(newcomer, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(read_response(newcomer).rfind("HTTP/1.1 200", 0) == 0);
  CHECK(closed_by_peer(idle.front())); // the first to go idle was shed
  for (int fd : idle)
    ::close(fd);
  ::close(newcomer);
}

TEST_CASE("edge: strict numbers and query values", "[integration]") {
  running_node n;
  api_session carl(n.node.base_url());
  carl.sign_up("carl", "customer");
  CHECK(carl.call("GET", "/api/v1/orders?limit=5").status == 200);
  for (auto q : {"limit=+5", "limit=%20100", "limit=100%00", "limit=-1", "limit=0x10", "limit=1e2",
                 "status=placed%00", "cursor=%0D%0Ax", "limit=5&limit=6"}) {
    INFO(q);
    check_error(carl.call("GET", std::string("/api/v1/orders?") + q), 400, "invalid_argument");
  }
  check_error(carl.call("GET", "/api/v1/menu?place=tai%00pei"), 400, "invalid_argument");
}

TEST_CASE("edge: a successful login does not reset its address's failures", "[integration]") {
  running_node n;
  api_session mallory(n.node.base_url());
  mallory.register_user("mallory", "customer");
  bento::client::http_client c(n.node.base_url(), 10s);
  int failures = 0;
  bool throttled = false;
  for (int round = 0; round < 4 && !throttled; ++round) {
    for (int i = 0; i < 19 && !throttled; ++i) {
      auto r = c.post("/api/v1/sessions", login_body("victim" + std::to_string(i), "wrong password"));
      throttled = r.status == 429;
      failures += r.status == 401;
    }
    auto ok = c.post("/api/v1/sessions", login_body("mallory", "correct horse"));
    throttled = throttled || ok.status == 429;
  }
  INFO("failures before a 429: " << failures);
  CHECK(throttled);
  CHECK(failures <= 21);
}

TEST_CASE("edge: login lockouts outlive the user actor, look the same for unknown names, and spare the owner",
          "[integration]") {
  auto env = fast_node_env();
  env["BENTO_MAX_ACTIVE_ENTITIES"] = "100";
  env["BENTO_TRUSTED_PROXIES"] = "127.0.0.1";
  running_node n(env);
  api_session carl(n.node.base_url());
  carl.sign_up("carl", "customer");
  bento::client::http_client c(n.node.base_url(), 10s);
  auto from = [&](const std::string& address, const std::string& user, const std::string& password) {
    return c.request("POST", "/api/v1/sessions", login_body(user, password), {{"X-Forwarded-For", address}});
  };
  auto lock_out = [&](const std::string& user) {
    bento::client::http_result last;
    for (int i = 0; i < 8 && last.status != 429; ++i)
      last = from("198.51.100.66", user, "wrong password");
    return last;
  };
  auto known = lock_out("carl");
  auto unknown = lock_out("nobody-by-this-name");
  REQUIRE(known.status == 429);
  REQUIRE(unknown.status == 429);
  CHECK(known.headers["retry-after"] == unknown.headers["retry-after"]);
  // Evict every user actor: 150 cheap lookups of orders that do not exist, past a cap of 100 entities.
  for (int i = 0; i < 150; ++i)
    carl.call("GET", "/api/v1/orders/o_" + std::to_string(1000000 + i));
  // The count survived: once the first lockout ends, one more failure locks again at once (for longer), so
  // even the right password is refused right after it. A fresh count would have let it in.
  bento::client::http_result after;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((after = from("198.51.100.66", "carl", "wrong password")).status == 429
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms); // polling interval of a bounded wait (the first lockout is 1 s)
  REQUIRE(after.status == 401);
  CHECK(from("198.51.100.66", "carl", "correct horse").status == 429);
  // The owner, from elsewhere, is not locked out by whoever knows the name.
  CHECK(from("203.0.113.10", "carl", "correct horse").status == 201);
}

TEST_CASE("edge: behind a trusted proxy the client is the X-Forwarded-For address", "[integration]") {
  // One request a second per client: a second request right after the first is refused.
  auto env = fast_node_env();
  env["BENTO_RATE_LIMIT"] = "1";
  env["BENTO_TRUSTED_PROXIES"] = "127.0.0.1/32, ::1";
  running_node n(env);
  bento::client::http_client c(n.node.base_url(), 5s);
  auto get_as = [&](const std::string& xff) {
    return c.request("GET", "/healthz", {}, {{"X-Forwarded-For", xff}}).status;
  };
  CHECK(get_as("192.0.2.1, 198.51.100.1") == 200);
  CHECK(get_as("198.51.100.1") == 429);             // the same client: rightmost address
  CHECK(get_as("198.51.100.2") == 200);             // another client behind the same proxy
  CHECK(get_as("198.51.100.2, 127.0.0.1") == 429);  // proxies in the chain are skipped
  (void)get_as("not an address");                   // malformed: counted as the proxy itself, never trusted
  CHECK(get_as("198.51.100.3, garbage") == 429);    // ... which is the same client again
  // A node that trusts no proxy ignores the header: everyone is the peer.
  auto plain = fast_node_env();
  plain["BENTO_RATE_LIMIT"] = "1";
  running_node m(plain);
  bento::client::http_client d(m.node.base_url(), 5s);
  (void)d.request("GET", "/healthz", {}, {{"X-Forwarded-For", "10.9.9.1"}});
  CHECK(d.request("GET", "/healthz", {}, {{"X-Forwarded-For", "10.9.9.2"}}).status == 429);
}

TEST_CASE("edge: one address cycling through accounts leaves others a share of the password gate",
          "[integration]") {
  auto env = fast_node_env();
  env["BENTO_TRUSTED_PROXIES"] = "127.0.0.1";
  env["BENTO_HASH_WORKERS"] = "1"; // a gate of 32 in flight
  env["BENTO_ARGON2_MEM_KIB"] = "32768";
  env["BENTO_ARGON2_OPS"] = "2";   // slower hashes, so the attacker's logins pile up
  env["BENTO_REQUEST_TIMEOUT_MS"] = "60000";
  running_node n(env);
  const int accounts = 40;
  {
    api_session setup(n.node.base_url());
    for (int i = 0; i < accounts + 5; ++i) // the last five are other people's
      setup.register_user("acct" + std::to_string(i), "customer");
  }
  // The attacker logs in to its own accounts in a loop, all from one address (successes: no lockout).
  std::atomic<bool> stop{false};
  std::atomic<int> attacker_ok{0};
  std::vector<std::thread> attack;
  for (int i = 0; i < accounts; ++i)
    attack.emplace_back([&, i] {
      bento::client::http_client a(n.node.base_url(), 60s);
      auto deadline = std::chrono::steady_clock::now() + 30s; // bounded even if the test fails early
      while (!stop && std::chrono::steady_clock::now() < deadline)
        if (a.request("POST", "/api/v1/sessions", login_body("acct" + std::to_string(i), "correct horse"),
                      {{"X-Forwarded-For", "198.51.100.7"}}).status == 201)
          ++attacker_ok;
    });
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (attacker_ok < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms); // polling interval of a bounded wait
  int refused = 0;
  for (int i = 0; i < 5; ++i) {
    bento::client::http_client other(n.node.base_url(), 60s);
    auto r = other.request("POST", "/api/v1/sessions",
                           login_body("acct" + std::to_string(accounts + i), "correct horse"),
                           {{"X-Forwarded-For", "203.0.113." + std::to_string(i + 1)}});
    INFO(r.body);
    refused += r.status == 429;
    CHECK((r.status == 201 || r.status == 429));
  }
  stop = true;
  for (auto& t : attack)
    t.join();
  CHECK(attacker_ok > 0);
  CHECK(refused == 0); // other addresses were never turned away by a gate full of one address's work
}

TEST_CASE("edge: a crowd of logins to one account is refused fast instead of timing out", "[integration]") {
  auto env = fast_node_env();
  env["BENTO_ARGON2_MEM_KIB"] = "65536";
  env["BENTO_ARGON2_OPS"] = "2";
  env["BENTO_REQUEST_TIMEOUT_MS"] = "2000";
  running_node n(env);
  api_session carl(n.node.base_url());
  carl.register_user("carl", "customer");
  std::vector<std::future<int>> logins;
  for (int i = 0; i < 80; ++i)
    logins.push_back(std::async(std::launch::async, [&] {
      bento::client::http_client a(n.node.base_url(), 30s);
      return a.post("/api/v1/sessions", login_body("carl", "correct horse")).status;
    }));
  std::map<int, int> statuses;
  for (auto& f : logins)
    ++statuses[f.get()];
  INFO("201: " << statuses[201] << ", 429: " << statuses[429] << ", 504: " << statuses[504]);
  CHECK(statuses[504] == 0);
  CHECK(statuses[201] > 0);
  CHECK(statuses[201] + statuses[429] == 80);
}

TEST_CASE("edge: the data dir and the store are owner-only; an open existing dir is warned about",
          "[integration]") {
  {
    running_node n;
    struct stat st {};
    REQUIRE(::stat((n.dir / "data").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    int checked = 0;
    for (auto& e : std::filesystem::recursive_directory_iterator(n.dir / "data")) {
      REQUIRE(::stat(e.path().c_str(), &st) == 0);
      INFO(e.path());
      CHECK((st.st_mode & 077) == 0);
      ++checked;
    }
    CHECK(checked > 3);
  }
  temp_dir dir;
  std::filesystem::create_directories(dir / "open");
  ::chmod((dir / "open").c_str(), 0755);
  node_process node(dir / "open");
  node.start();
  CHECK(node.output().find("node.data_dir_permissive") != std::string::npos);
  CHECK(node.stop() == 0);
}

TEST_CASE("edge: metrics need the token when one is set; probes and metrics are rate limited",
          "[integration]") {
  auto env = fast_node_env();
  env["BENTO_METRICS_TOKEN"] = "metrics-token-0123456789";
  running_node n(env);
  bento::client::http_client c(n.node.base_url(), 5s);
  check_error(c.get("/metrics"), 401, "unauthenticated");
  check_error(c.request("GET", "/metrics", {}, {{"Authorization", "Bearer metrics-token-012345678"}}), 401,
              "unauthenticated");
  auto ok = c.request("GET", "/metrics", {}, {{"Authorization", "Bearer metrics-token-0123456789"}});
  CHECK(ok.status == 200);
  CHECK(ok.body.find("bento_http_requests_total") != std::string::npos);

  auto limited_env = fast_node_env();
  limited_env["BENTO_RATE_LIMIT"] = "1";
  running_node m(limited_env);
  bento::client::http_client d(m.node.base_url(), 5s);
  int limited = 0;
  for (int i = 0; i < 10; ++i)
    limited += d.get(i % 2 ? "/healthz" : "/metrics").status == 429;
  CHECK(limited > 0);
}

TEST_CASE("edge: responses keep or close the connection as the request's version and Connection say", "[integration]") {
  // The edge writes its response heads itself (node/http/response_head.cpp): what a client relies on to
  // reuse a connection, and a menu body many responses share, must come out whole on one connection.
  running_node n;
  api_session mia(n.node.base_url());
  mia.sign_up("mia", "merchant");
  auto rid = mia.create_restaurant("Mia's");
  REQUIRE(mia.call("PUT", "/api/v1/restaurants/" + rid + "/menu/items/tea",
                   {{"name", "Tea"}, {"price_cents", 100}, {"stock", 10}})
            .status == 201);
  auto menu_request = "GET /api/v1/restaurants/" + rid + "/menu HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      + mia.token + "\r\n\r\n";
  auto body_of_response = [](const std::string& r) { return r.substr(r.find("\r\n\r\n") + 4); };

  SECTION("HTTP/1.1 keeps it: the same shared menu three times over one socket, then Connection: close") {
    int fd = connect_from("127.0.0.1", n.node.port());
    std::string first;
    for (int i = 0; i < 3; ++i) {
      send_all(fd, menu_request);
      auto r = read_response(fd);
      INFO(r);
      REQUIRE(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
      CHECK(r.find("Connection:") == std::string::npos);
      auto body = body_of_response(r);
      CHECK(json::parse(body)["items"][0]["name"] == "Tea");
      if (i == 0)
        first = body;
      CHECK(body == first);
    }
    send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto r = read_response(fd);
    CHECK(r.find("\r\nConnection: close\r\n") != std::string::npos);
    CHECK(body_of_response(r) == R"({"status":"ok"})");
    CHECK(closed_by_peer(fd));
    ::close(fd);
  }
  SECTION("HTTP/1.0 closes it unless asked to keep it") {
    int fd = connect_from("127.0.0.1", n.node.port());
    send_all(fd, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto kept = read_response(fd);
    INFO(kept);
    REQUIRE(kept.rfind("HTTP/1.0 200 OK\r\n", 0) == 0);
    CHECK(kept.find("\r\nConnection: keep-alive\r\n") != std::string::npos);
    send_all(fd, "GET /healthz HTTP/1.0\r\n\r\n");
    auto closing = read_response(fd);
    REQUIRE(closing.rfind("HTTP/1.0 200 OK\r\n", 0) == 0);
    CHECK(closing.find("Connection:") == std::string::npos);
    CHECK(closed_by_peer(fd));
    ::close(fd);
  }
  SECTION("a 204 carries no body and the connection goes on") {
    int fd = connect_from("127.0.0.1", n.node.port());
    send_all(fd, "DELETE /api/v1/restaurants/" + rid + "/menu/items/tea HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                   + mia.token + "\r\n\r\n");
    auto r = read_response(fd);
    INFO(r);
    REQUIRE(r.rfind("HTTP/1.1 204 No Content\r\n", 0) == 0);
    CHECK(r.find("Content-Length") == std::string::npos);
    CHECK(r.size() == r.find("\r\n\r\n") + 4);
    send_all(fd, menu_request);
    auto next = read_response(fd);
    REQUIRE(next.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(json::parse(body_of_response(next))["items"].empty());
    ::close(fd);
  }
}

TEST_CASE("edge: an idle keep-alive connection holds no copy of its last response", "[integration]") {
  // Each connection writes its response from a buffer of its own; one that kept it while idle would let 400
  // clients that read the 30 KB OpenAPI document once hold 12 MB between them, and the cap's worth of
  // connections hundreds of megabytes.
  running_node n;
  constexpr int connections = 400;
  std::vector<int> fds;
  auto before = rss_kib(n.node.pid());
  for (int i = 0; i < connections; ++i) {
    int fd = connect_from("127.0.0.1", n.node.port());
    send_all(fd, "GET /api/v1/openapi.yaml HTTP/1.1\r\nHost: x\r\n\r\n");
    auto answer = read_response(fd);
    REQUIRE(answer.rfind("HTTP/1.1 200", 0) == 0);
    REQUIRE(answer.size() > 20000);
    fds.push_back(fd); // kept open: idle, waiting for its next request
  }
  auto after = rss_kib(n.node.pid());
  INFO("RSS before " << before << " KiB, after " << after << " KiB, " << connections << " idle connections");
  CHECK(after - before < 6 * 1024);
  for (int fd : fds)
    ::close(fd);
}
