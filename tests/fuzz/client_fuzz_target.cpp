// libFuzzer target: raw bytes as one client-protocol connection's stream (docs/protocol.md), through the
// frame decoder, the ClientFrame parser and client_dispatch on the real domain (tests/fuzz/fuzz_node.hpp).
// A request whose token is "$CUSTOMER" or "$MERCHANT" gets that user's valid token, so inputs reach past
// authentication. Invariants (abort = a finding): every request is answered exactly once within 20 s, with
// its own id, and an error code that docs/protocol.md lists.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>

#include "bento/client/v1/client.pb.h"
#include "node/api/api_service.hpp"
#include "node/client_edge/client_dispatch.hpp"
#include "protocol/codec/frame_codec.hpp"
#include "tests/fuzz/fuzz_node.hpp"

namespace {

using namespace bento;
namespace pb = bento::client::v1;

const std::set<std::string> known_codes = {
  "invalid_argument", "unauthorized", "forbidden", "not_found", "already_exists", "out_of_stock",
  "meal_unavailable", "invalid_transition", "idempotency_key_reused", "precondition_failed", "superseded",
  "too_many_requests", "overloaded", "unavailable", "storage_failure", "outcome_unknown", "not_leader",
  "unknown_method", "reply_too_large",
};

struct client_fuzz {
  fuzz::fuzz_node domain;
  std::unique_ptr<node::api_service> service;
  std::unique_ptr<node::client_dispatch> dispatch;

  client_fuzz() {
    service = std::make_unique<node::api_service>(node::api_service::dependencies{
      domain.domain.get(), domain.tokens.get(), domain.revocations.get(), &domain.logins, 86400, {}});
    node::client_dispatch_dependencies deps;
    deps.service = service.get();
    deps.node_id = "fuzz";
    deps.status = [] { return node::cluster_status{}; };
    deps.shard_map = [] { return node::client_shard_map{}; };
    dispatch = std::make_unique<node::client_dispatch>(deps);
  }

  void call(const pb::Request& req) {
    struct waiter {
      std::mutex mutex;
      std::condition_variable cv;
      int answers = 0;
      pb::Response resp;
    };
    auto w = std::make_shared<waiter>();
    dispatch->handle(req, "192.0.2.7", [w](pb::Response resp) {
      std::lock_guard lock(w->mutex);
      ++w->answers;
      w->resp = std::move(resp);
      w->cv.notify_all();
    });
    std::unique_lock lock(w->mutex);
    if (!w->cv.wait_for(lock, std::chrono::seconds(20), [&] { return w->answers > 0; })) {
      std::fprintf(stderr, "fuzz finding: no answer within 20 s to method %d\n", static_cast<int>(req.method()));
      std::abort();
    }
    if (w->resp.id() != req.id() || (!w->resp.error().empty() && !known_codes.count(w->resp.error()))) {
      std::fprintf(stderr, "fuzz finding: bad answer to method %d: %s\n", static_cast<int>(req.method()),
                   w->resp.ShortDebugString().substr(0, 300).c_str());
      std::abort();
    }
  }
};

std::atomic<uint64_t> routed{0};
client_fuzz* the_target = nullptr; // leaked on purpose under libFuzzer: it exits without running destructors

std::string request_frame(uint64_t id, pb::Method method, const google::protobuf::Message& payload,
                          const std::string& token, const std::string& key = {}) {
  pb::ClientFrame f;
  auto* r = f.mutable_request();
  r->set_id(id);
  r->set_method(method);
  r->set_payload(payload.SerializeAsString());
  r->set_token(token);
  r->set_idempotency_key(key);
  return codec::frame(f.SerializeAsString());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!the_target)
    the_target = new client_fuzz();
  codec::frame_decoder decoder(1u << 20);
  // Fed in pieces of one byte or of many: the decoder must not depend on how the bytes arrive.
  size_t step = size % 3 == 0 ? 1 : 8192;
  std::string frame;
  int handled = 0;
  for (size_t at = 0; at < size && handled < 16; at += step) {
    decoder.feed(reinterpret_cast<const char*>(data) + at, std::min(step, size - at));
    while (handled < 16) {
      auto st = decoder.next(frame);
      if (st == codec::frame_decoder::status::need_more)
        break;
      if (st != codec::frame_decoder::status::frame)
        return 0; // the node would say Goodbye and close: nothing more on this connection
      pb::ClientFrame f;
      if (!f.ParseFromString(frame))
        return 0;
      ++handled;
      if (f.body_case() != pb::ClientFrame::kRequest)
        continue;
      auto req = f.request();
      if (req.token() == "$CUSTOMER")
        req.set_token(the_target->domain.customer_token);
      else if (req.token() == "$MERCHANT")
        req.set_token(the_target->domain.merchant_token);
      ++routed;
      the_target->call(req);
    }
  }
  return 0;
}

extern "C" const char* const* bento_fuzz_dictionary(size_t* n) {
  // Field tags of Request (id 1 varint, method 2 varint, payload 3, token 4, key 6, direct 7) and lengths.
  static const char* const words[] = {"\x08\x01", "\x10\x0d", "\x10\x07", "\x10\x13", "\x22\x09$CUSTOMER",
                                      "\x22\x09$MERCHANT", "\x38\x01", "\x12", "\x1a",
                                      "\xff\xff\xff\xff\x0f", "\x0a"};
  *n = sizeof words / sizeof *words;
  return words;
}

extern "C" void bento_fuzz_builtin_seeds(void (*add)(const char* data, size_t size)) {
  // One connection's worth of each method, valid enough to reach the domain.
  pb::ClientFrame hello;
  hello.mutable_hello()->add_versions(1);
  auto prefix = codec::frame(hello.SerializeAsString());
  pb::RegisterUserRequest reg;
  reg.set_username("seeduser");
  reg.set_password("correct horse");
  reg.set_email("s@example.com");
  reg.set_role(pb::CUSTOMER);
  reg.set_place("taipei");
  pb::CreateRestaurantRequest cr;
  cr.set_name("Seed");
  cr.set_place("taipei");
  pb::PutItemRequest item;
  item.set_restaurant_id("r_seed");
  item.set_item_id("katsu");
  item.set_name("Katsu");
  item.set_price_cents(100);
  item.set_stock(5);
  pb::PlaceOrderRequest order;
  order.set_restaurant_id("r_seed");
  auto* line = order.add_items();
  line->set_item_id("katsu");
  line->set_qty(1);
  order.set_meal(pb::LUNCH);
  pb::SearchMenuRequest search;
  search.set_place("taipei");
  pb::ListOrdersRequest lo;
  lo.set_status(pb::PLACED);
  pb::OrderRequest which;
  which.set_order_id("o_missing");
  pb::Empty empty;
  std::string seeds[] = {
    prefix + request_frame(1, pb::REGISTER_USER, reg, ""),
    prefix + request_frame(2, pb::CREATE_RESTAURANT, cr, "$MERCHANT"),
    prefix + request_frame(3, pb::PUT_ITEM, item, "$MERCHANT"),
    prefix + request_frame(4, pb::PLACE_ORDER, order, "$CUSTOMER", "seed-key"),
    prefix + request_frame(5, pb::SEARCH_MENU, search, "$CUSTOMER") + request_frame(6, pb::ME, empty, "$CUSTOMER"),
    prefix + request_frame(7, pb::LIST_ORDERS, lo, "$MERCHANT") + request_frame(8, pb::CONFIRM_ORDER, which, "$MERCHANT"),
    prefix + request_frame(9, pb::SHARD_MAP, empty, "") + request_frame(10, pb::CLUSTER_STATUS, empty, "$CUSTOMER"),
  };
  for (auto& s : seeds)
    add(s.data(), s.size());
}

extern "C" uint64_t bento_fuzz_routed_requests() {
  return routed.load();
}

extern "C" void bento_fuzz_shutdown() {
  if (the_target) {
    the_target->domain.shutdown();
    delete the_target;
    the_target = nullptr;
  }
}
