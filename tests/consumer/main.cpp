// Prints the SDK's version; with a port, asks 127.0.0.1:<port> who we are and prints the outcome.
// Uses only the installed public headers: no Protobuf or other third-party include is reachable from here.
#include <chrono>
#include <cstdio>
#include <string>

#include <bento/client/client.hpp>

int main(int argc, char** argv) {
  std::printf("bento client sdk %s\n", std::string(bento::client::version()).c_str());
  if (argc < 2)
    return 0;
  bento::client::options opts;
  opts.nodes = {std::string("127.0.0.1:") + argv[1]};
  opts.timeout = std::chrono::seconds(5);
  opts.client_name = "consumer";
  bento::client::client c(opts);
  auto me = c.me();
  if (me) {
    std::printf("user %s\n", me->username.c_str());
    return 0;
  }
  std::printf("error %s: %s\n", me.error().code_text.c_str(), me.error().message.c_str());
  return 0;
}
