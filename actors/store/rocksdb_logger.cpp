#include "actors/store/rocksdb_logger.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

#include <rocksdb/env.h>
#include <spdlog/spdlog.h>

namespace bento::store {

namespace {

class rocksdb_logger final : public rocksdb::Logger {
public:
  rocksdb_logger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}

  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel())
      return;
    char text[1024];
    std::vsnprintf(text, sizeof text, format, ap);
    // Logged at error level by every open of a new database (it looks for the directory before creating it).
    if (std::strstr(text, "Error when reading") && std::strstr(text, "dir NotFound"))
      return;
    std::string quoted;
    for (const char* c = text; *c; ++c)
      if (*c != '"' && *c != '\n')
        quoted += *c;
    auto to = level >= rocksdb::InfoLogLevel::ERROR_LEVEL ? spdlog::level::err : spdlog::level::warn;
    spdlog::log(to, "rocksdb.log text=\"{}\"", quoted);
  }
};

} // namespace

std::shared_ptr<rocksdb::Logger> make_rocksdb_logger() {
  return std::make_shared<rocksdb_logger>();
}

} // namespace bento::store
