// A merchant's order desk: every few seconds, confirms every order still waiting ("placed").
//   bento-example-merchant-loop HOST:PORT USERNAME PASSWORD [ROUNDS] [--interval-ms N]
// Runs ROUNDS rounds (0 or none: until Ctrl-C).
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "bento/client/client.hpp"

namespace bc = bento::client;

namespace {

std::atomic<bool> interrupted{false};

void on_sigint(int) { interrupted = true; }

/// Confirms every placed order, page by page; returns how many it confirmed.
int confirm_waiting(bc::client& client) {
  int confirmed = 0;
  bc::list_orders_request req;
  req.status = bc::order_status::placed;
  do {
    auto page = client.list_orders(req);
    if (!page) {
      std::fprintf(stderr, "list_orders: %s\n", bc::describe(page.error()).c_str());
      return confirmed;
    }
    for (auto& o : page->orders) {
      auto done = client.confirm_order(o.id);
      if (done) {
        ++confirmed;
        std::printf("confirmed %s (%lld cents)\n", o.id.c_str(), static_cast<long long>(o.total_cents));
      } else {
        // Cancelled by the customer meanwhile, say: the next round sees the order as it is now.
        std::fprintf(stderr, "confirm %s: %s\n", o.id.c_str(), bc::describe(done.error()).c_str());
      }
    }
    req.cursor = page->next_cursor;
  } while (!req.cursor.empty() && !interrupted);
  return confirmed;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bento-example-merchant-loop HOST:PORT USERNAME PASSWORD [ROUNDS] [--interval-ms N]\n");
    return 2;
  }
  long rounds = 0;
  auto interval = std::chrono::milliseconds(2000);
  for (int i = 4; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--interval-ms" && i + 1 < argc)
      interval = std::chrono::milliseconds(std::atol(argv[++i]));
    else
      rounds = std::atol(argv[i]);
  }
  std::signal(SIGINT, on_sigint);

  bc::options opts;
  opts.nodes = {argv[1]};
  opts.client_name = "bento-example-merchant-loop";
  bc::client client(opts);
  auto session = client.login(argv[2], argv[3]);
  if (!session) {
    std::fprintf(stderr, "login: %s\n", bc::describe(session.error()).c_str());
    return 1;
  }
  if (session->user.role != bc::role::merchant)
    std::fprintf(stderr, "note: %s is not a merchant; it sees and confirms only its own orders\n", argv[2]);

  int total = 0;
  for (long round = 1; !interrupted && (rounds <= 0 || round <= rounds); ++round) {
    total += confirm_waiting(client);
    if (rounds > 0 && round == rounds)
      break;
    // Pacing, not synchronisation: wake often enough to notice Ctrl-C.
    for (auto waited = std::chrono::milliseconds(0); waited < interval && !interrupted;
         waited += std::chrono::milliseconds(100))
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("confirmed %d orders\n", total);
  client.logout();
  return 0;
}
