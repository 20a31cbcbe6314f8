#pragma once
// Test helper: a typed walk through the HTTP API on top of client::http_client (register, log in, create, order).
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "client/http_client.hpp"

namespace bento::test {

using json = nlohmann::json;

inline json body_of(const client::http_result& r) {
  auto j = json::parse(r.body, nullptr, false);
  return j.is_discarded() ? json() : j;
}

/// Every error answer is JSON with "error" and "message".
inline void check_error(const client::http_result& r, int status, const std::string& code) {
  INFO("status " << r.status << " body " << r.body);
  CHECK(r.status == status);
  auto j = body_of(r);
  REQUIRE(j.is_object());
  CHECK(j.value("error", "") == code);
  CHECK(j.contains("message"));
}

/// `once()` again while it answers 503 with Retry-After (a cluster with no leader of the key reachable from that
/// node right now, e.g. while a shard's lead moves: what a client retries), for at most 20 s. Any other answer,
/// a 503 without Retry-After included, is returned as it is.
template <class Once>
client::http_result retrying_unavailable(Once once) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    auto r = once();
    if (r.status != 503 || !r.headers.count("retry-after") || std::chrono::steady_clock::now() >= deadline)
      return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(100)); // back-off of a bounded retry
  }
}

class api_session {
public:
  explicit api_session(const std::string& base_url) : http(base_url) {}

  client::http_client http;
  std::string token;
  json user;

  /// Registers; a 503 with Retry-After (the user's shard between leaders, as in a cluster's first seconds) ran
  /// nowhere, and is retried as a client would.
  json register_user(const std::string& username, const std::string& role, const std::string& place = "taipei") {
    auto body = json{{"username", username}, {"password", "correct horse"}, {"email", username + "@example.com"},
                     {"role", role}, {"place", place}}.dump();
    auto r = retrying_unavailable([&] { return http.post("/api/v1/users", body); });
    INFO(r.body);
    REQUIRE(r.status == 201);
    return body_of(r);
  }

  /// Logs in; a 503 with Retry-After (the user's shard between leaders) is retried as a client would.
  void login(const std::string& username, const std::string& password = "correct horse") {
    auto body = json{{"username", username}, {"password", password}}.dump();
    auto r = retrying_unavailable([&] { return http.post("/api/v1/sessions", body); });
    INFO(r.body);
    REQUIRE(r.status == 201);
    auto j = body_of(r);
    token = j["token"];
    user = j["user"];
  }

  void sign_up(const std::string& username, const std::string& role, const std::string& place = "taipei") {
    register_user(username, role, place);
    login(username);
  }

  client::http_result call(const std::string& method, const std::string& path, const json& body = nullptr,
                           std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("Authorization", "Bearer " + token);
    return http.request(method, path, body.is_null() ? std::string() : body.dump(), headers);
  }

  std::string create_restaurant(const std::string& name, const std::string& place = "taipei") {
    auto r = call("POST", "/api/v1/restaurants", {{"name", name}, {"place", place}});
    INFO(r.body);
    REQUIRE(r.status == 201);
    return body_of(r)["id"];
  }

  void put_item(const std::string& rid, const std::string& iid, int64_t price, int64_t stock, json extra = {}) {
    json body = {{"name", iid}, {"price_cents", price}, {"stock", stock}};
    if (extra.is_object())
      body.update(extra);
    auto r = call("PUT", "/api/v1/restaurants/" + rid + "/menu/items/" + iid, body);
    INFO(r.body);
    REQUIRE((r.status == 201 || r.status == 200));
  }
};

/// `n` signed-up customers cust0, cust1, ..., one session (and connection) each, for tests that race them.
inline std::vector<std::unique_ptr<api_session>> sign_up_customers(const std::string& base_url, int n) {
  std::vector<std::unique_ptr<api_session>> sessions;
  for (int i = 0; i < n; ++i) {
    sessions.push_back(std::make_unique<api_session>(base_url));
    sessions.back()->sign_up("cust" + std::to_string(i), "customer");
  }
  return sessions;
}

} // namespace bento::test
