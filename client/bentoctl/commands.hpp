#pragma once
// bentoctl's commands: each names its words ("order place"), its options and its usage, and runs on the SDK.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bento/client/client.hpp"
#include "client/bentoctl/args.hpp"

namespace bentoctl {

/// Exit codes (documented in `bentoctl --help`). `unreachable` only when nothing can have changed: no node
/// was reached, or a read got no answer; a write that may have been sent and got no answer is `refused`
/// (outcome_unknown).
enum exit_code : int { ok = 0, refused = 1, usage = 2, unreachable = 3 };

struct context {
  std::vector<std::string> argv; // the command line as given, past the program's name
  std::vector<std::string> nodes;
  std::string token;
  bool json = false;
  std::chrono::milliseconds timeout{10000};
  std::unique_ptr<bento::client::client> sdk;

  bento::client::client& client();
};

struct command {
  std::vector<std::string> words;  // "order", "place"
  std::string arguments;           // "RID IID=QTY..."
  std::string summary;
  std::vector<option_spec> options;
  size_t min_positional = 0;
  size_t max_positional = 0;       // SIZE_MAX: any number
  std::function<int(context&, const args&)> run;
};

const std::vector<command>& commands();

/// Prints the failure (its code, then the message) to stderr and gives the exit code for it.
int report(const bento::client::error& e);

} // namespace bentoctl
