#include "client/bentoctl/prompt.hpp"

#include <termios.h>
#include <unistd.h>

#include <iostream>

namespace bentoctl {

std::optional<std::string> read_password(const std::string& prompt) {
  bool tty = ::isatty(STDIN_FILENO) == 1;
  termios before{};
  if (tty) {
    std::cerr << prompt << std::flush;
    ::tcgetattr(STDIN_FILENO, &before);
    termios quiet = before;
    quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string line;
  bool got = static_cast<bool>(std::getline(std::cin, line));
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &before);
    std::cerr << "\n";
  }
  if (!got)
    return std::nullopt;
  return line;
}

} // namespace bentoctl
