// libFuzzer target: JSON request bodies decoded into commands. The decoders are the HTTP route handlers of
// node/http/api_routes.cpp (create_user, create_session, create_restaurant_route, put_item, patch_item,
// create_order, patch_order: each reads its body with json_views::reader and hands a command to api_service,
// which validates it before the domain sees it). They live in that file's anonymous namespace, so they are called
// through api_router::handle with a ready request (no HTTP parsing, a valid token) on the real domain
// (tests/fuzz/fuzz_node.hpp); json_views::reader is also called directly on whatever the body parses to.
//
// An input is one byte naming the route ('u' POST /users, 's' POST /sessions, 'r' POST /restaurants, 'i' PUT and
// 'p' PATCH of a menu item, 'o' POST /orders, 'e' PATCH /orders/{id}; any other byte: its value mod 7), one byte
// of flags (bits 0-1: which menu item; 4: If-Match; 8: If-None-Match: *; 16: Idempotency-Key), then the body, in
// which "$RESTAURANT" and "$ORDER" become the ids of a restaurant of the merchant's and of an order placed there.
// Invariants (abort = a finding), besides fuzz_node's (no 5xx but the domain's 503/504, every 4xx a JSON error
// body, an answer within 20 s): no exception escapes, nlohmann's least of all; a body that is not a JSON object,
// nests too deeply, lacks a required field or has a field of the wrong type is refused with 400 invalid_argument
// and a message; what is accepted passed validation (the command's inputs pass protocol/domain/validation) and is
// what the body said (the answer shows the fields the body gave).
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "node/http/json_views.hpp"
#include "node/http/query_text.hpp"
#include "protocol/domain/validation.hpp"
#include "tests/fuzz/fuzz_node.hpp"

namespace {

using namespace bento;
using json = nlohmann::json;
namespace jv = bento::node::json_views;

enum route_kind { users, sessions, restaurants, put_item, patch_item, orders, edit_order, route_count };

[[noreturn]] void finding(const std::string& what, const node::http_request& req, const node::http_response& resp) {
  std::fprintf(stderr, "fuzz finding: %s: %s %s %s -> %d %s\n", what.c_str(), req.method.c_str(), req.path.c_str(),
               req.body.substr(0, 300).c_str(), resp.status, resp.body.substr(0, 300).c_str());
  std::abort();
}

void replace_all(std::string& s, const std::string& what, const std::string& with) {
  for (auto pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + with.size()))
    s.replace(pos, what.size(), with);
}

route_kind route_of(uint8_t b) {
  switch (b) {
    case 'u': return users;
    case 's': return sessions;
    case 'r': return restaurants;
    case 'i': return put_item;
    case 'p': return patch_item;
    case 'o': return orders;
    case 'e': return edit_order;
    default: return static_cast<route_kind>(b % route_count);
  }
}

/// The JSON type each field of a route's body must have (what the route's reader calls ask for), and which
/// fields it requires.
enum class kind_of { string, integer, strings, lines };
struct field_rule {
  const char* name;
  kind_of kind;
  bool required;
};

const std::vector<field_rule>& rules_of(route_kind r) {
  static const std::map<route_kind, std::vector<field_rule>> rules = {
    {users,
     {{"username", kind_of::string, true}, {"password", kind_of::string, true}, {"email", kind_of::string, true},
      {"role", kind_of::string, true}, {"place", kind_of::string, true}}},
    {sessions, {{"username", kind_of::string, true}, {"password", kind_of::string, true}}},
    {restaurants, {{"name", kind_of::string, true}, {"place", kind_of::string, true}}},
    {put_item,
     {{"name", kind_of::string, true}, {"description", kind_of::string, false},
      {"price_cents", kind_of::integer, true}, {"daily_stock", kind_of::integer, false},
      {"stock", kind_of::integer, false}, {"tags", kind_of::strings, false}, {"image_url", kind_of::string, false},
      {"meals", kind_of::strings, false}}},
    {patch_item,
     {{"name", kind_of::string, false}, {"description", kind_of::string, false},
      {"price_cents", kind_of::integer, false}, {"daily_stock", kind_of::integer, false},
      {"stock", kind_of::integer, false}, {"tags", kind_of::strings, false}, {"image_url", kind_of::string, false},
      {"meals", kind_of::strings, false}}},
    {orders,
     {{"restaurant_id", kind_of::string, true}, {"items", kind_of::lines, true}, {"meal", kind_of::string, false},
      {"date", kind_of::string, false}, {"note", kind_of::string, false}}},
    {edit_order, {{"items", kind_of::lines, false}, {"merchant_note", kind_of::string, false}}},
  };
  return rules.at(r);
}

bool has_kind(const json& v, kind_of k) {
  switch (k) {
    case kind_of::string: return v.is_string();
    case kind_of::integer: return v.is_number_integer();
    case kind_of::strings: {
      if (!v.is_array())
        return false;
      for (auto& e : v)
        if (!e.is_string())
          return false;
      return true;
    }
    case kind_of::lines: {
      if (!v.is_array())
        return false;
      for (auto& e : v) {
        if (!e.is_object())
          return false;
        auto id = e.find("item_id");
        auto qty = e.find("qty");
        if (id == e.end() || !id->is_string() || qty == e.end() || !qty->is_number_integer())
          return false;
      }
      return true;
    }
  }
  return false;
}

/// What a route must refuse with 400 before any rule of the domain applies (empty: nothing certain).
std::string must_refuse(route_kind r, const std::string& body, const json& parsed) {
  if (!node::json_depth_within(body, 32))
    return "nested too deeply";
  if (parsed.is_discarded())
    return "not JSON";
  if (!parsed.is_object())
    return "not an object";
  for (auto& rule : rules_of(r)) {
    auto it = parsed.find(rule.name);
    bool absent = it == parsed.end() || it->is_null();
    if (absent && rule.required)
      return std::string("no ") + rule.name;
    if (!absent && !has_kind(*it, rule.kind))
      return std::string(rule.name) + " of the wrong type";
  }
  if (r == edit_order && parsed.contains("note"))
    return "a merchant's note field";
  if (r == patch_item && parsed.empty())
    return "an empty patch";
  return {};
}

/// json_views::reader called directly on a parsed body with every accessor: it never throws, returns what the
/// field holds, and fails only with invalid_argument and a message.
void read_directly(const json& object) {
  static const char* const names[] = {"username", "password", "email", "role", "place", "name", "description",
                                      "price_cents", "stock", "daily_stock", "tags", "meals", "image_url",
                                      "restaurant_id", "items", "meal", "date", "note", "merchant_note", "qty",
                                      "item_id"};
  for (const char* name : names) {
    for (int accessor = 0; accessor < 4; ++accessor) {
      jv::reader r(object);
      bool required = accessor % 2 == 0;
      bool got = false;
      switch (accessor) {
        case 0: {
          auto v = r.string(name, required);
          got = v.has_value();
          if (v && (!object.contains(name) || object.at(name) != json(*v))) {
            std::fprintf(stderr, "fuzz finding: json_views::reader returned another %s than the body's\n", name);
            std::abort();
          }
          break;
        }
        case 1: {
          auto v = r.integer(name, required, -1000, 1'000'000);
          got = v.has_value();
          if (v && (*v < -1000 || *v > 1'000'000)) {
            std::fprintf(stderr, "fuzz finding: json_views::reader returned %s out of its range\n", name);
            std::abort();
          }
          break;
        }
        case 2: got = r.strings(name, required, 20).has_value(); break;
        default: got = r.lines(name, required).has_value(); break;
      }
      if (!r.ok() && (got || r.error().code != domain::errc::invalid_argument || r.error().message.empty())) {
        std::fprintf(stderr, "fuzz finding: json_views::reader on %s: %s\n", name, r.error().message.c_str());
        std::abort();
      }
    }
  }
}

struct json_target {
  fuzz::fuzz_node domain;
  std::string restaurant_id, order_id;
  std::atomic<uint64_t> decoded{0};

  json_target() {
    // The merchant's restaurant with a plain and a daily item, and an order of the customer's to edit.
    auto created = domain.call(request("POST", "/api/v1/restaurants", domain.merchant_token,
                                       R"({"name":"Fuzz Bento","place":"taipei"})"));
    auto r = json::parse(created.body, nullptr, false);
    if (created.status != 201 || !r.is_object() || !r.contains("id"))
      std::abort();
    restaurant_id = r["id"].get<std::string>();
    auto katsu = domain.call(request("PUT", item_path(0), domain.merchant_token,
                                     R"({"name":"Katsu","price_cents":1200,"stock":1000000,"tags":["meat"]})"));
    auto bento = domain.call(request("PUT", item_path(1), domain.merchant_token,
                                     R"({"name":"Daily bento","price_cents":900,"daily_stock":1000,
                                         "meals":["lunch","dinner"]})"));
    if (katsu.status != 201 || bento.status != 201)
      std::abort();
    auto placed = domain.call(request("POST", "/api/v1/orders", domain.customer_token,
                                      R"({"restaurant_id":")" + restaurant_id
                                        + R"(","items":[{"item_id":"katsu","qty":2}],"meal":"lunch"})"));
    auto o = json::parse(placed.body, nullptr, false);
    if (placed.status != 201 || !o.is_object() || !o.contains("id"))
      std::abort();
    order_id = o["id"].get<std::string>();
  }

  std::string item_path(int which) const {
    static const char* const items[] = {"katsu", "bento", "special", "katsu"};
    return "/api/v1/restaurants/" + restaurant_id + "/menu/items/" + items[which & 3];
  }

  static node::http_request request(std::string method, std::string path, const std::string& token, std::string body) {
    node::http_request req;
    req.method = std::move(method);
    req.path = std::move(path);
    if (!token.empty())
      req.authorization = "Bearer " + token;
    req.content_type = "application/json";
    req.body = std::move(body);
    req.client_address = "127.0.0.1";
    req.request_id = "fuzz";
    return req;
  }

  void run(const uint8_t* data, size_t size) {
    if (size < 2)
      return;
    auto route = route_of(data[0]);
    uint8_t flags = data[1];
    std::string body(reinterpret_cast<const char*>(data) + 2, size - 2);
    replace_all(body, "$RESTAURANT", restaurant_id);
    replace_all(body, "$ORDER", order_id);
    node::http_request req;
    switch (route) {
      case users: req = request("POST", "/api/v1/users", {}, body); break;
      case sessions: req = request("POST", "/api/v1/sessions", {}, body); break;
      case restaurants: req = request("POST", "/api/v1/restaurants", domain.merchant_token, body); break;
      case put_item: req = request("PUT", item_path(flags & 3), domain.merchant_token, body); break;
      case patch_item: req = request("PATCH", item_path(flags & 3), domain.merchant_token, body); break;
      case orders: req = request("POST", "/api/v1/orders", domain.customer_token, body); break;
      default: req = request("PATCH", "/api/v1/orders/" + order_id, domain.merchant_token, body); break;
    }
    if (flags & 4)
      req.if_match = "\"" + std::to_string(flags >> 5) + "\"";
    if (flags & 8)
      req.if_none_match = "*";
    if (flags & 16)
      req.idempotency_key = "fuzz-key-" + std::to_string(flags >> 5);
    req.client_address = "192.0.2." + std::to_string(1 + size % 200);

    auto parsed = json::parse(body, nullptr, false);
    if (parsed.is_object())
      read_directly(parsed);
    auto refuse = must_refuse(route, body, parsed);

    node::http_response resp;
    try {
      resp = domain.call(req);
    } catch (const json::exception& e) {
      finding(std::string("nlohmann exception escaped: ") + e.what(), req, resp);
    } catch (const std::exception& e) {
      finding(std::string("exception escaped: ") + e.what(), req, resp);
    }
    auto answer = json::parse(resp.body, nullptr, false);
    if (resp.status == 400) {
      // Bad input, or an item not served at the meal asked for (the domain's one other 400).
      auto code = answer.is_object() ? answer.value("error", "") : "";
      if ((code != "invalid_argument" && (code != "meal_unavailable" || !refuse.empty()))
          || answer.value("message", "").empty())
        finding("400 without invalid_argument and a message", req, resp);
      return;
    }
    if (!refuse.empty())
      finding("accepted a body that must be refused (" + refuse + ")", req, resp);
    if (resp.status >= 300)
      return; // refused by the domain's rules (404, 409, 412, 422, 429, ...): fuzz_node checked its body
    ++decoded;
    accepted(route, parsed, answer, req, resp);
  }

  /// An accepted body's command passed validation and carried what the body said.
  void accepted(route_kind route, const json& in, const json& out, const node::http_request& req,
                const node::http_response& resp) {
    using namespace bento::domain;
    auto str = [&](const char* name) { return in.value(name, json()).is_string() ? in[name].get<std::string>() : ""; };
    auto same = [&](const char* field, const json& got) {
      auto it = in.find(field);
      if (it != in.end() && !it->is_null() && *it != got)
        finding(std::string("the answer's ") + field + " is not the body's", req, resp);
    };
    if (!out.is_object())
      finding("a success without a JSON object", req, resp);
    switch (route) {
      case users: {
        register_user cmd{str("username"), str("password"), str("email"), role::customer, str("place")};
        if (auto f = check_registration(cmd))
          finding("registered what validation refuses: " + f->message, req, resp);
        for (auto* f : {"username", "email", "role", "place"})
          same(f, out.value(f, json()));
        break;
      }
      case sessions:
        same("username", out.value("user", json::object()).value("username", json()));
        break;
      case restaurants:
        if (check_text("name", str("name"), max_name_length, true) || check_text("place", str("place"),
                                                                                  max_place_length, true))
          finding("created a restaurant that validation refuses", req, resp);
        same("name", out.value("name", json()));
        same("place", out.value("place", json()));
        break;
      case put_item:
      case patch_item: {
        // The item as it stands must be one validation accepts, whatever the PUT or PATCH said.
        menu_item_input item;
        item.name = out.value("name", "");
        item.description = out.value("description", "");
        item.price_cents = out.value("price_cents", int64_t{-1});
        item.stock = out.value("stock", int64_t{-1});
        item.daily_stock = out.value("daily_stock", int64_t{-1});
        item.tags = out.value("tags", std::vector<std::string>{});
        for (auto& m : out.value("meals", std::vector<std::string>{}))
          if (auto parsed = parse_meal(m))
            item.meals.push_back(*parsed);
        item.image_url = out.value("image_url", "");
        if (auto f = check_menu_item(item))
          finding("saved an item that validation refuses: " + f->message, req, resp);
        for (auto* f : {"name", "description", "price_cents", "daily_stock", "image_url"})
          same(f, out.value(f, json()));
        // Tags and meals are sets (the domain keeps them sorted).
        for (auto* f : {"tags", "meals"}) {
          auto it = in.find(f);
          if (it == in.end() || it->is_null())
            continue;
          auto asked = it->get<std::set<std::string>>();
          auto got = out.value(f, json::array());
          if (!got.is_array() || got.get<std::set<std::string>>() != asked)
            finding(std::string("the answer's ") + f + " are not the body's", req, resp);
        }
        if (out.value("daily_stock", int64_t{0}) == 0)
          same("stock", out.value("stock", json()));
        break;
      }
      case orders:
      case edit_order: {
        if (route == orders)
          same("restaurant_id", out.value("restaurant_id", json()));
        if (route == edit_order)
          same("merchant_note", out.value("merchant_note", json()));
        if (route == orders && check_text("note", str("note"), max_note_length, false, true))
          finding("placed an order whose note validation refuses", req, resp);
        if (!in.contains("items") || in["items"].is_null())
          break;
        std::vector<line_request> lines;
        std::map<std::string, int64_t> asked, got;
        for (auto& l : in["items"]) {
          lines.push_back(line_request{l["item_id"].get<std::string>(), l["qty"].get<int32_t>()});
          asked[lines.back().item_id] += l["qty"].get<int64_t>();
        }
        if (auto f = check_lines(lines))
          finding("took order lines that validation refuses: " + f->message, req, resp);
        for (auto& l : out.value("items", json::array()))
          got[l.value("item_id", "")] += l.value("qty", int64_t{0});
        if (asked != got)
          finding("the order's lines are not the body's", req, resp);
        break;
      }
      default: break;
    }
  }
};

json_target* the_target = nullptr; // leaked on purpose under libFuzzer: it exits without running destructors

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!the_target)
    the_target = new json_target();
  the_target->run(data, size);
  return 0;
}

extern "C" const char* const* bento_fuzz_dictionary(size_t* n) {
  // The API's field names and values (docs/openapi.yaml), and JSON's own tokens.
  static const char* const words[] = {
    "\"username\":", "\"password\":", "\"email\":", "\"role\":", "\"place\":", "\"name\":", "\"description\":",
    "\"price_cents\":", "\"stock\":", "\"daily_stock\":", "\"tags\":", "\"meals\":", "\"image_url\":",
    "\"restaurant_id\":", "\"items\":", "\"item_id\":", "\"qty\":", "\"meal\":", "\"date\":", "\"note\":",
    "\"merchant_note\":", "\"customer\"", "\"merchant\"", "\"breakfast\"", "\"lunch\"", "\"dinner\"", "\"katsu\"",
    "\"bento\"", "\"taipei\"", "\"$RESTAURANT\"", "\"$ORDER\"", "\"2030-01-01\"", "\"https://x/y.png\"",
    "null", "true", "false", "[]", "{}", "{", "}", "[", "]", ",", ":", "\"", "\\u0000", "\\ud800", "\\\"", "0",
    "-1", "1e3", "1.5", "1000", "1001", "100000000", "2147483648", "-2147483649", "9223372036854775807",
    "18446744073709551615", "1e400",
  };
  *n = sizeof words / sizeof *words;
  return words;
}

extern "C" uint64_t bento_fuzz_routed_requests() {
  return the_target ? the_target->decoded.load() : 0;
}

extern "C" void bento_fuzz_shutdown() {
  if (the_target) {
    the_target->domain.shutdown();
    delete the_target;
    the_target = nullptr;
  }
}
