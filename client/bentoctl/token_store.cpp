#include "client/bentoctl/token_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace bentoctl {

namespace {

constexpr size_t max_token_file = 64 * 1024;

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

/// bento/ must be a directory of ours that nobody else can enter: one made earlier with wider rights (by hand,
/// or by a umask) is narrowed to 0700; one owned by another user is refused.
bool make_private(const std::string& dir, std::string& error) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open " + dir + ": " + std::strerror(errno);
    return false;
  }
  struct stat st{};
  bool ok = ::fstat(fd, &st) == 0;
  if (!ok)
    error = "cannot stat " + dir + ": " + std::strerror(errno);
  else if (st.st_uid != ::geteuid()) {
    error = dir + " belongs to another user (uid " + std::to_string(st.st_uid) + "); not keeping a token there";
    ok = false;
  } else if ((st.st_mode & 077) != 0 && ::fchmod(fd, 0700) != 0) {
    error = dir + " is open to other users and cannot be made private (chmod 700): " + std::strerror(errno);
    ok = false;
  }
  ::close(fd);
  return ok;
}

bool write_all(int fd, const std::string& data) {
  for (size_t at = 0; at < data.size();) {
    auto n = ::write(fd, data.data() + at, data.size() - at);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    at += static_cast<size_t>(n);
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
  // Not through a symbolic link, and only a regular file: what this program wrote.
  int fd = ::open(path->c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  struct stat st{};
  std::string text;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    char buf[4096];
    for (ssize_t n; text.size() < max_token_file && (n = ::read(fd, buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        break;
      text.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  auto token = text.substr(0, text.find('\n'));
  if (token.empty())
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
  if (!make_private(*dir, error))
    return false;
  auto path = *dir + "/token";
  // A temporary file of this run's own (a fresh name, created exclusively, 0600), written whole and synced,
  // then renamed over the token: readers and other runs only ever see a whole token. Of logins that run at
  // once, the last to rename wins.
  std::string tmp = *dir + "/.token.XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    error = "cannot create a file in " + *dir + ": " + std::strerror(errno);
    return false;
  }
  bool ok = ::fchmod(fd, 0600) == 0 && write_all(fd, token + "\n") && ::fsync(fd) == 0;
  int saved_errno = errno;
  ok = ::close(fd) == 0 && ok;
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    saved_errno = errno;
    ok = false;
  }
  if (!ok) {
    error = "cannot write " + path + ": " + std::strerror(saved_errno);
    ::unlink(tmp.c_str());
    return false;
  }
  // The rename itself to disk, so that a crash does not bring back the previous token (best effort).
  if (int dfd = ::open(dir->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

void forget_token() {
  if (auto path = token_path())
    ::unlink(path->c_str());
}

} // namespace bentoctl
