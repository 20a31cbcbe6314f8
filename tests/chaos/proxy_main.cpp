// bento-chaos-proxy: tests/support/tcp_proxy as a process, for the chaos rig (tests/chaos/chaos.py), which puts
// one in front of each node's cluster port. Usage: bento-chaos-proxy <target-port>. Prints the proxy's port on
// the first line, then takes commands on stdin, one per line, answering "ok" to each:
//   shut <pid>[,<pid>...]   cut and refuse connections whose client end one of these processes holds
//   heal                    let everything through again
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
    if (cmd == "heal") {
      proxy.shut_out({});
    } else if (cmd == "shut") {
      std::set<pid_t> pids;
      std::istringstream items(list);
      for (std::string item; std::getline(items, item, ',');)
        if (!item.empty())
          pids.insert(static_cast<pid_t>(std::strtol(item.c_str(), nullptr, 10)));
      proxy.shut_out(std::move(pids));
    } else {
      std::cout << "error unknown command" << std::endl;
      continue;
    }
    std::cout << "ok" << std::endl;
  }
  return 0;
}
