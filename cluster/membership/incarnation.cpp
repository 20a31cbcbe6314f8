#include "cluster/membership/incarnation.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace bento::cluster::membership {

namespace {

using domain::errc;
using domain::fail;

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    auto n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

} // namespace

domain::outcome<uint64_t> next_incarnation(const std::string& data_dir) {
  auto path = data_dir + "/cluster_incarnation";
  uint64_t current = 0;
  {
    std::ifstream in(path);
    if (in) {
      std::string text;
      std::getline(in, text);
      char* end = nullptr;
      errno = 0;
      auto v = std::strtoull(text.c_str(), &end, 10);
      if (text.empty() || errno != 0 || end == text.c_str() || *end != '\0')
        return fail(errc::storage_failure, path + " does not hold a number: remove it only if this node's id is "
                                                  "new to the cluster");
      current = v;
    } else if (errno != ENOENT && ::access(path.c_str(), F_OK) == 0) {
      return fail(errc::storage_failure, "cannot read " + path);
    }
  }
  auto next = current + 1;
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail(errc::storage_failure, "cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = write_all(fd, std::to_string(next) + "\n") && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    return fail(errc::storage_failure, "cannot write " + path + ": " + std::strerror(errno));
  int dir = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return next;
}

} // namespace bento::cluster::membership
