// bento-chaos-sdk-worker: a customer of the chaos rig (tests/chaos/chaos.py) that goes through the C++ client SDK
// and the binary protocol instead of HTTP, so that the SDK's own promises are judged by the same invariants: it
// retries a place with its idempotency key and never orders twice, and it ends as outcome_unknown (never as a
// refusal) whenever a write may have happened.
//
//   bento-chaos-sdk-worker NODES USERNAME RESTAURANT_ID ITEMS SEED
//     NODES  host:port,... of the nodes' client ports     ITEMS  item ids, comma-separated
//
// Registers (or logs in as) USERNAME, then places orders and cancels some of its own until stdin closes. Every
// operation is one JSON line on stdout, in the rig's history format: kind, key, order, start, end (seconds since
// the epoch), outcome (ok / refused / unknown), status (the error code), body; plus read_back lines for a read
// after an acknowledged write that showed an earlier state.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bento/client/client.hpp"

namespace bc = bento::client;
using json = nlohmann::json;

namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty())
      out.push_back(item);
  return out;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

const char* status_name(bc::order_status s) {
  switch (s) {
    case bc::order_status::placed: return "placed";
    case bc::order_status::confirmed: return "confirmed";
    case bc::order_status::delivered: return "delivered";
    case bc::order_status::cancelled: return "cancelled";
    default: return "any";
  }
}

int progress(const std::string& status) {
  if (status == "placed")
    return 0;
  if (status == "confirmed" || status == "cancelled")
    return 1;
  if (status == "delivered")
    return 2;
  return -1;
}

/// A write that may have happened is unknown; the SDK promises that every other error means nothing was done.
/// A code this SDK does not know (a newer node's) promises nothing either way.
const char* outcome_of(const bc::error& e) {
  return e.code == bc::errc::outcome_unknown || e.code == bc::errc::cancelled || e.code == bc::errc::unknown
           ? "unknown"
           : "refused";
}

void emit(const json& line) {
  std::cout << line.dump() << std::endl; // one line per operation, flushed: the rig reads them as they come
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: bento-chaos-sdk-worker NODES USERNAME RESTAURANT_ID ITEMS SEED\n";
    return 2;
  }
  std::string username = argv[2], rid = argv[3];
  auto items = split(argv[4]);
  std::mt19937_64 rng(std::strtoull(argv[5], nullptr, 10));
  bc::options opts;
  opts.nodes = split(argv[1]);
  opts.client_name = "bento-chaos-sdk-worker";
  bc::client client(opts);

  std::atomic<bool> stop{false};
  std::thread watch([&] {
    // The rig closes stdin to stop the worker.
    char buf[64];
    while (::read(0, buf, sizeof buf) > 0) {
    }
    stop = true;
  });

  const std::string password = "attack-password";
  for (;;) {
    if (stop)
      break;
    if (client.login(username, password))
      break;
    bc::register_request reg{username, password, username + "@example.com", bc::role::customer, "taipei"};
    if (client.register_user(reg))
      continue; // registered: log in at once
    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // back-off while the cluster heals
  }

  std::vector<std::string> placed; // my orders last seen placed
  uint64_t n = 0;
  std::string retry_key;           // a place whose outcome was unknown, asked again with its key
  bc::place_order_request retry_req;
  while (!stop) {
    ++n;
    bool cancel = !placed.empty() && std::uniform_real_distribution<>(0, 1)(rng) < 0.2;
    if (!cancel) {
      bc::place_order_request req;
      if (!retry_key.empty()) {
        req = retry_req;
      } else {
        req.restaurant_id = rid;
        req.meal = bc::meal::lunch;
        std::vector<std::string> pool = items;
        std::shuffle(pool.begin(), pool.end(), rng);
        int count = 1 + static_cast<int>(rng() % 2);
        for (int i = 0; i < count; ++i)
          req.lines.push_back({pool[static_cast<size_t>(i)], 1 + static_cast<int32_t>(rng() % 2)});
        req.idempotency_key = username + "-" + std::to_string(n);
      }
      json body = {{"items", json::array()}};
      for (auto& l : req.lines)
        body["items"].push_back({{"item_id", l.item_id}, {"qty", l.qty}});
      auto t0 = now_s();
      auto r = client.place_order(req);
      json op = {{"kind", "place"}, {"key", *req.idempotency_key}, {"start", t0}, {"end", now_s()},
                 {"body", body}, {"client", "sdk"}, {"customer", username}};
      if (r) {
        op["outcome"] = "ok";
        op["status"] = 200;
        op["order"] = r->id;
        op["order_status"] = status_name(r->status);
        retry_key.clear();
      } else {
        op["outcome"] = outcome_of(r.error());
        op["status"] = r.error().code_text;
        op["order"] = nullptr;
        if (op["outcome"] == "unknown") {
          retry_key = *req.idempotency_key;
          retry_req = req;
        } else {
          retry_key.clear();
        }
      }
      emit(op);
      if (r) {
        if (r->status == bc::order_status::placed)
          placed.push_back(r->id);
        auto seen = client.get_order(r->id);
        if (seen && progress(status_name(seen->status)) < progress(status_name(r->status)))
          emit({{"kind", "read_back"}, {"order", r->id}, {"node", "sdk"}, {"acked", status_name(r->status)},
                {"status", 200}, {"seen", status_name(seen->status)}, {"start", now_s()}, {"end", now_s()},
                {"outcome", "stale"}});
        else if (!seen && seen.error().code == bc::errc::not_found)
          emit({{"kind", "read_back"}, {"order", r->id}, {"node", "sdk"}, {"acked", status_name(r->status)},
                {"status", 404}, {"seen", nullptr}, {"start", now_s()}, {"end", now_s()}, {"outcome", "stale"}});
      }
    } else {
      auto pick = static_cast<size_t>(rng() % placed.size());
      auto oid = placed[pick];
      placed.erase(placed.begin() + static_cast<std::ptrdiff_t>(pick));
      auto t0 = now_s();
      auto r = client.cancel_order(oid);
      json op = {{"kind", "cancel"}, {"order", oid}, {"start", t0}, {"end", now_s()}, {"client", "sdk"}};
      if (r) {
        op["outcome"] = "ok";
        op["status"] = 200;
        op["order_status"] = status_name(r->status);
      } else {
        op["outcome"] = outcome_of(r.error());
        op["status"] = r.error().code_text;
      }
      emit(op);
    }
  }
  watch.join();
  return 0;
}
