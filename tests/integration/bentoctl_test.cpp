// bentoctl, the real binary, against a real node: the whole customer/merchant flow, --json with the HTTP API's
// field names (compared with what HTTP answers), the saved token's place and mode, and the exit codes.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/support/api_session.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento::test;
using json = nlohmann::json;

namespace {

struct run_result {
  int code = -1;
  std::string out, err;
};

std::string shell_quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Runs bentoctl with `args` and a private config home; stdin is empty (no terminal: no prompt). Runs may go
/// on in parallel (from several threads: no Catch2 assertions inside).
class bentoctl {
public:
  bentoctl(std::string addr, std::string home) : addr_(std::move(addr)), home_(std::move(home)) {}

  run_result operator()(const std::vector<std::string>& args, const std::string& extra_env = {}) const {
    static std::atomic<int> runs{0};
    auto bin = node_binary();
    bin = bin.substr(0, bin.rfind('/')) + "/bentoctl";
    std::string cmd = "env -u BENTO_TOKEN -u BENTO_ADDR -u BENTO_PASSWORD XDG_CONFIG_HOME=" + shell_quoted(home_) +
                      " " + extra_env + " " + shell_quoted(bin) + " --addr " + shell_quoted(addr_);
    for (auto& a : args)
      cmd += " " + shell_quoted(a);
    auto err_path = home_ + "/stderr." + std::to_string(++runs);
    cmd += " </dev/null 2>" + shell_quoted(err_path);
    run_result r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p)
      return r; // code -1
    std::array<char, 4096> buf{};
    size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
      r.out.append(buf.data(), n);
    int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = slurp(err_path);
    ::unlink(err_path.c_str());
    return r;
  }

  json ok_json(const std::vector<std::string>& args) const {
    auto all = args;
    all.push_back("--json");
    auto r = (*this)(all);
    INFO(r.err << r.out);
    REQUIRE(r.code == 0);
    auto j = json::parse(r.out, nullptr, false);
    REQUIRE(!j.is_discarded());
    return j;
  }

private:
  std::string addr_, home_;
};

/// A stand-in for a node's client port that accepts connections and then says nothing: with `welcome`, it
/// answers the Hello with a Welcome first (a node that stopped after the handshake: requests are sent and
/// never answered), else not even that (nothing is ever sent).
class silent_node {
public:
  explicit silent_node(bool welcome) : welcome_(welcome) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("silent_node: cannot listen");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~silent_node() {
    stop_ = true;
    thread_.join();
    for (int fd : conns_)
      ::close(fd);
    ::close(listen_fd_);
  }
  silent_node(const silent_node&) = delete;
  silent_node& operator=(const silent_node&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

private:
  void run() {
    // ServerFrame{welcome: Welcome{version: 1}}, length-prefixed; the other fields' defaults stand.
    static const char welcome[] = {0, 0, 0, 4, 0x0a, 0x02, 0x08, 0x01};
    std::set<int> welcomed;
    while (!stop_) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (int fd : conns_)
        fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 50) <= 0)
        continue;
      if (fds[0].revents & POLLIN)
        if (int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC); fd >= 0)
          conns_.push_back(fd);
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        char sink[4096];
        auto n = ::recv(fds[i].fd, sink, sizeof sink, 0);
        if (n <= 0) {
          ::close(fds[i].fd);
          conns_.erase(std::find(conns_.begin(), conns_.end(), fds[i].fd));
          welcomed.erase(fds[i].fd);
        } else if (welcome_ && welcomed.insert(fds[i].fd).second) { // the Hello: a 4-byte frame at most 80
          [[maybe_unused]] auto w = ::send(fds[i].fd, welcome, sizeof welcome, MSG_NOSIGNAL);
        }
      }
    }
  }

  bool welcome_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> conns_;
  std::thread thread_;
};

/// The keys of a JSON object, recursively for the first element of arrays (the shape, not the values).
json shape(const json& j) {
  if (j.is_object()) {
    json out = json::object();
    for (auto& [k, v] : j.items())
      out[k] = shape(v);
    return out;
  }
  if (j.is_array())
    return j.empty() ? json::array() : json::array({shape(j[0])});
  return nullptr;
}

} // namespace

TEST_CASE("bentoctl: a customer and a merchant through the whole flow; --json is the HTTP reply's shape",
          "[integration][bentoctl]") {
  temp_dir dir;
  node_process node(dir / "data");
  node.start();
  auto addr = "127.0.0.1:" + std::to_string(node.client_port());
  temp_dir mia_home, carl_home;
  bentoctl mia(addr, mia_home.str()), carl(addr, carl_home.str());

  auto reg = mia({"user", "register", "mia", "--email", "mia@example.com", "--role", "merchant", "--place", "taipei",
                  "--password", "correct horse battery"});
  INFO(reg.err);
  REQUIRE(reg.code == 0);
  CHECK(reg.out.find("registered mia") != std::string::npos);
  // The password from the environment instead of the command line.
  auto login = mia({"login", "mia"}, "BENTO_PASSWORD='correct horse battery'");
  INFO(login.err);
  REQUIRE(login.code == 0);
  auto token_file = mia_home.str() + "/bento/token";
  struct stat st{};
  REQUIRE(::stat(token_file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto token = slurp(token_file);
  token = token.substr(0, token.find('\n'));

  auto me = mia.ok_json({"me"});
  CHECK(me["username"] == "mia");
  CHECK(me["role"] == "merchant");
  auto r = mia.ok_json({"restaurant", "create", "Mia's", "--place", "taipei"});
  std::string rid = r["id"];
  auto item = mia.ok_json({"menu", "set-item", rid, "katsu", "--name", "Katsu", "--price-cents", "1200", "--stock",
                           "5", "--tag", "pork", "--tag", "fried", "--meal", "lunch", "--meal", "dinner"});
  CHECK(item["stock"] == 5);
  CHECK(item["tags"] == json::array({"fried", "pork"})); // kept sorted
  CHECK(item["meals"] == json::array({"lunch", "dinner"}));

  auto carl_reg = carl({"user", "register", "carl", "--email", "carl@example.com", "--role", "customer", "--place",
                        "taipei", "--password", "correct horse battery"});
  INFO(carl_reg.err);
  REQUIRE(carl_reg.code == 0);
  REQUIRE(carl({"login", "carl", "--password", "correct horse battery"}).code == 0);
  auto order = carl.ok_json({"order", "place", rid, "katsu=2", "--meal", "lunch", "--note", "no sauce",
                             "--idempotency-key", "lunch-1"});
  CHECK(order["status"] == "placed");
  CHECK(order["total_cents"] == 2400);
  auto again = carl.ok_json({"order", "place", rid, "katsu=2", "--meal", "lunch", "--note", "no sauce",
                             "--idempotency-key", "lunch-1"});
  CHECK(again["id"] == order["id"]);
  std::string oid = order["id"];

  // The same reply through HTTP has the same fields.
  api_session http(node.base_url());
  http.token = token;
  auto via_http = body_of(http.call("GET", "/api/v1/orders/" + oid));
  CHECK(shape(mia.ok_json({"order", "show", oid})) == shape(via_http));
  CHECK(shape(mia.ok_json({"menu", "show", rid})) == shape(body_of(http.call("GET", "/api/v1/restaurants/" + rid + "/menu"))));
  CHECK(shape(me) == shape(body_of(http.call("GET", "/api/v1/me"))));

  auto listed = mia.ok_json({"order", "list", "--status", "placed"});
  REQUIRE(listed["orders"].size() == 1);
  CHECK(mia.ok_json({"order", "confirm", oid})["status"] == "confirmed");
  CHECK(mia.ok_json({"order", "deliver", oid})["status"] == "delivered");

  // Human output: tables, not JSON.
  auto menu_text = carl({"menu", "show", rid});
  CHECK(menu_text.code == 0);
  CHECK(menu_text.out.find("katsu") != std::string::npos);
  CHECK(menu_text.out.find("12.00") != std::string::npos);
  auto search = carl.ok_json({"menu", "list", "--place", "taipei"});
  CHECK(search.contains("items"));

  // Refusals: exit 1 with the server's code on stderr.
  auto sold_out = carl({"order", "place", rid, "katsu=9", "--meal", "lunch"}); // a meal it is served at, whatever the hour
  INFO("stderr: " << sold_out.err);
  CHECK(sold_out.code == 1);
  CHECK(sold_out.err.find("out_of_stock") != std::string::npos);
  auto not_merchant = carl({"restaurant", "create", "Carl's", "--place", "taipei"});
  CHECK(not_merchant.code == 1);
  CHECK(not_merchant.err.find("forbidden") != std::string::npos);
  // Usage mistakes: exit 2, nothing sent.
  CHECK(carl({"order", "place", rid}).code == 2);
  CHECK(carl({"order", "place", rid, "katsu=lots"}).code == 2);
  CHECK(carl({"order", "list", "--status", "eaten"}).code == 2);
  CHECK(carl({"menu", "set-item", rid, "x", "--name", "X"}).code == 2);
  CHECK(carl({"order", "frobnicate"}).code == 2);
  CHECK(carl({"me", "--bogus"}).code == 2);
  // --help on every command.
  for (auto words : std::vector<std::vector<std::string>>{
         {"user", "register"}, {"login"}, {"logout"}, {"me"}, {"restaurant", "create"}, {"restaurant", "list"},
         {"menu", "set-item"}, {"menu", "rm-item"}, {"menu", "show"}, {"menu", "list"}, {"order", "place"},
         {"order", "list"}, {"order", "show"}, {"order", "confirm"}, {"order", "deliver"}, {"order", "cancel"},
         {"order", "edit"}, {"cluster", "status"}, {"admin", "decommission"}}) {
    words.push_back("--help");
    auto h = carl(words);
    CHECK(h.code == 0);
    CHECK(h.out.find("usage: bentoctl") != std::string::npos);
  }
  // Unreachable: exit 3.
  bentoctl nowhere("127.0.0.1:1", carl_home.str());
  CHECK(nowhere({"me"}).code == 3);

  // Admin: a node without BENTO_ADMIN_TOKEN refuses; no admin token at hand is a usage mistake.
  CHECK(carl({"admin", "decommission", "n9"}).code == 2);
  auto admin_refused = carl({"admin", "decommission", "n9", "--admin-token", "whatever-0123456789"});
  CHECK(admin_refused.code == 1);
  CHECK(admin_refused.err.find("forbidden") != std::string::npos);

  // The cluster as one node sees it.
  auto cluster = carl.ok_json({"cluster", "status"});
  CHECK(cluster["clustered"] == false);
  CHECK(cluster["shards"] == 64);

  // Logout forgets the token; the next call is refused.
  CHECK(mia({"menu", "rm-item", rid, "katsu"}).code == 0);
  CHECK(carl({"logout"}).code == 0);
  CHECK(::access((carl_home.str() + "/bento/token").c_str(), F_OK) != 0);
  auto after = carl({"me"});
  CHECK(after.code == 1);
  CHECK(after.err.find("unauthorized") != std::string::npos);
}

TEST_CASE("bentoctl: an order sent to a node that never answers may exist: exit 1 and the command to retry",
          "[integration][bentoctl]") {
  temp_dir home;
  silent_node stuck(true);
  bentoctl ctl(stuck.address(), home.str());
  auto r = ctl({"--timeout-ms", "600", "order", "place", "r_1", "katsu=1", "--meal", "lunch", "--note", "no sauce"},
               "BENTO_TOKEN=tok-123");
  INFO(r.err);
  CHECK(r.code == 1); // not 3, "unreachable": the request went out
  CHECK(r.err.find("outcome_unknown") != std::string::npos);
  CHECK(r.err.find("may or may not have been placed") != std::string::npos);
  auto at = r.err.find("--idempotency-key ");
  REQUIRE(at != std::string::npos);
  auto key = r.err.substr(at + 18, r.err.find('\n', at) - at - 18);
  CHECK(key.rfind("sdk-", 0) == 0);
  CHECK(r.err.find("bentoctl --addr " + stuck.address() +
                   " --timeout-ms 600 order place r_1 katsu=1 --meal lunch --note 'no sauce' --idempotency-key " + key +
                   "\n") != std::string::npos);
  CHECK(r.err.find("tok-123") == std::string::npos);

  // The caller's own key is the one to retry with; a --token on the line is not echoed.
  auto mine = ctl({"--token", "tok-456", "--timeout-ms", "600", "order", "place", "r_1", "katsu=1",
                   "--idempotency-key", "lunch-7"});
  INFO(mine.err);
  CHECK(mine.code == 1);
  CHECK(mine.err.find("bentoctl --addr " + stuck.address() +
                      " --timeout-ms 600 order place r_1 katsu=1 --idempotency-key lunch-7\n") != std::string::npos);
  CHECK(mine.err.find("same --token") != std::string::npos);
  CHECK(mine.err.find("tok-456") == std::string::npos);

  // Another write that got no answer: exit 1 too, its outcome unknown.
  auto confirm = ctl({"--timeout-ms", "400", "order", "confirm", "o_1"});
  CHECK(confirm.code == 1);
  CHECK(confirm.err.find("outcome_unknown") != std::string::npos);

  // Nothing sent (no Welcome, or nobody listening): exit 3, and no retry advice.
  silent_node mute(false);
  bentoctl unwelcomed(mute.address(), home.str());
  auto never = unwelcomed({"--timeout-ms", "600", "order", "place", "r_1", "katsu=1"});
  INFO(never.err);
  CHECK(never.code == 3);
  CHECK(never.err.find("--idempotency-key") == std::string::npos);
  bentoctl nowhere("127.0.0.1:1", home.str());
  auto refused = nowhere({"order", "place", "r_1", "katsu=1"});
  CHECK(refused.code == 3);
  CHECK(refused.err.find("--idempotency-key") == std::string::npos);
}

TEST_CASE("bentoctl: the token file: private directory, a fresh temporary file, whole tokens under parallel logins",
          "[integration][bentoctl]") {
  temp_dir dir;
  node_process node(dir / "data");
  node.start();
  auto addr = "127.0.0.1:" + std::to_string(node.client_port());
  temp_dir home;
  bentoctl ctl(addr, home.str());
  for (auto name : {"ann", "bob"}) {
    auto reg = ctl({"user", "register", name, "--email", std::string(name) + "@example.com", "--role", "customer",
                    "--place", "taipei", "--password", "correct horse battery"});
    INFO(reg.err);
    REQUIRE(reg.code == 0);
  }

  // A config directory made open to all is made private; a file lying at the old fixed temporary name (here a
  // link to another file) is neither followed nor touched.
  auto bento_dir = home.str() + "/bento";
  REQUIRE(::mkdir(bento_dir.c_str(), 0777) == 0);
  REQUIRE(::chmod(bento_dir.c_str(), 0777) == 0);
  auto victim = home.str() + "/victim";
  { std::ofstream(victim) << "precious\n"; }
  REQUIRE(::symlink(victim.c_str(), (bento_dir + "/token.tmp").c_str()) == 0);
  auto first = ctl({"login", "ann", "--password", "correct horse battery"});
  INFO(first.err);
  REQUIRE(first.code == 0);
  struct stat st{};
  REQUIRE(::stat(bento_dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  CHECK(slurp(victim) == "precious\n");
  ::unlink((bento_dir + "/token.tmp").c_str());

  // Ten pairs of logins at once into one directory: each succeeds, and the file ends up holding one whole
  // token (the last to finish wins), 0600, with no temporary files left behind.
  std::vector<run_result> results(20);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&, i] {
      results[i] = ctl({"--json", "login", i % 2 ? "bob" : "ann", "--password", "correct horse battery"});
    });
  for (auto& t : threads)
    t.join();
  std::map<std::string, std::string> user_of; // token -> username
  for (auto& r : results) {
    INFO(r.err);
    CHECK(r.code == 0);
    auto j = json::parse(r.out, nullptr, false);
    if (r.code == 0 && !j.is_discarded())
      user_of[j["token"].get<std::string>()] = j["user"]["username"].get<std::string>();
  }
  CHECK(user_of.size() == 20);
  auto token_file = bento_dir + "/token";
  REQUIRE(::stat(token_file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto saved = slurp(token_file);
  REQUIRE(!saved.empty());
  CHECK(saved.back() == '\n');
  saved.pop_back();
  INFO("saved: " << saved);
  REQUIRE(user_of.count(saved) == 1);
  auto me = ctl.ok_json({"me"}); // with the saved token
  CHECK(me["username"] == user_of[saved]);
  std::vector<std::string> left;
  if (DIR* d = ::opendir(bento_dir.c_str())) {
    while (auto* e = ::readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
        left.push_back(e->d_name);
    ::closedir(d);
  }
  CHECK(left == std::vector<std::string>{"token"});
}
