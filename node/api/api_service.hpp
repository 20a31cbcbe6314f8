#pragma once
// What every edge does between decoding a request and calling the domain: authenticate a bearer token,
// check the caller's role, validate the typed inputs, make ids, issue and end sessions. The HTTP edge and the
// binary client edge both decode their wire format into these typed calls and encode the reply, so the two
// cannot drift apart: one set of rules, one door (domain_client) behind it.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "node/auth/token.hpp"
#include "protocol/domain/commands.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::actors {
class login_guard;
}

namespace bento::node {

class domain_client;
class revocation_list;

/// Whether a presented secret equals the configured one, in time independent of both (admin, metrics tokens).
bool secrets_equal(const std::string& given, const std::string& wanted) noexcept;

/// A login's answer: the token and whose it is.
struct session_grant {
  std::string token;
  int64_t expires_at_ms = 0;
  domain::user_view user;
};

class api_service {
public:
  struct dependencies {
    domain_client* domain = nullptr;
    const token_signer* tokens = nullptr;
    revocation_list* revocations = nullptr;
    actors::login_guard* logins = nullptr;
    uint32_t token_ttl_s = 86400;
    std::string admin_token; // empty: admin calls are refused
  };
  template <class T>
  using reply = std::function<void(domain::outcome<T>)>;

  explicit api_service(dependencies deps) : deps_(std::move(deps)) {}

  /// The claims of a bearer token (signature, expiry, not logged out); `forbidden` when `required` is given and
  /// the caller has another role.
  domain::outcome<token_claims> authenticate(const std::string& token,
                                             std::optional<domain::role> required = std::nullopt) const;

  // Each call validates its inputs (an `invalid_argument` reply names the field) and answers exactly once, on
  // whatever thread the domain answers on. `client_key` is what per-client limits count by.
  /// An admin call's bearer against BENTO_ADMIN_TOKEN, in constant time: forbidden when no admin token is
  /// configured, unauthenticated when it does not match.
  domain::outcome<domain::unit_t> authorize_admin(const std::string& bearer) const;
  /// Moves a member's voting seats to the others before it is taken away (admin).
  void decommission(std::string node_id, reply<bool> done);

  void register_user(domain::register_user cmd, const std::string& client_key, reply<domain::user_view> done);
  void login(domain::verify_login cmd, const std::string& client_key, reply<session_grant> done);
  void logout(const token_claims& caller, reply<bool> done);
  void me(const token_claims& caller, reply<domain::user_view> done);

  void create_restaurant(const token_claims& caller, std::string name, std::string place,
                         reply<domain::restaurant> done);
  void list_restaurants(domain::restaurants_query q, reply<domain::restaurant_list> done);
  /// `date` (may be empty: today) is the day whose stock is shown: today up to the ordering horizon.
  void get_menu(std::string restaurant_id, std::string date, reply<domain::menu_view> done);
  void get_item(std::string restaurant_id, std::string item_id, std::string date, reply<domain::menu_item> done);
  void put_item(const token_claims& caller, domain::upsert_menu_item cmd, reply<domain::upsert_result> done);
  void patch_item(const token_claims& caller, domain::patch_menu_item cmd, reply<domain::upsert_result> done);
  void delete_item(const token_claims& caller, domain::delete_menu_item cmd, reply<bool> done);
  void search_menu(domain::menu_query q, reply<domain::menu_page> done);

  /// With an idempotency key the order id is derived from (caller, key), so a retry finds the same order.
  void place_order(const token_claims& caller, domain::place_order cmd, reply<domain::order> done);
  void list_orders(const token_claims& caller, domain::list_orders q, reply<domain::order_list> done);
  void get_order(const token_claims& caller, std::string order_id, reply<domain::order> done);
  void transition_order(const token_claims& caller, std::string order_id, domain::order_action action,
                        reply<domain::order> done);
  void edit_order(const token_claims& caller, domain::edit_order cmd, reply<domain::order> done);

  /// Checks of query inputs that both edges apply before building a query.
  static std::optional<domain::failure> check_limit(uint32_t limit, uint32_t max);
  static std::optional<domain::failure> check_stock_date(const std::string& date);

private:
  static domain::principal principal_of(const token_claims& claims);
  dependencies deps_;
};

} // namespace bento::node
