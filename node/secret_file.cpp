#include "node/secret_file.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "protocol/domain/ids.hpp"

namespace bento::node {

domain::outcome<std::string> load_or_create_secret(const std::string& data_dir) {
  using domain::errc;
  auto path = data_dir + "/secret";
  std::ifstream in(path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    auto secret = ss.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r'))
      secret.pop_back();
    if (secret.size() < 32)
      return domain::fail(errc::invalid_argument, path + " holds fewer than 32 characters; remove it or fix it");
    return secret;
  }
  std::string raw(32, '\0');
  randombytes_buf(raw.data(), raw.size());
  auto secret = domain::to_hex(raw);
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    return domain::fail(errc::storage_failure, "cannot write " + tmp);
  auto line = secret + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    return domain::fail(errc::storage_failure, "cannot write " + path);
  return secret;
}

std::string derive_token_secret(const std::string& cluster_secret) {
  static const char context[] = "bento token signing key v1";
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(cluster_secret.data()),
                     cluster_secret.size(), reinterpret_cast<const unsigned char*>(context), sizeof context - 1);
  char hex[sizeof out * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, out, sizeof out);
  return hex;
}

} // namespace bento::node
