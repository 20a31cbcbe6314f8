#include "client/bentoctl/token_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace bentoctl {

namespace {

std::optional<std::string> config_dir() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
    return std::string(xdg) + "/bento";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.config/bento";
  return std::nullopt;
}

bool make_dirs(const std::string& path) {
  // Each level in turn; the last (bento/) is private.
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    auto part = path.substr(0, pos);
    bool last = pos == std::string::npos;
    if (::mkdir(part.c_str(), last ? 0700 : 0755) != 0 && errno != EEXIST)
      return false;
  }
  return true;
}

} // namespace

std::optional<std::string> token_path() {
  auto dir = config_dir();
  if (!dir)
    return std::nullopt;
  return *dir + "/token";
}

std::optional<std::string> load_token() {
  auto path = token_path();
  if (!path)
    return std::nullopt;
  std::ifstream in(*path);
  std::string token;
  if (!in || !std::getline(in, token) || token.empty())
    return std::nullopt;
  return token;
}

bool save_token(const std::string& token, std::string& error) {
  auto dir = config_dir();
  if (!dir) {
    error = "neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the token";
    return false;
  }
  if (!make_dirs(*dir)) {
    error = "cannot create " + *dir + ": " + std::strerror(errno);
    return false;
  }
  auto path = *dir + "/token";
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot write " + tmp + ": " + std::strerror(errno);
    return false;
  }
  ::fchmod(fd, 0600); // whatever the umask, and if the file existed with wider rights
  auto line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot write " + path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

void forget_token() {
  if (auto path = token_path())
    ::unlink(path->c_str());
}

} // namespace bentoctl
