// bentoctl: Bento from the command line, on the client SDK (the binary protocol, docs/protocol.md).
//
//   bentoctl [--addr host:port[,host:port...]] [--token T] [--json] [--timeout-ms N] COMMAND... [options]
//
// Exit codes: 0 done, 1 the server refused (its error code on stderr), or a write was sent and its outcome is
// unknown (outcome_unknown), 2 usage, 3 nothing changed: no node could be reached, or a read got no answer.
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "client/bentoctl/commands.hpp"
#include "client/bentoctl/token_store.hpp"

namespace {

using namespace bentoctl;

std::vector<std::string> split_addresses(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ','))
    if (!part.empty())
      out.push_back(part);
  return out;
}

std::string words_of(const command& c) {
  std::string out;
  for (auto& w : c.words)
    out += (out.empty() ? "" : " ") + w;
  return out;
}

void general_help(std::ostream& out) {
  out << "usage: bentoctl [global options] COMMAND [arguments] [options]\n\n"
         "global options (anywhere on the line):\n"
         "  --addr host:port[,...]  client ports of nodes to use (default $BENTO_ADDR or 127.0.0.1:7410)\n"
         "  --token T               session token (default $BENTO_TOKEN, else the one `login` saved)\n"
         "  --json                  print the reply as JSON, with the HTTP API's field names\n"
         "  --timeout-ms N          give up on a call after N ms, retries included (default 10000)\n"
         "  --help                  this text, or a command's (bentoctl order place --help)\n\n"
         "commands:\n";
  for (auto& c : commands())
    out << "  " << words_of(c) << (c.arguments.empty() ? "" : " " + c.arguments) << "\n      " << c.summary << "\n";
  out << "\nexit codes: 0 done; 1 the server refused (its error code on stderr), or the request was sent and its\n"
         "outcome is unknown (outcome_unknown: it may have taken effect); 2 usage; 3 unreachable: no node could be\n"
         "reached or none answered a read in time, so nothing changed\n";
}

void command_help(const command& c, std::ostream& out) {
  out << "usage: bentoctl " << words_of(c) << (c.arguments.empty() ? "" : " " + c.arguments) << " [options]\n"
      << c.summary << "\n";
  if (!c.options.empty()) {
    out << "options:\n";
    for (auto& o : c.options)
      out << "  --" << o.name << (o.takes_value ? " VALUE" : "") << (o.repeats ? " (repeatable)" : "") << "\n";
  }
  if (words_of(c) == "user register" || words_of(c) == "login")
    out << "the password comes from --password, $BENTO_PASSWORD or a prompt that does not echo\n";
  if (words_of(c) == "login")
    out << "the token is saved to $XDG_CONFIG_HOME/bento/token (else ~/.config/bento/token), mode 0600; of\n"
           "logins sharing that file, the last one to finish wins\n";
  if (words_of(c) == "order place")
    out << "without --idempotency-key one is made up; if the outcome is unknown (exit 1, outcome_unknown),\n"
           "the error shows the command to run again with it, which never orders twice\n";
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> rest;
  context ctx;
  ctx.argv.assign(argv + 1, argv + argc);
  std::optional<std::string> addr, token;
  bool help = false;
  // Global options may stand anywhere; what is left is the command and its own arguments.
  for (int i = 1; i < argc; ++i) {
    std::string w = argv[i];
    auto value = [&](const std::string& name) -> std::optional<std::string> {
      if (w.rfind("--" + name + "=", 0) == 0)
        return w.substr(name.size() + 3);
      if (w == "--" + name) {
        if (i + 1 >= argc) {
          std::cerr << "usage: --" << name << " needs a value\n";
          std::exit(exit_code::usage);
        }
        return std::string(argv[++i]);
      }
      return std::nullopt;
    };
    if (auto v = value("addr"))
      addr = v;
    else if (auto t = value("token"))
      token = t;
    else if (auto ms = value("timeout-ms")) {
      char* end = nullptr;
      auto n = std::strtol(ms->c_str(), &end, 10);
      if (ms->empty() || *end != '\0' || n < 1 || n > 3600000) {
        std::cerr << "usage: --timeout-ms must be an integer from 1 to 3600000\n";
        return exit_code::usage;
      }
      ctx.timeout = std::chrono::milliseconds(n);
    } else if (w == "--json")
      ctx.json = true;
    else if (w == "--help" || w == "-h")
      help = true;
    else
      rest.push_back(w);
  }

  // The longest command whose words start the line.
  const command* chosen = nullptr;
  for (auto& c : commands()) {
    if (c.words.size() > rest.size() || (chosen && chosen->words.size() >= c.words.size()))
      continue;
    if (std::equal(c.words.begin(), c.words.end(), rest.begin()))
      chosen = &c;
  }
  if (!chosen) {
    if (help || rest.empty()) {
      general_help(help ? std::cout : std::cerr);
      return help ? exit_code::ok : exit_code::usage;
    }
    std::cerr << "usage: unknown command '" << rest[0] << (rest.size() > 1 ? " " + rest[1] : "") << "'\n\n";
    general_help(std::cerr);
    return exit_code::usage;
  }
  if (help) {
    command_help(*chosen, std::cout);
    return exit_code::ok;
  }
  args a;
  std::string error;
  std::vector<std::string> words(rest.begin() + static_cast<std::ptrdiff_t>(chosen->words.size()), rest.end());
  if (!a.parse(words, chosen->options, error)) {
    std::cerr << "usage: " << error << "\n";
    command_help(*chosen, std::cerr);
    return exit_code::usage;
  }
  if (a.positional().size() < chosen->min_positional || a.positional().size() > chosen->max_positional) {
    std::cerr << "usage: wrong number of arguments\n";
    command_help(*chosen, std::cerr);
    return exit_code::usage;
  }

  if (!addr)
    if (const char* env = std::getenv("BENTO_ADDR"); env && *env)
      addr = env;
  ctx.nodes = split_addresses(addr.value_or("127.0.0.1:7410"));
  if (ctx.nodes.empty()) {
    std::cerr << "usage: --addr names no node\n";
    return exit_code::usage;
  }
  if (!token)
    if (const char* env = std::getenv("BENTO_TOKEN"); env && *env)
      token = env;
  if (!token)
    token = load_token();
  ctx.token = token.value_or("");
  return chosen->run(ctx, a);
}
