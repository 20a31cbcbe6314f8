// bento-chaos-proxy: tests/support/tcp_proxy as a process, for the chaos rig (tests/chaos/chaos.py), which puts
// one in front of each node's cluster port. Usage: bento-chaos-proxy <target-port>. Prints the proxy's port on
// the first line, then takes commands on stdin, one per line, answering "ok" to each:
//   shut <pid>[,<pid>...]   cut and refuse connections whose client end one of these processes holds
//   slow <ms> all|<pid>[,<pid>...]   hold every byte <ms> in both directions, on every connection or on those
//                           whose client end one of these processes holds (0 ends it)
//   heal                    let everything through again, at full speed
// It exits when stdin closes.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

#include "tests/support/tcp_proxy.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: bento-chaos-proxy <target-port>\n";
    return 2;
  }
  long target = std::strtol(argv[1], nullptr, 10);
  if (target <= 0 || target > 65535) {
    std::cerr << "bento-chaos-proxy: bad port " << argv[1] << "\n";
    return 2;
  }
  bento::test::tcp_proxy proxy(static_cast<uint16_t>(target));
  std::cout << proxy.port() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd, list;
    in >> cmd >> list;
    auto pids_of = [](const std::string& text) {
      std::set<pid_t> pids;
      std::istringstream items(text);
      for (std::string item; std::getline(items, item, ',');)
        if (!item.empty())
          pids.insert(static_cast<pid_t>(std::strtol(item.c_str(), nullptr, 10)));
      return pids;
    };
    if (cmd == "heal") {
      proxy.shut_out({});
      proxy.slow_down(std::chrono::milliseconds(0), {});
    } else if (cmd == "shut") {
      proxy.shut_out(pids_of(list));
    } else if (cmd == "slow") {
      std::string who;
      in >> who;
      char* end = nullptr;
      long ms = std::strtol(list.c_str(), &end, 10);
      if (list.empty() || *end != '\0' || ms < 0 || ms > 60000 || who.empty()) {
        std::cout << "error bad delay" << std::endl;
        continue;
      }
      proxy.slow_down(std::chrono::milliseconds(ms), who == "all" ? std::set<pid_t>{} : pids_of(who), who == "all");
    } else {
      std::cout << "error unknown command" << std::endl;
      continue;
    }
    std::cout << "ok" << std::endl;
  }
  return 0;
}
