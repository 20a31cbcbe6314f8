// Load through the client SDK (the binary protocol): order placement or menu reads with a fixed number of
// calls in flight, as one pipelining client would. Sets up its own merchant, restaurant (20 items) and 50
// customers, then prints throughput and latency percentiles and one JSON line for scripts.
//
//   bento-bench-sdk ADDRS orders|menu SECONDS IN_FLIGHT [CONNECTIONS_PER_NODE]
//   e.g. bento-bench-sdk 127.0.0.1:7410 orders 10 64
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bento/client/client.hpp"

namespace bc = bento::client;
using clock_type = std::chrono::steady_clock;

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ','))
    out.push_back(part);
  return out;
}

[[noreturn]] void die(const std::string& what, const bc::error& e) {
  std::fprintf(stderr, "bench: %s: %s\n", what.c_str(), bc::describe(e).c_str());
  std::exit(1);
}

template <class T>
T must(bc::result<T> r, const std::string& what) {
  if (!r)
    die(what, r.error());
  return std::move(*r);
}

bc::options options_for(const std::vector<std::string>& nodes, unsigned connections) {
  bc::options o;
  o.nodes = nodes;
  o.connections_per_node = connections;
  o.client_name = "bento-bench-sdk";
  return o;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s ADDRS orders|menu SECONDS IN_FLIGHT [CONNECTIONS_PER_NODE]\n", argv[0]);
    return 2;
  }
  auto nodes = split(argv[1]);
  std::string mode = argv[2];
  auto seconds = std::atoi(argv[3]);
  auto in_flight = std::max(1, std::atoi(argv[4]));
  unsigned connections = argc > 5 ? static_cast<unsigned>(std::max(1, std::atoi(argv[5]))) : 2;
  if (mode != "orders" && mode != "menu")
    return 2;

  // Set-up: one merchant with 20 items of ample stock, 50 customers.
  auto tag = std::to_string(std::random_device{}() % 1000000);
  bc::client admin(options_for(nodes, 1));
  bc::register_request m{"bm" + tag, "bench-password", "m" + tag + "@b.io", bc::role::merchant, "taipei"};
  must(admin.register_user(m), "register merchant");
  must(admin.login(m.username, m.password), "login merchant");
  auto rid = must(admin.create_restaurant({"Bench " + tag, "taipei"}), "create restaurant").id;
  for (int i = 0; i < 20; ++i) {
    bc::put_item_request item;
    item.restaurant_id = rid;
    item.item_id = "item" + std::to_string(i);
    item.name = "Item " + std::to_string(i);
    item.price_cents = 100 + i;
    item.stock = 1000000;
    must(admin.put_item(item), "put item");
  }
  std::vector<std::unique_ptr<bc::client>> customers;
  for (int c = 0; c < 50; ++c) {
    auto cl = std::make_unique<bc::client>(options_for(nodes, connections));
    bc::register_request r{"bc" + tag + "x" + std::to_string(c), "bench-password", "c@b.io", bc::role::customer,
                           "taipei"};
    must(cl->register_user(r), "register customer");
    must(cl->login(r.username, r.password), "login customer");
    customers.push_back(std::move(cl));
  }
  // Calls rotate over the 50 customers' clients (a client holds one session), each with its own small pool.
  std::mutex mutex;
  std::vector<double> latencies_ms;
  latencies_ms.reserve(1 << 20);
  std::atomic<uint64_t> ok{0}, failed{0};
  std::atomic<bool> running{true};
  std::atomic<int> outstanding{0};
  std::mt19937 rng(7);
  std::mutex rng_mutex;

  // The first failures are printed: a benchmark that hides why a call failed hides a bug.
  std::atomic<int> reported{0};
  auto report = [&reported](const bc::error& e) {
    if (reported++ < 5)
      std::fprintf(stderr, "failed: %s\n", bc::describe(e).c_str());
  };
  std::function<void(size_t)> launch;
  launch = [&](size_t slot) {
    if (!running)
      return;
    auto& cl = *customers[slot % customers.size()];
    ++outstanding;
    auto start = clock_type::now();
    auto done = [&, slot, start](bool good) {
      auto ms = std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
      {
        std::lock_guard lock(mutex);
        latencies_ms.push_back(ms);
      }
      (good ? ok : failed)++;
      --outstanding;
      launch(slot + 1);
    };
    if (mode == "orders") {
      bc::place_order_request o;
      o.restaurant_id = rid;
      o.meal = bc::meal::lunch;
      {
        std::lock_guard lock(rng_mutex);
        int lines = 1 + static_cast<int>(rng() % 3);
        std::vector<int> picked;
        while (static_cast<int>(picked.size()) < lines) {
          int i = static_cast<int>(rng() % 20);
          if (std::find(picked.begin(), picked.end(), i) == picked.end())
            picked.push_back(i);
        }
        for (int i : picked)
          o.lines.push_back({"item" + std::to_string(i), 1 + static_cast<int32_t>(rng() % 2)});
      }
      cl.place_order_async(o, [done, &report](bc::result<bc::order> r) {
        if (!r)
          report(r.error());
        done(r.has_value());
      });
    } else {
      cl.get_menu_async({rid, ""}, [done, &report](bc::result<bc::menu> r) {
        if (!r)
          report(r.error());
        done(r.has_value());
      });
    }
  };
  auto t0 = clock_type::now();
  for (int i = 0; i < in_flight; ++i)
    launch(static_cast<size_t>(i));
  std::this_thread::sleep_for(std::chrono::seconds(seconds)); // the measured period, not a synchronisation
  running = false;
  auto elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  uint64_t n_ok = ok, n_failed = failed;
  std::vector<double> lat;
  {
    std::lock_guard lock(mutex);
    lat = latencies_ms;
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))]; };
  double rps = static_cast<double>(n_ok) / elapsed;
  std::printf("sdk_%s nodes=%zu in_flight=%d ok=%llu failed=%llu rps=%.0f p50=%.2fms p99=%.2fms p999=%.2fms\n",
              mode.c_str(), nodes.size(), in_flight, static_cast<unsigned long long>(n_ok),
              static_cast<unsigned long long>(n_failed), rps, pct(0.5), pct(0.99), pct(0.999));
  std::printf("{\"bench\":\"sdk_%s\",\"nodes\":%zu,\"in_flight\":%d,\"rps\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
              "\"p999_ms\":%.3f,\"failed\":%llu}\n",
              mode.c_str(), nodes.size(), in_flight, rps, pct(0.5), pct(0.99), pct(0.999),
              static_cast<unsigned long long>(n_failed));
  // Let calls in flight finish before the clients go (their destructors cancel the rest).
  auto deadline = clock_type::now() + std::chrono::seconds(15);
  while (outstanding.load() > 0 && clock_type::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return n_failed == 0 ? 0 : 1;
}
