#include "bento/client/client.hpp"

#include <mutex>
#include <random>

#include "client/sdk/dispatcher.hpp"
#include "client/sdk/shard_key.hpp"
#include "client/sdk/task_thread.hpp"
#include "client/sdk/wire.hpp"

#ifndef BENTO_CLIENT_SDK_VERSION
#define BENTO_CLIENT_SDK_VERSION "0.0.0"
#endif

namespace bento::client {

std::string_view version() noexcept { return BENTO_CLIENT_SDK_VERSION; }

namespace {

using detail::call_reply;
using detail::call_spec;
namespace pb = detail::pb;

/// An operation before it runs: what to send, and how to read the reply.
template <class T>
struct op {
  call_spec spec;
  std::function<result<T>(call_reply&&)> decode;
};

template <class T>
result<T> decode_reply(call_reply&& r) {
  if (!r.ok)
    return std::move(r.failure);
  T out;
  if (!detail::parse_reply(r.payload, out))
    return make_error(errc::protocol_error, "the node's reply does not parse as the method's message");
  return result<T>(std::move(out));
}

result<void> decode_empty(call_reply&& r) {
  if (!r.ok)
    return std::move(r.failure);
  return {};
}

enum class safety { write, read };

call_spec spec_of(pb::Method method, std::string payload, std::string key, safety s) {
  call_spec spec;
  spec.method = method;
  spec.payload = std::move(payload);
  spec.key = std::move(key);
  spec.retry_when_lost = s == safety::read;
  spec.write = s == safety::write;
  return spec;
}

template <class T>
op<T> make_op(pb::Method method, std::string payload, std::string key, safety s) {
  return {spec_of(method, std::move(payload), std::move(key), s), &decode_reply<T>};
}

op<void> make_void_op(pb::Method method, std::string payload, std::string key, safety s) {
  return {spec_of(method, std::move(payload), std::move(key), s), &decode_empty};
}

} // namespace

struct client::impl {
  explicit impl(options o) : opts(std::move(o)), token(opts.token), dispatcher(opts) {}
  ~impl() { shutdown(); }

  void shutdown() {
    dispatcher.shutdown(); // every call has finished (cancelled at worst) after this,
    callbacks.stop(true);  // so the callbacks owed are all posted: run them
  }

  std::string current_token() const {
    std::lock_guard lock(token_mutex);
    return token;
  }

  void set_token(std::string t) {
    std::lock_guard lock(token_mutex);
    token = std::move(t);
  }

  /// Clears the token only if it is still `expected` (another thread may have logged in meanwhile).
  void clear_token_if(const std::string& expected) {
    std::lock_guard lock(token_mutex);
    if (token == expected)
      token.clear();
  }

  /// 256 bits of seed, fresh for each client: keys of one customer's many clients (processes, restarts) must
  /// not collide, and a 32-bit seed would make that likely after some tens of thousands of them.
  static std::mt19937_64 seeded_rng() {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }

  std::string new_idempotency_key() {
    std::lock_guard lock(rng_mutex);
    static const char hex[] = "0123456789abcdef";
    std::string key = "sdk-";
    for (int i = 0; i < 2; ++i) {
      auto bits = rng();
      for (int j = 0; j < 16; ++j, bits >>= 4)
        key += hex[bits & 0xf];
    }
    return key;
  }

  template <class T>
  op<T> with_token(op<T> o) {
    o.spec.token = current_token();
    return o;
  }

  template <class T>
  std::future<result<T>> as_future(op<T> o) {
    auto promise = std::make_shared<std::promise<result<T>>>();
    auto future = promise->get_future();
    dispatcher.start(std::move(o.spec), [promise, decode = std::move(o.decode)](call_reply&& r) {
      promise->set_value(decode(std::move(r)));
    });
    return future;
  }

  template <class T>
  void with_callback(op<T> o, callback<T> cb) {
    dispatcher.start(std::move(o.spec), [this, decode = std::move(o.decode), cb = std::move(cb)](call_reply&& r) {
      auto shared = std::make_shared<result<T>>(decode(std::move(r)));
      callbacks.post([cb, shared] { cb(std::move(*shared)); });
    });
  }

  template <class T>
  result<T> wait(op<T> o) {
    return as_future(std::move(o)).get();
  }

  // --- the operations ---

  op<user> register_op(const register_request& req) {
    return make_op<user>(pb::REGISTER_USER, detail::payload_of(req), detail::user_key(req.username), safety::write);
  }

  op<session> login_op(const std::string& username, const std::string& password) {
    // Retrying a login that was lost at most opens a second session; the caller keeps the one it gets.
    auto o = make_op<session>(pb::LOGIN, detail::login_payload(username, password), detail::user_key(username),
                              safety::read);
    o.decode = [this](call_reply&& r) {
      auto s = decode_reply<session>(std::move(r));
      if (s)
        set_token(s->token);
      return s;
    };
    return o;
  }

  op<void> logout_op() {
    auto o = with_token(make_void_op(pb::LOGOUT, detail::empty_payload(), {}, safety::write));
    o.decode = [this, sent = o.spec.token](call_reply&& r) {
      auto done = decode_empty(std::move(r));
      if (done || done.error().code == errc::unauthorized) // either way the token is of no use any more
        clear_token_if(sent);
      return done;
    };
    return o;
  }

  op<user> me_op() { return with_token(make_op<user>(pb::ME, detail::empty_payload(), {}, safety::read)); }

  op<restaurant> create_restaurant_op(const create_restaurant_request& req) {
    return with_token(make_op<restaurant>(pb::CREATE_RESTAURANT, detail::payload_of(req), {}, safety::write));
  }

  op<restaurant_list> list_restaurants_op(const list_restaurants_request& req) {
    return with_token(make_op<restaurant_list>(pb::LIST_RESTAURANTS, detail::payload_of(req), {}, safety::read));
  }

  op<menu> get_menu_op(const get_menu_request& req) {
    return with_token(make_op<menu>(pb::GET_MENU, detail::payload_of(req), detail::restaurant_key(req.restaurant_id),
                                    safety::read));
  }

  op<menu_item> get_item_op(const get_item_request& req) {
    return with_token(make_op<menu_item>(pb::GET_ITEM, detail::payload_of(req),
                                         detail::restaurant_key(req.restaurant_id), safety::read));
  }

  op<item_written> put_item_op(const put_item_request& req) {
    return with_token(make_op<item_written>(pb::PUT_ITEM, detail::payload_of(req),
                                            detail::restaurant_key(req.restaurant_id), safety::write));
  }

  op<item_written> patch_item_op(const patch_item_request& req) {
    return with_token(make_op<item_written>(pb::PATCH_ITEM, detail::payload_of(req),
                                            detail::restaurant_key(req.restaurant_id), safety::write));
  }

  op<void> delete_item_op(const delete_item_request& req) {
    return with_token(make_void_op(pb::DELETE_ITEM, detail::payload_of(req), detail::restaurant_key(req.restaurant_id),
                                   safety::write));
  }

  op<menu_page> search_menu_op(const search_menu_request& req) {
    return with_token(make_op<menu_page>(pb::SEARCH_MENU, detail::payload_of(req), {}, safety::read));
  }

  op<order> place_order_op(const place_order_request& req) {
    // Safe to send again: the idempotency key makes a repeat return the first order.
    auto o = with_token(make_op<order>(pb::PLACE_ORDER, detail::payload_of(req),
                                       detail::restaurant_key(req.restaurant_id), safety::read));
    o.spec.idempotency_key = req.idempotency_key && !req.idempotency_key->empty() ? *req.idempotency_key
                                                                                 : new_idempotency_key();
    o.spec.retry_outcome_unknown = true;
    o.spec.write = true; // retried like a read, but what it did matters: a failure after sending is unknown
    return o;
  }

  op<order_list> list_orders_op(const list_orders_request& req) {
    return with_token(make_op<order_list>(pb::LIST_ORDERS, detail::payload_of(req), {}, safety::read));
  }

  op<order> order_op(pb::Method method, const std::string& order_id, safety s) {
    return with_token(make_op<order>(method, detail::order_payload(order_id), detail::order_key(order_id), s));
  }

  op<order> edit_order_op(const edit_order_request& req) {
    return with_token(make_op<order>(pb::EDIT_ORDER, detail::payload_of(req), detail::order_key(req.order_id),
                                     safety::write));
  }

  op<cluster_status> cluster_status_op() {
    return with_token(make_op<cluster_status>(pb::CLUSTER_STATUS, detail::empty_payload(), {}, safety::read));
  }

  op<shard_map> shard_map_op() {
    auto o = make_op<shard_map>(pb::SHARD_MAP, detail::empty_payload(), {}, safety::read);
    o.decode = [this](call_reply&& r) {
      auto m = decode_reply<shard_map>(std::move(r));
      if (m)
        dispatcher.routes().adopt(*m);
      return m;
    };
    return o;
  }

  op<void> decommission_op(const std::string& node_id, const std::string& admin_token) {
    auto o = make_void_op(pb::DECOMMISSION_NODE, detail::decommission_payload(node_id), {}, safety::write);
    o.spec.token = admin_token;
    return o;
  }

  options opts;
  mutable std::mutex token_mutex;
  std::string token;
  std::mutex rng_mutex;
  std::mt19937_64 rng = seeded_rng();
  detail::dispatcher dispatcher;
  detail::task_thread callbacks;
};

client::client(options opts) : impl_(std::make_shared<impl>(std::move(opts))) {}
// Shut down while impl_ is whole: callbacks that still run may use the client.
client::~client() { impl_->shutdown(); }

void client::set_token(std::string token) { impl_->set_token(std::move(token)); }
std::string client::token() const { return impl_->current_token(); }

// Each operation in its three forms.

result<user> client::register_user(const register_request& req) { return impl_->wait(impl_->register_op(req)); }
std::future<result<user>> client::register_user_async(const register_request& req) {
  return impl_->as_future(impl_->register_op(req));
}
void client::register_user_async(const register_request& req, callback<user> cb) {
  impl_->with_callback(impl_->register_op(req), std::move(cb));
}

result<session> client::login(const std::string& username, const std::string& password) {
  return impl_->wait(impl_->login_op(username, password));
}
std::future<result<session>> client::login_async(const std::string& username, const std::string& password) {
  return impl_->as_future(impl_->login_op(username, password));
}
void client::login_async(const std::string& username, const std::string& password, callback<session> cb) {
  impl_->with_callback(impl_->login_op(username, password), std::move(cb));
}

result<void> client::logout() { return impl_->wait(impl_->logout_op()); }
std::future<result<void>> client::logout_async() { return impl_->as_future(impl_->logout_op()); }
void client::logout_async(callback<void> cb) { impl_->with_callback(impl_->logout_op(), std::move(cb)); }

result<user> client::me() { return impl_->wait(impl_->me_op()); }
std::future<result<user>> client::me_async() { return impl_->as_future(impl_->me_op()); }
void client::me_async(callback<user> cb) { impl_->with_callback(impl_->me_op(), std::move(cb)); }

result<restaurant> client::create_restaurant(const create_restaurant_request& req) {
  return impl_->wait(impl_->create_restaurant_op(req));
}
std::future<result<restaurant>> client::create_restaurant_async(const create_restaurant_request& req) {
  return impl_->as_future(impl_->create_restaurant_op(req));
}
void client::create_restaurant_async(const create_restaurant_request& req, callback<restaurant> cb) {
  impl_->with_callback(impl_->create_restaurant_op(req), std::move(cb));
}

result<restaurant_list> client::list_restaurants(const list_restaurants_request& req) {
  return impl_->wait(impl_->list_restaurants_op(req));
}
std::future<result<restaurant_list>> client::list_restaurants_async(const list_restaurants_request& req) {
  return impl_->as_future(impl_->list_restaurants_op(req));
}
void client::list_restaurants_async(const list_restaurants_request& req, callback<restaurant_list> cb) {
  impl_->with_callback(impl_->list_restaurants_op(req), std::move(cb));
}

result<menu> client::get_menu(const get_menu_request& req) { return impl_->wait(impl_->get_menu_op(req)); }
std::future<result<menu>> client::get_menu_async(const get_menu_request& req) {
  return impl_->as_future(impl_->get_menu_op(req));
}
void client::get_menu_async(const get_menu_request& req, callback<menu> cb) {
  impl_->with_callback(impl_->get_menu_op(req), std::move(cb));
}

result<menu_item> client::get_item(const get_item_request& req) { return impl_->wait(impl_->get_item_op(req)); }
std::future<result<menu_item>> client::get_item_async(const get_item_request& req) {
  return impl_->as_future(impl_->get_item_op(req));
}
void client::get_item_async(const get_item_request& req, callback<menu_item> cb) {
  impl_->with_callback(impl_->get_item_op(req), std::move(cb));
}

result<item_written> client::put_item(const put_item_request& req) { return impl_->wait(impl_->put_item_op(req)); }
std::future<result<item_written>> client::put_item_async(const put_item_request& req) {
  return impl_->as_future(impl_->put_item_op(req));
}
void client::put_item_async(const put_item_request& req, callback<item_written> cb) {
  impl_->with_callback(impl_->put_item_op(req), std::move(cb));
}

result<item_written> client::patch_item(const patch_item_request& req) {
  return impl_->wait(impl_->patch_item_op(req));
}
std::future<result<item_written>> client::patch_item_async(const patch_item_request& req) {
  return impl_->as_future(impl_->patch_item_op(req));
}
void client::patch_item_async(const patch_item_request& req, callback<item_written> cb) {
  impl_->with_callback(impl_->patch_item_op(req), std::move(cb));
}

result<void> client::delete_item(const delete_item_request& req) { return impl_->wait(impl_->delete_item_op(req)); }
std::future<result<void>> client::delete_item_async(const delete_item_request& req) {
  return impl_->as_future(impl_->delete_item_op(req));
}
void client::delete_item_async(const delete_item_request& req, callback<void> cb) {
  impl_->with_callback(impl_->delete_item_op(req), std::move(cb));
}

result<menu_page> client::search_menu(const search_menu_request& req) {
  return impl_->wait(impl_->search_menu_op(req));
}
std::future<result<menu_page>> client::search_menu_async(const search_menu_request& req) {
  return impl_->as_future(impl_->search_menu_op(req));
}
void client::search_menu_async(const search_menu_request& req, callback<menu_page> cb) {
  impl_->with_callback(impl_->search_menu_op(req), std::move(cb));
}

result<order> client::place_order(const place_order_request& req) { return impl_->wait(impl_->place_order_op(req)); }
std::future<result<order>> client::place_order_async(const place_order_request& req) {
  return impl_->as_future(impl_->place_order_op(req));
}
void client::place_order_async(const place_order_request& req, callback<order> cb) {
  impl_->with_callback(impl_->place_order_op(req), std::move(cb));
}

result<order_list> client::list_orders(const list_orders_request& req) {
  return impl_->wait(impl_->list_orders_op(req));
}
std::future<result<order_list>> client::list_orders_async(const list_orders_request& req) {
  return impl_->as_future(impl_->list_orders_op(req));
}
void client::list_orders_async(const list_orders_request& req, callback<order_list> cb) {
  impl_->with_callback(impl_->list_orders_op(req), std::move(cb));
}

result<order> client::get_order(const std::string& order_id) {
  return impl_->wait(impl_->order_op(pb::GET_ORDER, order_id, safety::read));
}
std::future<result<order>> client::get_order_async(const std::string& order_id) {
  return impl_->as_future(impl_->order_op(pb::GET_ORDER, order_id, safety::read));
}
void client::get_order_async(const std::string& order_id, callback<order> cb) {
  impl_->with_callback(impl_->order_op(pb::GET_ORDER, order_id, safety::read), std::move(cb));
}

result<order> client::confirm_order(const std::string& order_id) {
  return impl_->wait(impl_->order_op(pb::CONFIRM_ORDER, order_id, safety::write));
}
std::future<result<order>> client::confirm_order_async(const std::string& order_id) {
  return impl_->as_future(impl_->order_op(pb::CONFIRM_ORDER, order_id, safety::write));
}
void client::confirm_order_async(const std::string& order_id, callback<order> cb) {
  impl_->with_callback(impl_->order_op(pb::CONFIRM_ORDER, order_id, safety::write), std::move(cb));
}

result<order> client::deliver_order(const std::string& order_id) {
  return impl_->wait(impl_->order_op(pb::DELIVER_ORDER, order_id, safety::write));
}
std::future<result<order>> client::deliver_order_async(const std::string& order_id) {
  return impl_->as_future(impl_->order_op(pb::DELIVER_ORDER, order_id, safety::write));
}
void client::deliver_order_async(const std::string& order_id, callback<order> cb) {
  impl_->with_callback(impl_->order_op(pb::DELIVER_ORDER, order_id, safety::write), std::move(cb));
}

result<order> client::cancel_order(const std::string& order_id) {
  return impl_->wait(impl_->order_op(pb::CANCEL_ORDER, order_id, safety::write));
}
std::future<result<order>> client::cancel_order_async(const std::string& order_id) {
  return impl_->as_future(impl_->order_op(pb::CANCEL_ORDER, order_id, safety::write));
}
void client::cancel_order_async(const std::string& order_id, callback<order> cb) {
  impl_->with_callback(impl_->order_op(pb::CANCEL_ORDER, order_id, safety::write), std::move(cb));
}

result<order> client::edit_order(const edit_order_request& req) { return impl_->wait(impl_->edit_order_op(req)); }
std::future<result<order>> client::edit_order_async(const edit_order_request& req) {
  return impl_->as_future(impl_->edit_order_op(req));
}
void client::edit_order_async(const edit_order_request& req, callback<order> cb) {
  impl_->with_callback(impl_->edit_order_op(req), std::move(cb));
}

result<cluster_status> client::get_cluster_status() { return impl_->wait(impl_->cluster_status_op()); }
std::future<result<cluster_status>> client::get_cluster_status_async() {
  return impl_->as_future(impl_->cluster_status_op());
}
void client::get_cluster_status_async(callback<cluster_status> cb) {
  impl_->with_callback(impl_->cluster_status_op(), std::move(cb));
}

result<shard_map> client::get_shard_map() { return impl_->wait(impl_->shard_map_op()); }
std::future<result<shard_map>> client::get_shard_map_async() { return impl_->as_future(impl_->shard_map_op()); }
void client::get_shard_map_async(callback<shard_map> cb) {
  impl_->with_callback(impl_->shard_map_op(), std::move(cb));
}

result<void> client::decommission_node(const std::string& node_id, const std::string& admin_token) {
  return impl_->wait(impl_->decommission_op(node_id, admin_token));
}
std::future<result<void>> client::decommission_node_async(const std::string& node_id,
                                                          const std::string& admin_token) {
  return impl_->as_future(impl_->decommission_op(node_id, admin_token));
}
void client::decommission_node_async(const std::string& node_id, const std::string& admin_token,
                                     callback<void> cb) {
  impl_->with_callback(impl_->decommission_op(node_id, admin_token), std::move(cb));
}

} // namespace bento::client
