#pragma once
// A fresh directory under /tmp, removed with everything in it when the test ends (kept, with its nodes' data
// and logs, when BENTO_TEST_KEEP_DIRS=1: for reading what a failed run left behind).
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

namespace bento::test {

class temp_dir {
public:
  temp_dir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("bento-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    if (const char* keep = std::getenv("BENTO_TEST_KEEP_DIRS"); keep && std::strcmp(keep, "1") == 0)
      return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

private:
  std::filesystem::path path_;
};

} // namespace bento::test
