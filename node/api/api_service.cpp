#include "node/api/api_service.hpp"

#include <utility>

#include <sodium.h>

#include "actors/user/login_guard.hpp"
#include "node/auth/revocation_list.hpp"
#include "node/domain_client.hpp"
#include "protocol/domain/calendar.hpp"
#include "protocol/domain/ids.hpp"
#include "protocol/domain/validation.hpp"

namespace bento::node {

using namespace bento::domain;

namespace {

int64_t now_s() {
  return now_ms() / 1000;
}

} // namespace

principal api_service::principal_of(const token_claims& claims) {
  return principal{claims.user_id, claims.username, claims.role};
}

outcome<token_claims> api_service::authenticate(const std::string& token, std::optional<role> required) const {
  if (token.empty())
    return fail(errc::unauthenticated, "missing bearer token");
  auto verified = deps_.tokens->verify(token, now_s());
  if (!verified || deps_.revocations->is_revoked(*verified))
    return fail(errc::unauthenticated, "missing, invalid or expired token");
  if (required && verified->role != *required)
    return fail(errc::forbidden, std::string("this requires the ") + to_string(*required) + " role");
  return *verified;
}

bool secrets_equal(const std::string& given, const std::string& wanted) noexcept {
  // Both sides hashed to 32 bytes first, so not even the length leaks through the comparison's time.
  unsigned char a[32], b[32];
  crypto_generichash(a, sizeof a, reinterpret_cast<const unsigned char*>(given.data()), given.size(), nullptr, 0);
  crypto_generichash(b, sizeof b, reinterpret_cast<const unsigned char*>(wanted.data()), wanted.size(), nullptr, 0);
  return sodium_memcmp(a, b, sizeof a) == 0;
}

outcome<unit_t> api_service::authorize_admin(const std::string& bearer) const {
  if (deps_.admin_token.empty())
    return fail(errc::forbidden, "admin calls are disabled on this node: set BENTO_ADMIN_TOKEN");
  if (bearer.empty() || !secrets_equal(bearer, deps_.admin_token))
    return fail(errc::unauthenticated, "admin calls need the admin token");
  return unit;
}

void api_service::decommission(std::string node_id, reply<bool> done) {
  if (node_id.empty() || node_id.size() > 64)
    return done(fail(errc::not_found, "no such member"));
  deps_.domain->call(set_member_state{std::move(node_id), "leaving"}, std::move(done));
}

std::optional<failure> api_service::check_limit(uint32_t limit, uint32_t max) {
  if (limit < 1 || limit > max)
    return fail(errc::invalid_argument, "limit must be an integer between 1 and " + std::to_string(max));
  return std::nullopt;
}

std::optional<failure> api_service::check_stock_date(const std::string& date) {
  if (date.empty())
    return std::nullopt;
  auto today = local_date(now_ms());
  if (!is_valid_date(date) || date < today || date > add_days(today, max_days_ahead))
    return fail(errc::invalid_argument,
                "date must be a day as YYYY-MM-DD from today to " + std::to_string(max_days_ahead) + " days ahead");
  return std::nullopt;
}

void api_service::register_user(domain::register_user cmd, const std::string& client_key,
                                reply<user_view> done) {
  cmd.client_address = client_key;
  if (auto f = check_registration(cmd))
    return done(*f);
  deps_.domain->call(std::move(cmd), std::move(done));
}

void api_service::login(verify_login cmd, const std::string& client_key, reply<session_grant> done) {
  cmd.client_address = client_key;
  auto& guard = *deps_.logins;
  // The same answer whether or not the name exists: the guard knows nothing of accounts.
  if (auto wait = guard.retry_after_ms(cmd.username, client_key, now_ms()); wait > 0)
    return done(fail(errc::throttled, "too many failed logins; retry later", std::to_string(wait)));
  // No account has such a name or password, so no hash is spent on it; it still counts as a failure.
  if (check_username(cmd.username) || cmd.password.size() > 1024) {
    guard.record_failure(cmd.username.substr(0, 64), client_key, now_ms());
    return done(fail(errc::unauthenticated, "invalid username or password"));
  }
  auto tokens = deps_.tokens;
  auto ttl = deps_.token_ttl_s;
  deps_.domain->call(std::move(cmd), [tokens, ttl, done = std::move(done)](outcome<user_view> u) {
    if (!u)
      return done(u.error()); // counted by the user's actor, on the node that leads the user's shard
    token_claims claims;
    claims.user_id = u->id;
    claims.username = u->username;
    claims.role = u->role;
    claims.token_id = random_id("t_");
    claims.issued_at_s = now_s();
    claims.expires_at_s = claims.issued_at_s + ttl;
    done(session_grant{tokens->issue(claims), claims.expires_at_s * 1000, std::move(*u)});
  });
}

void api_service::logout(const token_claims& caller, reply<bool> done) {
  // The user's actor records the ended session in the user's shard; every node's list hears of it as that
  // write is applied there. This node's list takes it at once, so the next request here is refused already.
  end_session cmd{caller.username, ended_session{caller.user_id, caller.token_id, caller.issued_at_s,
                                                 caller.expires_at_s}};
  auto revocations = deps_.revocations;
  deps_.domain->call(std::move(cmd), [revocations, caller, done = std::move(done)](outcome<bool> r) {
    if (r)
      revocations->revoke(caller, now_s());
    done(std::move(r));
  });
}

void api_service::me(const token_claims& caller, reply<user_view> done) {
  deps_.domain->call(get_user{caller.username}, std::move(done));
}

void api_service::create_restaurant(const token_claims& caller, std::string name, std::string place,
                                    reply<restaurant> done) {
  domain::create_restaurant cmd;
  cmd.caller = principal_of(caller);
  cmd.restaurant_id = random_id("r_");
  cmd.name = std::move(name);
  cmd.place = std::move(place);
  // Through the merchant's user actor, which keeps the count of restaurants per merchant.
  deps_.domain->call(open_restaurant{std::move(cmd)}, std::move(done));
}

void api_service::list_restaurants(restaurants_query q, reply<restaurant_list> done) {
  if (auto f = check_text("place", q.place, max_place_length, false))
    return done(*f);
  if (q.cursor.size() > 1024)
    return done(fail(errc::invalid_argument, "cursor is not valid"));
  if (auto f = check_limit(q.limit, 500))
    return done(*f);
  deps_.domain->call(std::move(q), std::move(done));
}

void api_service::get_menu(std::string restaurant_id, std::string date, reply<menu_view> done) {
  if (auto f = check_stock_date(date))
    return done(*f);
  deps_.domain->call(domain::get_menu{std::move(restaurant_id), std::move(date)}, std::move(done));
}

void api_service::get_item(std::string restaurant_id, std::string item_id, std::string date,
                           reply<menu_item> done) {
  if (auto f = check_stock_date(date))
    return done(*f);
  deps_.domain->call(domain::get_menu{std::move(restaurant_id), std::move(date)},
                     [item_id = std::move(item_id), done = std::move(done)](outcome<menu_view> m) {
                       if (!m)
                         return done(m.error());
                       for (auto& i : m->items())
                         if (i.id == item_id)
                           return done(menu_item(i));
                       done(fail(errc::not_found, "menu item not found"));
                     });
}

void api_service::put_item(const token_claims& caller, upsert_menu_item cmd, reply<upsert_result> done) {
  if (auto f = check_id("item id", cmd.item_id))
    return done(*f);
  if (auto f = check_menu_item(cmd.input))
    return done(*f);
  cmd.caller = principal_of(caller);
  deps_.domain->call(std::move(cmd), std::move(done));
}

void api_service::patch_item(const token_claims& caller, patch_menu_item cmd, reply<upsert_result> done) {
  if (!cmd.name && !cmd.description && !cmd.price_cents && !cmd.stock && !cmd.daily_stock && !cmd.tags
      && !cmd.meals && !cmd.image_url)
    return done(fail(errc::invalid_argument, "name at least one field to change"));
  cmd.caller = principal_of(caller);
  deps_.domain->call(std::move(cmd), std::move(done));
}

void api_service::delete_item(const token_claims& caller, delete_menu_item cmd, reply<bool> done) {
  cmd.caller = principal_of(caller);
  deps_.domain->call(std::move(cmd), std::move(done));
}

void api_service::search_menu(menu_query q, reply<menu_page> done) {
  if (auto f = check_text("place", q.place, max_place_length, false))
    return done(*f);
  if (auto f = check_text("q", q.text, max_name_length, false))
    return done(*f);
  if (q.tag.size() > max_tag_length || q.cursor.size() > 1024)
    return done(fail(errc::invalid_argument, "tag or cursor is too long"));
  if (auto f = check_limit(q.limit, 100))
    return done(*f);
  if (auto f = check_stock_date(q.date))
    return done(*f);
  deps_.domain->call(std::move(q), std::move(done));
}

void api_service::place_order(const token_claims& caller, domain::place_order cmd, reply<order> done) {
  if (cmd.date && !is_valid_date(*cmd.date))
    return done(fail(errc::invalid_argument, "date must be a real day as YYYY-MM-DD"));
  cmd.caller = principal_of(caller);
  if (!cmd.idempotency_key.empty()) {
    const auto& key = cmd.idempotency_key;
    if (key.size() > 128 || check_text("Idempotency-Key", key, 128, true))
      return done(fail(errc::invalid_argument, "Idempotency-Key must be 1-128 printable characters"));
    cmd.order_id = order_id_for_key(caller.user_id, key);
  }
  if (check_id("restaurant_id", cmd.restaurant_id))
    return done(fail(errc::not_found, "restaurant not found"));
  cmd.fresh_id = cmd.idempotency_key.empty(); // whatever the caller's command said
  if (cmd.fresh_id)
    cmd.order_id = deps_.domain->new_order_id(cmd.restaurant_id);
  if (auto f = check_lines(cmd.lines))
    return done(*f);
  if (auto f = check_text("note", cmd.note, max_note_length, false, true))
    return done(*f);
  deps_.domain->call(std::move(cmd), std::move(done));
}

void api_service::list_orders(const token_claims& caller, domain::list_orders q, reply<order_list> done) {
  if (q.month && !is_valid_month(*q.month))
    return done(fail(errc::invalid_argument, "month must be YYYY-MM"));
  if (auto f = check_limit(q.limit, 500))
    return done(*f);
  if (q.cursor.size() > 1024)
    return done(fail(errc::invalid_argument, "cursor is not valid"));
  q.caller = principal_of(caller);
  deps_.domain->call(std::move(q), std::move(done));
}

void api_service::get_order(const token_claims& caller, std::string order_id, reply<order> done) {
  deps_.domain->call(domain::get_order{principal_of(caller), std::move(order_id)}, std::move(done));
}

void api_service::transition_order(const token_claims& caller, std::string order_id, order_action action,
                                   reply<order> done) {
  deps_.domain->call(domain::transition_order{principal_of(caller), std::move(order_id), action}, std::move(done));
}

void api_service::edit_order(const token_claims& caller, domain::edit_order cmd, reply<order> done) {
  if (!cmd.lines && !cmd.merchant_note)
    return done(fail(errc::invalid_argument, "give items and/or merchant_note"));
  if (cmd.merchant_note)
    if (auto f = check_text("merchant_note", *cmd.merchant_note, max_note_length, false, true))
      return done(*f);
  if (cmd.lines)
    if (auto f = check_lines(*cmd.lines))
      return done(*f);
  cmd.caller = principal_of(caller);
  deps_.domain->call(std::move(cmd), std::move(done));
}

} // namespace bento::node
