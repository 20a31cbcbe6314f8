// bentoctl, the real binary, against a real node: the whole customer/merchant flow, --json with the HTTP API's
// field names (compared with what HTTP answers), the saved token's place and mode, and the exit codes.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

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

/// Runs bentoctl with `args` and a private config home; stdin is empty (no terminal: no prompt).
class bentoctl {
public:
  bentoctl(std::string addr, std::string home) : addr_(std::move(addr)), home_(std::move(home)) {}

  run_result operator()(const std::vector<std::string>& args, const std::string& extra_env = {}) const {
    auto bin = node_binary();
    bin = bin.substr(0, bin.rfind('/')) + "/bentoctl";
    std::string cmd = "env -u BENTO_TOKEN -u BENTO_ADDR -u BENTO_PASSWORD XDG_CONFIG_HOME=" + shell_quoted(home_) +
                      " " + extra_env + " " + shell_quoted(bin) + " --addr " + shell_quoted(addr_);
    for (auto& a : args)
      cmd += " " + shell_quoted(a);
    auto err_path = home_ + "/stderr";
    cmd += " </dev/null 2>" + shell_quoted(err_path);
    run_result r;
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p);
    std::array<char, 4096> buf{};
    size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
      r.out.append(buf.data(), n);
    int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = slurp(err_path);
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
  auto sold_out = carl({"order", "place", rid, "katsu=9"});
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
