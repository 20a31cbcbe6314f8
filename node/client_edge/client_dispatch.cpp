#include "node/client_edge/client_dispatch.hpp"

#include <cstdlib>
#include <optional>
#include <utility>

#include "node/api/api_service.hpp"
#include "node/auth/throttles.hpp"
#include "protocol/domain/calendar.hpp"
#include "node/client_edge/client_messages.hpp"
#include "protocol/domain/validation.hpp"

namespace bento::node {

using namespace bento::domain;
namespace pb = bento::client::v1;
namespace cm = client_messages;

namespace {

void set_error(pb::Response& resp, const failure& f) {
  resp.set_error(to_string(f.code));
  resp.set_message(f.message);
  if (f.code == errc::throttled) {
    // The domain carries a throttle's wait in item_id (milliseconds as text).
    auto ms = f.item_id.empty() ? 1000 : std::max(1000LL, std::atoll(f.item_id.c_str()));
    resp.set_retry_after_ms(static_cast<uint32_t>(std::min<long long>(ms, 3600 * 1000)));
    return;
  }
  if (f.code == errc::overloaded || f.code == errc::unavailable || f.code == errc::storage_failure)
    resp.set_retry_after_ms(1000);
  if (!f.item_id.empty() && (f.code == errc::out_of_stock || f.code == errc::meal_unavailable
                             || f.code == errc::invalid_argument))
    resp.set_item_id(f.item_id);
}

enum class access : uint8_t { none, any, customer, merchant, admin, operators };

/// One request being answered: its id, where the answer goes and a leader hint to add.
struct exchange {
  uint64_t id = 0;
  std::string leader;
  client_dispatch::respond done;

  void fail(const failure& f) const {
    pb::Response resp;
    resp.set_id(id);
    resp.set_leader(leader);
    set_error(resp, f);
    done(std::move(resp));
  }

  void fail(errc code, std::string message) const { fail(domain::fail(code, std::move(message))); }

  /// A code of the protocol's own (docs/protocol.md), not a domain one.
  void fail(const char* code, std::string message, std::string leader_hint = {}) const {
    pb::Response resp;
    resp.set_id(id);
    resp.set_error(code);
    resp.set_message(std::move(message));
    resp.set_leader(leader_hint.empty() ? leader : leader_hint);
    done(std::move(resp));
  }

  template <class Message>
  void ok(const Message& reply) const {
    ok_bytes(reply.SerializeAsString());
  }

  void ok_bytes(std::string payload) const {
    pb::Response resp;
    resp.set_id(id);
    resp.set_leader(leader);
    resp.set_payload(std::move(payload));
    done(std::move(resp));
  }

  /// The same for a shared answer (domain::shared_reply): encoded by its first reader, reused by the rest.
  template <class Message, class T, class Encode>
  api_service::reply<T> then_shared(Encode encode) const {
    return [x = *this, encode](outcome<T> r) {
      if (!r)
        return x.fail(r.error());
      auto bytes = r->binary().get();
      if (!bytes) {
        Message m;
        encode(*r, m);
        bytes = std::make_shared<const std::string>(m.SerializeAsString());
        r->binary().set(bytes);
      }
      x.ok_bytes(*bytes);
    };
  }

  /// A reply callback for api_service: success is encoded into `Message` by `encode`.
  template <class Message, class T, class Encode>
  api_service::reply<T> then(Encode encode) const {
    return [x = *this, encode](outcome<T> r) {
      if (!r)
        return x.fail(r.error());
      Message m;
      encode(*r, m);
      x.ok(m);
    };
  }
};

template <class Message>
bool parse(const pb::Request& req, Message& out, const exchange& x) {
  if (out.ParseFromString(req.payload()))
    return true;
  x.fail(errc::invalid_argument, "payload is not a valid request message for this method");
  return false;
}

access access_of(pb::Method m) {
  switch (m) {
    case pb::REGISTER_USER:
    case pb::LOGIN:
    case pb::SHARD_MAP: return access::none;
    case pb::DECOMMISSION_NODE: return access::admin;
    case pb::CLUSTER_STATUS: return access::operators;
    case pb::CREATE_RESTAURANT:
    case pb::PUT_ITEM:
    case pb::PATCH_ITEM:
    case pb::DELETE_ITEM:
    case pb::EDIT_ORDER: return access::merchant;
    case pb::PLACE_ORDER: return access::customer;
    default: return access::any;
  }
}

std::optional<uint64_t> if_match_of(bool has, uint64_t version) {
  return has ? std::optional<uint64_t>(version) : std::nullopt;
}

void encode_item_written(const upsert_result& r, pb::ItemWritten& m) {
  cm::to_pb(r.item, *m.mutable_item());
  m.set_created(r.created);
}

void encode_order(const order& o, pb::Order& m) {
  cm::to_pb(o, m);
}

} // namespace

client_dispatch::client_dispatch(client_dispatch_dependencies deps) : deps_(std::move(deps)) {}
client_dispatch::~client_dispatch() = default;

void client_dispatch::handle(const pb::Request& req, const std::string& client_key, respond done) {
  exchange x{req.id(), {}, std::move(done)};
  auto& svc = *deps_.service;
  // The same per-address budget as HTTP's (BENTO_RATE_LIMIT): one client cannot get around it by port.
  if (deps_.limiter)
    if (auto wait = deps_.limiter->acquire(client_key, now_ms()); wait > 0)
      return x.fail(domain::fail(errc::throttled, "rate limit exceeded", std::to_string(wait)));
  if (!pb::Method_IsValid(req.method()) || req.method() == pb::METHOD_UNSPECIFIED)
    return x.fail("unknown_method", "this node does not know method " + std::to_string(req.method()));
  if (req.key().size() > 512)
    return x.fail(errc::invalid_argument, "key: at most 512 bytes");
  if (deps_.clustered && !req.key().empty() && deps_.route) {
    auto where = deps_.route(req.key());
    if (!where.here) {
      if (req.direct())
        return x.fail("not_leader",
                      where.leader.empty() ? "this node does not lead the key's shard, and knows no leader"
                                           : "this node does not lead the key's shard",
                      where.leader);
      x.leader = where.leader; // forwarded below, as HTTP does; the hint lets the client go there next time
    }
  }
  std::optional<token_claims> caller;
  auto needs = access_of(req.method());
  if (needs == access::admin) {
    if (auto allowed = svc.authorize_admin(req.token()); !allowed)
      return x.fail(allowed.error());
  } else if (needs == access::operators && !deps_.metrics_token.empty()) {
    // It names every node's addresses: behind the metrics token where one is set, as over HTTP.
    if (!secrets_equal(req.token(), deps_.metrics_token))
      return x.fail(errc::unauthenticated, "the cluster status needs the metrics token");
  } else if (needs != access::none) {
    auto required = needs == access::customer   ? std::optional<role>(role::customer)
                    : needs == access::merchant ? std::optional<role>(role::merchant)
                                                : std::nullopt;
    auto verified = svc.authenticate(req.token(), required);
    if (!verified)
      return x.fail(verified.error());
    caller = std::move(*verified);
  }

  switch (req.method()) {
    case pb::REGISTER_USER: {
      pb::RegisterUserRequest in;
      if (!parse(req, in, x))
        return;
      auto r = cm::role_of(in.role());
      if (!r)
        return x.fail(errc::invalid_argument, "role must be customer or merchant");
      register_user cmd{in.username(), in.password(), in.email(), *r, in.place()};
      return svc.register_user(std::move(cmd), client_key,
                               x.then<pb::User, user_view>([](const user_view& u, pb::User& m) { cm::to_pb(u, m); }));
    }
    case pb::LOGIN: {
      pb::LoginRequest in;
      if (!parse(req, in, x))
        return;
      return svc.login(verify_login{in.username(), in.password()}, client_key,
                       x.then<pb::Session, session_grant>([](const session_grant& g, pb::Session& m) {
                         m.set_token(g.token);
                         m.set_expires_at_ms(g.expires_at_ms);
                         cm::to_pb(g.user, *m.mutable_user());
                       }));
    }
    case pb::LOGOUT:
      return svc.logout(*caller, x.then<pb::Empty, bool>([](bool, pb::Empty&) {}));
    case pb::ME:
      return svc.me(*caller, x.then<pb::User, user_view>([](const user_view& u, pb::User& m) { cm::to_pb(u, m); }));
    case pb::CREATE_RESTAURANT: {
      pb::CreateRestaurantRequest in;
      if (!parse(req, in, x))
        return;
      return svc.create_restaurant(*caller, in.name(), in.place(),
                                   x.then<pb::Restaurant, restaurant>(
                                     [](const restaurant& r, pb::Restaurant& m) { cm::to_pb(r, m); }));
    }
    case pb::LIST_RESTAURANTS: {
      pb::ListRestaurantsRequest in;
      if (!parse(req, in, x))
        return;
      restaurants_query q;
      q.place = in.place();
      q.cursor = in.cursor();
      if (in.limit() != 0)
        q.limit = in.limit();
      return svc.list_restaurants(std::move(q), x.then<pb::RestaurantList, restaurant_list>(
                                                  [](const restaurant_list& l, pb::RestaurantList& m) {
                                                    for (auto& r : l.restaurants)
                                                      cm::to_pb(r, *m.add_restaurants());
                                                    m.set_next_cursor(l.next_cursor);
                                                  }));
    }
    case pb::GET_MENU: {
      pb::GetMenuRequest in;
      if (!parse(req, in, x))
        return;
      return svc.get_menu(in.restaurant_id(), in.date(),
                          x.then_shared<pb::Menu, menu_view>([](const menu_view& v, pb::Menu& m) {
                            cm::to_pb(v.info(), *m.mutable_restaurant());
                            for (auto& i : v.items())
                              cm::to_pb(i, *m.add_items());
                          }));
    }
    case pb::GET_ITEM: {
      pb::ItemRequest in;
      if (!parse(req, in, x))
        return;
      return svc.get_item(in.restaurant_id(), in.item_id(), in.date(),
                          x.then<pb::MenuItem, menu_item>([](const menu_item& i, pb::MenuItem& m) { cm::to_pb(i, m); }));
    }
    case pb::PUT_ITEM: {
      pb::PutItemRequest in;
      if (!parse(req, in, x))
        return;
      upsert_menu_item cmd;
      cmd.restaurant_id = in.restaurant_id();
      cmd.item_id = in.item_id();
      cmd.if_match = if_match_of(in.has_if_match(), in.if_match());
      cmd.if_none_match = in.create_only();
      auto& i = cmd.input;
      i.name = in.name();
      i.description = in.description();
      i.price_cents = in.price_cents();
      i.stock = in.stock();
      i.daily_stock = in.daily_stock();
      i.tags.assign(in.tags().begin(), in.tags().end());
      i.image_url = in.image_url();
      if (!cm::meals_of(in.meals(), i.meals))
        return x.fail(errc::invalid_argument, "meals may contain only breakfast, lunch, dinner");
      if (i.price_cents < 0 || i.price_cents > max_price_cents || i.stock < 0 || i.stock > max_stock
          || i.daily_stock < 0 || i.daily_stock > max_stock)
        return x.fail(errc::invalid_argument, "price_cents, stock and daily_stock must be within their ranges");
      return svc.put_item(*caller, std::move(cmd), x.then<pb::ItemWritten, upsert_result>(encode_item_written));
    }
    case pb::PATCH_ITEM: {
      pb::PatchItemRequest in;
      if (!parse(req, in, x))
        return;
      patch_menu_item cmd;
      cmd.restaurant_id = in.restaurant_id();
      cmd.item_id = in.item_id();
      cmd.if_match = if_match_of(in.has_if_match(), in.if_match());
      if (in.has_name())
        cmd.name = in.name();
      if (in.has_description())
        cmd.description = in.description();
      if (in.has_price_cents())
        cmd.price_cents = in.price_cents();
      if (in.has_stock())
        cmd.stock = in.stock();
      if (in.has_daily_stock())
        cmd.daily_stock = in.daily_stock();
      if (in.has_tags())
        cmd.tags.emplace(in.tags().values().begin(), in.tags().values().end());
      if (in.has_image_url())
        cmd.image_url = in.image_url();
      if (in.has_meals()) {
        cmd.meals.emplace();
        if (!cm::meals_of(in.meals().values(), *cmd.meals))
          return x.fail(errc::invalid_argument, "meals may contain only breakfast, lunch, dinner");
      }
      auto out_of_range = [](const std::optional<int64_t>& v, int64_t max) { return v && (*v < 0 || *v > max); };
      if (out_of_range(cmd.price_cents, max_price_cents) || out_of_range(cmd.stock, max_stock)
          || out_of_range(cmd.daily_stock, max_stock))
        return x.fail(errc::invalid_argument, "price_cents, stock and daily_stock must be within their ranges");
      if (cmd.tags && cmd.tags->size() > max_tags)
        return x.fail(errc::invalid_argument, "tags: at most " + std::to_string(max_tags));
      return svc.patch_item(*caller, std::move(cmd), x.then<pb::ItemWritten, upsert_result>(encode_item_written));
    }
    case pb::DELETE_ITEM: {
      pb::ItemRequest in;
      if (!parse(req, in, x))
        return;
      delete_menu_item cmd{{}, in.restaurant_id(), in.item_id(), if_match_of(in.has_if_match(), in.if_match())};
      return svc.delete_item(*caller, std::move(cmd), x.then<pb::Empty, bool>([](bool, pb::Empty&) {}));
    }
    case pb::SEARCH_MENU: {
      pb::SearchMenuRequest in;
      if (!parse(req, in, x))
        return;
      menu_query q;
      q.place = in.place();
      q.tag = in.tag();
      q.text = in.query();
      q.cursor = in.cursor();
      q.date = in.date();
      if (in.meal() != pb::MEAL_UNSPECIFIED) {
        q.for_meal = cm::meal_of(in.meal());
        if (!q.for_meal)
          return x.fail(errc::invalid_argument, "meal must be breakfast, lunch or dinner");
      }
      if (in.limit() != 0)
        q.limit = in.limit();
      return svc.search_menu(std::move(q), x.then_shared<pb::MenuPage, menu_page>([](const menu_page& p, pb::MenuPage& m) {
        for (auto& e : p.items()) {
          auto* item = m.add_items();
          cm::to_pb(e.item, *item);
          item->set_restaurant_id(e.item.restaurant_id);
          item->set_restaurant_name(e.restaurant_name);
        }
        m.set_next_cursor(p.next_cursor());
      }));
    }
    case pb::PLACE_ORDER: {
      pb::PlaceOrderRequest in;
      if (!parse(req, in, x))
        return;
      if (in.restaurant_id().empty())
        return x.fail(errc::invalid_argument, "restaurant_id is required"); // as HTTP's body reader says
      place_order cmd;
      cmd.restaurant_id = in.restaurant_id();
      cmd.lines = cm::lines_of(in.items());
      if (in.meal() != pb::MEAL_UNSPECIFIED) {
        cmd.for_meal = cm::meal_of(in.meal());
        if (!cmd.for_meal)
          return x.fail(errc::invalid_argument, "meal must be breakfast, lunch or dinner");
      }
      if (!in.date().empty())
        cmd.date = in.date();
      cmd.note = in.note();
      cmd.idempotency_key = req.idempotency_key();
      return svc.place_order(*caller, std::move(cmd), x.then<pb::Order, order>(encode_order));
    }
    case pb::LIST_ORDERS: {
      pb::ListOrdersRequest in;
      if (!parse(req, in, x))
        return;
      list_orders q;
      if (in.status() != pb::STATUS_UNSPECIFIED) {
        q.status = cm::status_of(in.status());
        if (!q.status)
          return x.fail(errc::invalid_argument, "status must be placed, confirmed, delivered or cancelled");
      }
      if (!in.month().empty())
        q.month = in.month();
      if (in.limit() != 0)
        q.limit = in.limit();
      q.cursor = in.cursor();
      return svc.list_orders(*caller, std::move(q), x.then<pb::OrderList, order_list>([](const order_list& l,
                                                                                          pb::OrderList& m) {
        for (auto& o : l.orders)
          cm::to_pb(o, *m.add_orders());
        m.set_next_cursor(l.next_cursor);
      }));
    }
    case pb::GET_ORDER:
    case pb::CONFIRM_ORDER:
    case pb::DELIVER_ORDER:
    case pb::CANCEL_ORDER: {
      pb::OrderRequest in;
      if (!parse(req, in, x))
        return;
      auto reply = x.then<pb::Order, order>(encode_order);
      if (req.method() == pb::GET_ORDER)
        return svc.get_order(*caller, in.order_id(), std::move(reply));
      auto action = req.method() == pb::CONFIRM_ORDER   ? order_action::confirm
                    : req.method() == pb::DELIVER_ORDER ? order_action::deliver
                                                        : order_action::cancel;
      return svc.transition_order(*caller, in.order_id(), action, std::move(reply));
    }
    case pb::EDIT_ORDER: {
      pb::EditOrderRequest in;
      if (!parse(req, in, x))
        return;
      edit_order cmd;
      cmd.order_id = in.order_id();
      if (in.has_items())
        cmd.lines = cm::lines_of(in.items());
      if (in.has_merchant_note())
        cmd.merchant_note = in.merchant_note();
      return svc.edit_order(*caller, std::move(cmd), x.then<pb::Order, order>(encode_order));
    }
    case pb::CLUSTER_STATUS: {
      pb::ClusterStatus m;
      m.set_clustered(deps_.clustered);
      m.set_node_id(deps_.node_id);
      if (deps_.status) {
        auto st = deps_.status();
        m.set_shards(st.shards);
        m.set_replicas(st.replicas);
        for (auto& s : st.members) {
          auto* x2 = m.add_members();
          x2->set_id(s.id);
          x2->set_address(s.address);
          x2->set_state(s.state);
          x2->set_incarnation(s.incarnation);
          x2->set_shards_led(static_cast<uint32_t>(s.shards_led));
          x2->set_shards_replicated(static_cast<uint32_t>(s.shards_replicated));
          x2->set_client_address(s.client_address);
        }
      }
      return x.ok(m);
    }
    case pb::SHARD_MAP: {
      pb::ShardMap m;
      if (deps_.shard_map) {
        auto map = deps_.shard_map();
        m.set_epoch(map.epoch);
        m.set_shards(map.shards);
        for (auto& l : map.leaders)
          m.add_leaders(l);
        for (auto& n : map.nodes)
          m.add_nodes(n);
      }
      return x.ok(m);
    }
    case pb::DECOMMISSION_NODE: {
      pb::DecommissionRequest in;
      if (!parse(req, in, x))
        return;
      return svc.decommission(in.node_id(), x.then<pb::Empty, bool>([](bool, pb::Empty&) {}));
    }
    default:
      return x.fail("unknown_method", "this node does not know method " + std::to_string(req.method()));
  }
}

} // namespace bento::node
