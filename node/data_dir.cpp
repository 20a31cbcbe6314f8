#include "node/data_dir.hpp"

#include <sys/stat.h>

#include <filesystem>

#include <spdlog/spdlog.h>

namespace bento::node {

namespace {

void warn_if_open(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return;
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    spdlog::warn("node.data_dir_permissive path={} mode={:o} hint=\"chmod -R go-rwx {}\"", path,
                 st.st_mode & 07777, path);
}

} // namespace

domain::outcome<domain::unit_t> prepare_data_dir(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  bool existed = fs::exists(path, ec);
  if (!existed) {
    fs::create_directories(path, ec);
    if (ec)
      return domain::fail(domain::errc::storage_failure, ec.message());
    // umask(077) already makes it 0700; say so explicitly in case the process was started another way.
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec)
      return domain::fail(domain::errc::storage_failure, ec.message());
    return domain::unit;
  }
  if (!fs::is_directory(path, ec))
    return domain::fail(domain::errc::storage_failure, "not a directory");
  // A directory that holds files but nothing of Bento's is someone else's (a typo in BENTO_DATA_DIR, a home
  // directory): a node would mix its store into it, and a later wipe of "the data dir" would take their files.
  bool ours = fs::exists(path + "/db", ec) || fs::exists(path + "/secret", ec);
  if (!ours) {
    for (auto& entry : fs::directory_iterator(path, ec)) {
      auto name = entry.path().filename().string();
      if (name == "lost+found") // a fresh file system's root
        continue;
      return domain::fail(domain::errc::storage_failure,
                          "holds files that are not Bento's (e.g. '" + name + "'); point BENTO_DATA_DIR at an empty "
                          "or missing directory, or at a Bento node's data dir");
    }
  }
  // An existing directory is the operator's: warn, do not silently change what they may rely on.
  warn_if_open(path);
  warn_if_open(path + "/db");
  warn_if_open(path + "/secret");
  return domain::unit;
}

} // namespace bento::node
