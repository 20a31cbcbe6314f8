// Places one order as a customer:
//   bento-example-place-order HOST:PORT USERNAME PASSWORD RESTAURANT_ID ITEM=QTY... [--meal lunch]
//                             [--date YYYY-MM-DD] [--note TEXT]
// e.g. bento-example-place-order 127.0.0.1:7410 carl secret r_01H... katsu=2 salad=1 --meal lunch
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bento/client/client.hpp"

namespace bc = bento::client;

namespace {

int usage() {
  std::fprintf(stderr, "usage: bento-example-place-order HOST:PORT USERNAME PASSWORD RESTAURANT_ID ITEM=QTY... "
                       "[--meal breakfast|lunch|dinner] [--date YYYY-MM-DD] [--note TEXT]\n");
  return 2;
}

bool parse_meal(const std::string& text, bc::meal& out) {
  if (text == "breakfast")
    out = bc::meal::breakfast;
  else if (text == "lunch")
    out = bc::meal::lunch;
  else if (text == "dinner")
    out = bc::meal::dinner;
  else
    return false;
  return true;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 6)
    return usage();
  bc::options opts;
  opts.nodes = {argv[1]};
  opts.client_name = "bento-example-place-order";
  bc::place_order_request req;
  req.restaurant_id = argv[4];
  for (int i = 5; i < argc; ++i) {
    std::string arg = argv[i];
    bool has_value = i + 1 < argc;
    if (arg == "--meal" && has_value && parse_meal(argv[i + 1], req.meal)) {
      ++i;
    } else if (arg == "--date" && has_value) {
      req.date = argv[++i];
    } else if (arg == "--note" && has_value) {
      req.note = argv[++i];
    } else if (auto eq = arg.find('='); eq != std::string::npos && eq > 0) {
      req.lines.push_back({arg.substr(0, eq), std::atoi(arg.c_str() + eq + 1)});
    } else {
      return usage();
    }
  }
  if (req.lines.empty())
    return usage();

  bc::client client(opts);
  auto session = client.login(argv[2], argv[3]); // the client keeps the token for what follows
  if (!session) {
    std::fprintf(stderr, "login: %s\n", bc::describe(session.error()).c_str());
    return 1;
  }
  auto placed = client.place_order(req);
  if (!placed) {
    std::fprintf(stderr, "place_order: %s\n", bc::describe(placed.error()).c_str());
    return 1;
  }
  std::printf("order %s at %s: %lld cents\n", placed->id.c_str(), placed->restaurant_name.c_str(),
              static_cast<long long>(placed->total_cents));
  for (auto& line : placed->lines)
    std::printf("  %d x %s (%s) at %lld cents\n", line.qty, line.name.c_str(), line.item_id.c_str(),
                static_cast<long long>(line.price_cents));
  return 0;
}
