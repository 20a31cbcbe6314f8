#include "node/http/api_routes.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include <sodium.h>
#include <spdlog/spdlog.h>

#include "actors/store/entity_store.hpp"
#include "actors/user/login_guard.hpp"
#include "node/auth/revocation_list.hpp"
#include "node/auth/throttles.hpp"
#include "node/api/api_service.hpp"
#include "node/auth/token.hpp"
#include "node/domain_client.hpp"
#include "node/http/client_address.hpp"
#include "node/http/query_text.hpp"
#include "node/http/json_views.hpp"
#include "node/metrics/node_metrics.hpp"
#include "node/openapi_document.hpp"
#include "protocol/domain/calendar.hpp"
#include "protocol/domain/ids.hpp"
#include "protocol/domain/validation.hpp"

namespace bento::node {

namespace {

using namespace bento::domain;
using json = nlohmann::json;
namespace jv = json_views;

int status_of(errc code) {
  switch (code) {
    case errc::invalid_argument: return 400;
    case errc::meal_unavailable: return 400;
    case errc::superseded: return 409;
    case errc::precondition_failed: return 412;
    case errc::unavailable: return 503; // the one honest 5xx: no quorum for the key's shard right now
    case errc::unauthenticated: return 401;
    case errc::forbidden: return 403;
    case errc::not_found: return 404;
    case errc::already_exists: return 409;
    case errc::out_of_stock: return 409;
    case errc::invalid_transition: return 409;
    case errc::idempotency_mismatch: return 422;
    case errc::throttled: return 429;
    case errc::overloaded: return 429; // a flood of expensive requests is the client's to slow down
    case errc::storage_failure: return 503;
    case errc::outcome_unknown: return 504;
    case errc::none: return 200;
  }
  return 503;
}

/// An entity tag as the API writes it: the item version in quotes.
std::string etag_of(uint64_t version) {
  return "\"" + std::to_string(version) + "\"";
}

/// Reads `"<digits>"` (or W/ of it: versions are exact, so a weak tag compares the same).
std::optional<uint64_t> parse_etag(const std::string& h) {
  std::string_view v = h;
  if (v.rfind("W/", 0) == 0)
    v.remove_prefix(2);
  if (v.size() < 3 || v.size() > 22 || v.front() != '"' || v.back() != '"')
    return std::nullopt;
  uint64_t n = 0;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9')
      return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(v[i] - '0');
  }
  return n;
}

struct call;
using handler_fn = void (*)(const std::shared_ptr<call>&);

struct route {
  const char* method;
  const char* pattern; // segments; "{}" matches one id-like segment
  handler_fn handler;
  std::vector<std::string> segments;
};

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  size_t pos = 1;
  while (pos <= path.size()) {
    auto slash = path.find('/', pos);
    out.push_back(path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos));
    if (slash == std::string::npos)
      break;
    pos = slash + 1;
  }
  return out;
}

} // namespace

struct api_router::impl {
  api_dependencies deps;
  std::unique_ptr<api_service> service;
  std::vector<route> routes;
  // The last /metrics text: scrapes within metrics_cache_ms share one render, so scraping cannot burn CPU.
  std::mutex metrics_mutex;
  std::string metrics_text;
  int64_t metrics_rendered_ms = 0;
  bool metrics_rendering = false;
};

namespace {

/// One request in flight. Shared so that domain callbacks can finish it from any thread.
struct call : std::enable_shared_from_this<call> {
  api_router::impl* api = nullptr;
  http_request req;
  http_responder done;
  std::vector<std::string> params;
  std::map<std::string, std::string> query;
  std::string route_name = "unmatched";
  std::string client_key; // what per-client limits count by (an IPv4 address or an IPv6 /64)
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  principal caller;
  token_claims claims;
  json body;

  domain_client& domain() { return *api->deps.domain; }
  api_service& service() { return *api->service; }

  void respond(http_response resp) {
    auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    api->deps.metrics->observe_request(route_name, req.method, resp.status, elapsed);
    resp.headers.emplace_back("X-Request-Id", req.request_id);
    if (resp.status >= 500)
      spdlog::warn("http.request request_id={} method={} route={} status={} ms={:.2f}", req.request_id,
                   req.method, route_name, resp.status, elapsed * 1000);
    else
      spdlog::debug("http.request request_id={} method={} route={} status={} ms={:.2f}", req.request_id,
                    req.method, route_name, resp.status, elapsed * 1000);
    done(std::move(resp));
  }

  void reply(int status, const json& j) {
    http_response resp;
    resp.status = status;
    resp.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
    respond(std::move(resp));
  }

  /// A body written by json_writer (the hot replies: no json tree).
  void reply_written(int status, json_writer& w) {
    http_response resp;
    resp.status = status;
    resp.body = w.take();
    respond(std::move(resp));
  }

  /// A 200 with a shared answer's JSON, rendered by the first reader of that answer and reused by the rest.
  template <class Shared, class Render>
  void reply_shared(const Shared& answer, size_t size_hint, Render&& render) {
    auto body = answer.json().get();
    if (!body) {
      json_writer w(size_hint);
      render(w);
      body = std::make_shared<const std::string>(w.take());
      answer.json().set(body);
    }
    http_response resp;
    resp.shared_body = std::move(body);
    respond(std::move(resp));
  }

  void reply_order(int status, const order& o) {
    json_writer w(768);
    jv::write(w, o);
    reply_written(status, w);
  }

  void no_content() {
    http_response resp;
    resp.status = 204;
    resp.content_type = "application/json";
    respond(std::move(resp));
  }

  void fail(const failure& f) {
    http_response resp;
    resp.status = status_of(f.code);
    resp.body = jv::error_body(f).dump(-1, ' ', false, json::error_handler_t::replace);
    if (f.code == errc::throttled) {
      auto ms = f.item_id.empty() ? 1000 : std::max<long long>(1000, std::atoll(f.item_id.c_str()));
      resp.headers.emplace_back("Retry-After", std::to_string((ms + 999) / 1000));
      resp.body = json{{"error", "too_many_requests"}, {"message", f.message}}.dump();
    } else if (f.code == errc::overloaded || f.code == errc::storage_failure || f.code == errc::unavailable) {
      resp.headers.emplace_back("Retry-After", "1");
    }
    respond(std::move(resp));
  }

  void fail(errc code, std::string message) { fail(domain::fail(code, std::move(message))); }

  /// Verifies the bearer token locally (signature, expiry, revocation); answers 401/403 itself.
  bool authenticate(std::optional<role> required = std::nullopt) {
    const auto& h = req.authorization;
    static const std::string scheme = "Bearer ";
    bool bearer = h.size() > scheme.size() && h.compare(0, scheme.size(), scheme) == 0;
    auto verified = service().authenticate(bearer ? h.substr(scheme.size()) : std::string(), required);
    if (!verified) {
      fail(verified.error());
      return false;
    }
    claims = *verified;
    caller = principal{claims.user_id, claims.username, claims.role};
    return true;
  }

  /// Parses the body as a JSON object; answers 400 itself.
  bool parse_body() {
    // The body must be JSON whatever Content-Type says: curl's default form type is a common slip, and
    // refusing it would add nothing since nothing else is accepted.
    // Our bodies nest three levels deep; a deeply nested one is only a way to spend our stack and time.
    if (!json_depth_within(req.body, 32)) {
      fail(errc::invalid_argument, "body is nested too deeply");
      return false;
    }
    body = json::parse(req.body, nullptr, false);
    if (body.is_discarded()) {
      fail(errc::invalid_argument, "body is not valid JSON");
      return false;
    }
    if (!body.is_object()) {
      fail(errc::invalid_argument, "body must be a JSON object");
      return false;
    }
    return true;
  }

  /// Reads ?limit= into `out` when it is given (1..max); answers 400 itself.
  bool query_limit(uint32_t max, uint32_t& out) {
    auto l = query.find("limit");
    if (l == query.end())
      return true;
    auto v = parse_decimal(l->second, max);
    if (!v || *v < 1) {
      fail(*api_service::check_limit(0, max));
      return false;
    }
    out = static_cast<uint32_t>(*v);
    return true;
  }

  /// Reads ?date= (whose stock a menu shows) into `out` when given; answers 400 itself for a day outside today
  /// to the ordering horizon.
  bool query_date(std::string& out) {
    auto d = query.find("date");
    if (d == query.end() || d->second.empty())
      return true;
    if (auto f = api_service::check_stock_date(d->second)) {
      fail(*f);
      return false;
    }
    out = d->second;
    return true;
  }

  /// Reads If-Match into `out` when given; answers 400 itself for anything but one quoted version.
  bool if_match(std::optional<uint64_t>& out) {
    if (req.if_match.empty())
      return true;
    out = parse_etag(req.if_match);
    if (!out) {
      fail(errc::invalid_argument, "If-Match must be one quoted item version, as in the ETag (e.g. \"12\")");
      return false;
    }
    return true;
  }

  /// Answers with an item and its ETag.
  void reply_item(int status, const menu_item& item) {
    http_response resp;
    resp.status = status;
    json_writer w(512);
    jv::write(w, item);
    resp.body = w.take();
    resp.headers.emplace_back("ETag", etag_of(item.version));
    respond(std::move(resp));
  }

  /// A callback for the domain that maps success through `on_ok` and failure to an error response.
  template <class T, class F>
  std::function<void(outcome<T>)> then(F on_ok) {
    return [self = shared_from_this(), on_ok](outcome<T> r) mutable {
      if (!r) {
        self->fail(r.error());
        return;
      }
      on_ok(*self, *r);
    };
  }
};

using call_ptr = std::shared_ptr<call>;

// --- operational ---------------------------------------------------------------------------------------------

void healthz(const call_ptr& c) {
  c->reply(200, {{"status", "ok"}});
}

void readyz(const call_ptr& c) {
  if (!c->api->deps.ready->load()) {
    c->reply(503, {{"status", "starting"}});
    return;
  }
  // Ready means the actors answer, not only that the process runs.
  c->domain().stats([c](outcome<entity_stats> r) {
    if (r)
      c->reply(200, {{"status", "ready"}});
    else
      c->reply(503, {{"status", "not_ready"}, {"message", r.error().message}});
  });
}

/// Constant time whatever the guess: both sides are hashed to 32 bytes first, so not even the length leaks.
bool metrics_authorized(const std::string& header, const std::string& token) {
  if (token.empty())
    return true;
  static const std::string scheme = "Bearer ";
  if (header.size() <= scheme.size() || header.compare(0, scheme.size(), scheme) != 0)
    return false;
  return secrets_equal(header.substr(scheme.size()), token);
}

void send_metrics(const call_ptr& c, std::string text) {
  http_response resp;
  resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
  resp.body = std::move(text);
  c->respond(std::move(resp));
}

void metrics(const call_ptr& c) {
  auto& api = *c->api;
  if (!metrics_authorized(c->req.authorization, api.deps.metrics_token)) {
    http_response resp;
    resp.status = 401;
    resp.headers.emplace_back("WWW-Authenticate", "Bearer");
    resp.body = json{{"error", "unauthenticated"}, {"message", "metrics need the metrics token"}}.dump();
    return c->respond(std::move(resp));
  }
  {
    std::lock_guard lock(api.metrics_mutex);
    auto now = now_ms();
    bool fresh = !api.metrics_text.empty() && now - api.metrics_rendered_ms < api.deps.metrics_cache_ms;
    // While one render runs, others get the previous text rather than starting their own.
    if (fresh || (api.metrics_rendering && !api.metrics_text.empty()))
      return send_metrics(c, api.metrics_text);
    api.metrics_rendering = true;
  }
  c->domain().stats([c](outcome<entity_stats> r) {
    auto& api = *c->api;
    auto& deps = api.deps;
    std::map<std::string, double> edge = {{"open_connections", static_cast<double>(deps.open_connections())},
                                          {"requests_in_flight", static_cast<double>(deps.requests_in_flight())},
                                          {"password_ops_in_flight",
                                           static_cast<double>(deps.password_ops_in_flight())},
                                          {"revoked_tokens", static_cast<double>(deps.revocations->size())}};
    for (auto& [name, read] : deps.extra_gauges)
      edge[name] = static_cast<double>(read());
    std::map<std::string, double> cluster;
    if (deps.cluster_gauges)
      for (auto& [name, value] : deps.cluster_gauges())
        cluster[name] = value;
    auto text = deps.metrics->render(r ? &*r : nullptr, deps.store->stats(), edge, cluster);
    {
      std::lock_guard lock(api.metrics_mutex);
      api.metrics_text = text;
      api.metrics_rendered_ms = now_ms();
      api.metrics_rendering = false;
    }
    send_metrics(c, std::move(text));
  });
}

/// Operators' view of the cluster (members, their state, shards led and replicated): behind the metrics token
/// when one is set, since it names every node's address.
void cluster_view(const call_ptr& c) {
  auto& deps = c->api->deps;
  if (!metrics_authorized(c->req.authorization, deps.metrics_token)) {
    http_response resp;
    resp.status = 401;
    resp.headers.emplace_back("WWW-Authenticate", "Bearer");
    resp.body = json{{"error", "unauthenticated"}, {"message", "the cluster view needs the metrics token"}}.dump();
    return c->respond(std::move(resp));
  }
  auto entity = c->query["entity"];
  if (entity.size() > 512)
    return c->fail(errc::invalid_argument, "entity: at most 512 bytes");
  http_response resp;
  resp.body = deps.cluster_view ? deps.cluster_view(entity) : std::string();
  if (resp.body.empty())
    resp.body = json{{"clustered", false}}.dump();
  c->respond(std::move(resp));
}

/// Moves a member's voting seats to the other members before it is taken away; answered once the decision is
/// recorded in the cluster's metadata (the seats then move a shard at a time: GET /api/v1/cluster shows them).
void decommission_node(const call_ptr& c) {
  static const std::string scheme = "Bearer ";
  const auto& h = c->req.authorization;
  bool bearer = h.size() > scheme.size() && h.compare(0, scheme.size(), scheme) == 0;
  if (auto allowed = c->service().authorize_admin(bearer ? h.substr(scheme.size()) : std::string()); !allowed) {
    if (allowed.error().code != errc::unauthenticated)
      return c->fail(allowed.error());
    http_response resp;
    resp.status = 401;
    resp.headers.emplace_back("WWW-Authenticate", "Bearer");
    resp.body = json{{"error", "unauthenticated"}, {"message", allowed.error().message}}.dump();
    return c->respond(std::move(resp));
  }
  auto node = c->params[0];
  c->service().decommission(node, c->then<bool>([node](call& c, bool&) {
    c.reply(202, {{"node", node}, {"state", "leaving"}});
  }));
}

void openapi(const call_ptr& c) {
  http_response resp;
  resp.content_type = "application/yaml";
  resp.body = openapi_document();
  c->respond(std::move(resp));
}

// --- users and sessions -----------------------------------------------------------------------------------

void create_user(const call_ptr& c) {
  if (!c->parse_body())
    return;
  jv::reader r(c->body);
  register_user cmd;
  cmd.username = r.string("username", true).value_or("");
  cmd.password = r.string("password", true).value_or("");
  cmd.email = r.string("email", true).value_or("");
  auto role_text = r.string("role", true);
  cmd.place = r.string("place", true).value_or("");
  if (!r.ok())
    return c->fail(r.error());
  auto role = parse_role(*role_text);
  if (!role)
    return c->fail(errc::invalid_argument, "role must be customer or merchant");
  cmd.role = *role;
  c->service().register_user(std::move(cmd), c->client_key,
                             c->then<user_view>([](call& c, user_view& u) { c.reply(201, jv::to_json(u)); }));
}

void create_session(const call_ptr& c) {
  if (!c->parse_body())
    return;
  jv::reader r(c->body);
  verify_login cmd;
  cmd.username = r.string("username", true).value_or("");
  cmd.password = r.string("password", true).value_or("");
  if (!r.ok())
    return c->fail(r.error());
  c->service().login(std::move(cmd), c->client_key, c->then<session_grant>([](call& c, session_grant& g) {
    c.reply(201, {{"token", g.token}, {"expires_at", jv::iso8601(g.expires_at_ms)}, {"user", jv::to_json(g.user)}});
  }));
}

void delete_session(const call_ptr& c) {
  if (!c->authenticate())
    return;
  c->service().logout(c->claims, c->then<bool>([](call& c, bool&) { c.no_content(); }));
}

void get_me(const call_ptr& c) {
  if (!c->authenticate())
    return;
  c->service().me(c->claims, c->then<user_view>([](call& c, user_view& u) { c.reply(200, jv::to_json(u)); }));
}

// --- restaurants and menus -------------------------------------------------------------------------------

void create_restaurant_route(const call_ptr& c) {
  if (!c->authenticate(role::merchant) || !c->parse_body())
    return;
  jv::reader r(c->body);
  auto name = r.string("name", true).value_or("");
  auto place = r.string("place", true).value_or("");
  if (!r.ok())
    return c->fail(r.error());
  c->service().create_restaurant(c->claims, std::move(name), std::move(place),
                                 c->then<restaurant>([](call& c, restaurant& x) { c.reply(201, jv::to_json(x)); }));
}

void list_restaurants(const call_ptr& c) {
  if (!c->authenticate())
    return;
  restaurants_query q;
  q.place = c->query["place"];
  q.cursor = c->query["cursor"];
  if (!c->query_limit(500, q.limit))
    return;
  c->service().list_restaurants(std::move(q), c->then<restaurant_list>([](call& c, restaurant_list& list) {
    json out = json::array();
    for (auto& r : list.restaurants)
      out.push_back(jv::to_json(r));
    c.reply(200, {{"restaurants", out},
                  {"next_cursor", list.next_cursor.empty() ? json() : json(list.next_cursor)}});
  }));
}

void get_menu_route(const call_ptr& c) {
  if (!c->authenticate())
    return;
  c->service().get_menu(c->params[0], c->query["date"], c->then<menu_view>([](call& c, menu_view& m) {
    c.reply_shared(m, 256 + 384 * m.items().size(), [&m](json_writer& w) {
      w.begin_object().key("items").begin_array();
      for (auto& i : m.items())
        jv::write(w, i);
      w.end_array().key("restaurant");
      jv::write(w, m.info());
      w.end_object();
    });
  }));
}

/// Reads tags and meals of a menu item body; false after answering 400.
bool read_meals(const call_ptr& c, jv::reader& r, std::optional<std::vector<meal>>& out) {
  auto meals = r.strings("meals", false, 3);
  if (!r.ok()) {
    c->fail(r.error());
    return false;
  }
  if (!meals)
    return true;
  out.emplace();
  for (auto& m : *meals) {
    auto parsed = parse_meal(m);
    if (!parsed) {
      c->fail(errc::invalid_argument, "meals may contain only breakfast, lunch, dinner");
      return false;
    }
    out->push_back(*parsed);
  }
  return true;
}

void put_item(const call_ptr& c) {
  if (!c->authenticate(role::merchant) || !c->parse_body())
    return;
  if (auto f = check_id("item id", c->params[1]))
    return c->fail(*f);
  jv::reader r(c->body);
  upsert_menu_item cmd;
  cmd.restaurant_id = c->params[0];
  cmd.item_id = c->params[1];
  if (!c->if_match(cmd.if_match))
    return;
  if (!c->req.if_none_match.empty()) {
    if (c->req.if_none_match != "*")
      return c->fail(errc::invalid_argument, "If-None-Match is supported only as * (create only)");
    cmd.if_none_match = true;
  }
  auto& in = cmd.input;
  in.name = r.string("name", true).value_or("");
  in.description = r.string("description", false).value_or("");
  in.price_cents = r.integer("price_cents", true, 0, max_price_cents).value_or(0);
  in.daily_stock = r.integer("daily_stock", false, 0, max_stock).value_or(0);
  // A plain item states its free units; a daily item's stock is computed per day, so a body read back from
  // GET (which shows it) may carry it, and it is not restated.
  auto stock = r.integer("stock", in.daily_stock == 0, 0, max_stock);
  in.stock = stock.value_or(0);
  in.tags = r.strings("tags", false, max_tags).value_or(std::vector<std::string>{});
  in.image_url = r.string("image_url", false).value_or("");
  std::optional<std::vector<meal>> meals;
  if (!r.ok())
    return c->fail(r.error());
  if (!read_meals(c, r, meals))
    return;
  in.meals = meals.value_or(std::vector<meal>{});
  c->service().put_item(c->claims, std::move(cmd), c->then<upsert_result>([](call& c, upsert_result& res) {
    c.reply_item(res.created ? 201 : 200, res.item);
  }));
}

void patch_item(const call_ptr& c) {
  if (!c->authenticate(role::merchant) || !c->parse_body())
    return;
  static const std::set<std::string> fields = {"name", "description", "price_cents", "stock", "daily_stock",
                                               "tags", "meals", "image_url"};
  for (auto& [key, value] : c->body.items())
    if (!fields.count(key))
      return c->fail(errc::invalid_argument, "unknown field " + key.substr(0, 64) + "; a PATCH names only "
                                             "name, description, price_cents, stock, daily_stock, tags, meals, image_url");
  if (c->body.empty())
    return c->fail(errc::invalid_argument, "name at least one field to change");
  jv::reader r(c->body);
  patch_menu_item cmd;
  cmd.restaurant_id = c->params[0];
  cmd.item_id = c->params[1];
  if (!c->if_match(cmd.if_match))
    return;
  cmd.name = r.string("name", false);
  cmd.description = r.string("description", false);
  cmd.price_cents = r.integer("price_cents", false, 0, max_price_cents);
  cmd.stock = r.integer("stock", false, 0, max_stock);
  cmd.daily_stock = r.integer("daily_stock", false, 0, max_stock);
  cmd.tags = r.strings("tags", false, max_tags);
  cmd.image_url = r.string("image_url", false);
  if (!r.ok())
    return c->fail(r.error());
  if (!read_meals(c, r, cmd.meals))
    return;
  c->service().patch_item(c->claims, std::move(cmd), c->then<upsert_result>([](call& c, upsert_result& res) {
    c.reply_item(200, res.item);
  }));
}

void get_item(const call_ptr& c) {
  if (!c->authenticate())
    return;
  c->service().get_item(c->params[0], c->params[1], c->query["date"],
                        c->then<menu_item>([](call& c, menu_item& i) { c.reply_item(200, i); }));
}

void delete_item(const call_ptr& c) {
  if (!c->authenticate(role::merchant))
    return;
  delete_menu_item cmd;
  cmd.restaurant_id = c->params[0];
  cmd.item_id = c->params[1];
  if (!c->if_match(cmd.if_match))
    return;
  c->service().delete_item(c->claims, std::move(cmd), c->then<bool>([](call& c, bool) { c.no_content(); }));
}

void search_menu(const call_ptr& c) {
  if (!c->authenticate())
    return;
  menu_query q;
  q.place = c->query["place"];
  q.tag = c->query["tag"];
  q.text = c->query["q"];
  q.cursor = c->query["cursor"];
  q.date = c->query["date"];
  if (auto m = c->query.find("meal"); m != c->query.end() && !m->second.empty()) {
    q.for_meal = parse_meal(m->second);
    if (!q.for_meal)
      return c->fail(errc::invalid_argument, "meal must be breakfast, lunch or dinner");
  }
  if (!c->query_limit(100, q.limit))
    return;
  c->service().search_menu(std::move(q), c->then<menu_page>([](call& c, menu_page& page) {
    c.reply_shared(page, 256 + 448 * page.items().size(), [&page](json_writer& w) {
      w.begin_object().key("items").begin_array();
      for (auto& e : page.items())
        jv::write(w, e.item, &e.restaurant_name);
      w.end_array().key("next_cursor");
      page.next_cursor().empty() ? w.null() : w.value(page.next_cursor());
      w.end_object();
    });
  }));
}

// --- orders -------------------------------------------------------------------------------------------------

void create_order(const call_ptr& c) {
  if (!c->authenticate(role::customer) || !c->parse_body())
    return;
  jv::reader r(c->body);
  place_order cmd;
  cmd.restaurant_id = r.string("restaurant_id", true).value_or("");
  cmd.lines = r.lines("items", true).value_or(std::vector<line_request>{});
  auto meal_text = r.string("meal", false);
  cmd.date = r.string("date", false);
  cmd.note = r.string("note", false).value_or("");
  if (!r.ok())
    return c->fail(r.error());
  if (meal_text) {
    cmd.for_meal = parse_meal(*meal_text);
    if (!cmd.for_meal)
      return c->fail(errc::invalid_argument, "meal must be breakfast, lunch or dinner");
  }
  cmd.idempotency_key = c->req.idempotency_key;
  c->service().place_order(c->claims, std::move(cmd),
                           c->then<order>([](call& c, order& o) { c.reply_order(201, o); }));
}

void list_orders_route(const call_ptr& c) {
  if (!c->authenticate())
    return;
  list_orders q;
  if (auto s = c->query.find("status"); s != c->query.end() && !s->second.empty()) {
    q.status = parse_order_status(s->second);
    if (!q.status)
      return c->fail(errc::invalid_argument, "status must be placed, confirmed, delivered or cancelled");
  }
  if (auto m = c->query.find("month"); m != c->query.end() && !m->second.empty())
    q.month = m->second;
  if (!c->query_limit(500, q.limit))
    return;
  q.cursor = c->query["cursor"];
  c->service().list_orders(c->claims, std::move(q), c->then<order_list>([](call& c, order_list& list) {
    json_writer w(256 + 768 * list.orders.size());
    w.begin_object().key("next_cursor");
    list.next_cursor.empty() ? w.null() : w.value(list.next_cursor);
    w.key("orders").begin_array();
    for (auto& o : list.orders)
      jv::write(w, o);
    w.end_array().end_object();
    c.reply_written(200, w);
  }));
}

void get_order_route(const call_ptr& c) {
  if (!c->authenticate())
    return;
  c->service().get_order(c->claims, c->params[0],
                         c->then<order>([](call& c, order& o) { c.reply_order(200, o); }));
}

void transition(const call_ptr& c, order_action action) {
  if (!c->authenticate())
    return;
  c->service().transition_order(c->claims, c->params[0], action,
                                c->then<order>([](call& c, order& o) { c.reply_order(200, o); }));
}

void confirm_order(const call_ptr& c) { transition(c, order_action::confirm); }
void deliver_order(const call_ptr& c) { transition(c, order_action::deliver); }
void cancel_order(const call_ptr& c) { transition(c, order_action::cancel); }

void patch_order(const call_ptr& c) {
  if (!c->authenticate(role::merchant) || !c->parse_body())
    return;
  jv::reader r(c->body);
  edit_order cmd;
  cmd.order_id = c->params[0];
  if (c->body.contains("note"))
    return c->fail(errc::invalid_argument, "note is the customer's; a merchant writes merchant_note");
  cmd.lines = r.lines("items", false);
  cmd.merchant_note = r.string("merchant_note", false);
  if (!r.ok())
    return c->fail(r.error());
  c->service().edit_order(c->claims, std::move(cmd),
                          c->then<order>([](call& c, order& o) { c.reply_order(200, o); }));
}

std::vector<route> make_routes() {
  std::vector<route> routes = {
    {"GET", "/healthz", healthz, {}},
    {"GET", "/readyz", readyz, {}},
    {"GET", "/metrics", metrics, {}},
    {"GET", "/api/v1/openapi.yaml", openapi, {}},
    {"GET", "/api/v1/cluster", cluster_view, {}},
    {"POST", "/api/v1/admin/nodes/{}/decommission", decommission_node, {}},
    {"POST", "/api/v1/users", create_user, {}},
    {"POST", "/api/v1/sessions", create_session, {}},
    {"DELETE", "/api/v1/sessions/current", delete_session, {}},
    {"GET", "/api/v1/me", get_me, {}},
    {"POST", "/api/v1/restaurants", create_restaurant_route, {}},
    {"GET", "/api/v1/restaurants", list_restaurants, {}},
    {"GET", "/api/v1/restaurants/{}/menu", get_menu_route, {}},
    {"GET", "/api/v1/restaurants/{}/menu/items/{}", get_item, {}},
    {"PUT", "/api/v1/restaurants/{}/menu/items/{}", put_item, {}},
    {"PATCH", "/api/v1/restaurants/{}/menu/items/{}", patch_item, {}},
    {"DELETE", "/api/v1/restaurants/{}/menu/items/{}", delete_item, {}},
    {"GET", "/api/v1/menu", search_menu, {}},
    {"POST", "/api/v1/orders", create_order, {}},
    {"GET", "/api/v1/orders", list_orders_route, {}},
    {"GET", "/api/v1/orders/{}", get_order_route, {}},
    {"PATCH", "/api/v1/orders/{}", patch_order, {}},
    {"POST", "/api/v1/orders/{}/confirm", confirm_order, {}},
    {"POST", "/api/v1/orders/{}/deliver", deliver_order, {}},
    {"POST", "/api/v1/orders/{}/cancel", cancel_order, {}},
  };
  for (auto& r : routes)
    r.segments = split_path(r.pattern);
  return routes;
}

bool match(const route& r, const std::vector<std::string>& segments, std::vector<std::string>& params) {
  if (r.segments.size() != segments.size())
    return false;
  std::vector<std::string> captured;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (r.segments[i] == "{}") {
      if (segments[i].empty())
        return false;
      captured.push_back(segments[i]);
    } else if (r.segments[i] != segments[i]) {
      return false;
    }
  }
  params = std::move(captured);
  return true;
}

} // namespace

api_router::api_router(api_dependencies deps) : impl_(std::make_shared<impl>()) {
  impl_->deps = std::move(deps);
  impl_->service = std::make_unique<api_service>(api_service::dependencies{impl_->deps.domain, impl_->deps.tokens,
                                                                            impl_->deps.revocations, impl_->deps.logins,
                                                                            impl_->deps.token_ttl_s,
                                                                            impl_->deps.admin_token});
  impl_->routes = make_routes();
}

api_router::~api_router() = default;

std::vector<std::string> api_router::route_table() {
  std::vector<std::string> out;
  for (auto& r : make_routes())
    out.push_back(std::string(r.method) + " " + r.pattern);
  return out;
}

void api_router::handle(http_request req, http_responder done) {
  auto c = std::make_shared<call>();
  c->api = impl_.get();
  c->req = std::move(req);
  c->done = std::move(done);
  if (c->req.path.empty() || c->req.path.front() != '/' || c->req.path.size() > 2048)
    return c->fail(errc::invalid_argument, "malformed request target");
  c->client_key = address_key(c->req.client_address);
  // Every path, probes and metrics included: none of them may be called without bound by one client.
  if (auto wait = impl_->deps.limiter->acquire(c->client_key, now_ms()); wait > 0)
    return c->fail(domain::fail(errc::throttled, "rate limit exceeded", std::to_string(wait)));
  auto segments = split_path(c->req.path);
  std::string allowed;
  for (auto& r : impl_->routes) {
    std::vector<std::string> params;
    if (!match(r, segments, params))
      continue;
    if (c->req.method != r.method) {
      allowed += (allowed.empty() ? "" : ", ") + std::string(r.method);
      continue;
    }
    c->route_name = r.pattern;
    c->params = std::move(params);
    if (!parse_query(c->req.raw_query, c->query))
      return c->fail(errc::invalid_argument, "malformed query string");
    r.handler(c);
    return;
  }
  if (!allowed.empty()) {
    http_response resp;
    resp.status = 405;
    resp.headers.emplace_back("Allow", allowed);
    resp.body = json{{"error", "method_not_allowed"}, {"message", "use " + allowed}}.dump();
    c->respond(std::move(resp));
    return;
  }
  http_response resp;
  resp.status = 404;
  resp.body = json{{"error", "not_found"}, {"message", "no such endpoint"}}.dump();
  c->respond(std::move(resp));
}

} // namespace bento::node
