#include "protocol/codec/protobuf_log.hpp"

#include <string>

// SetLogHandler: Protobuf 3.21 declares its log hook in its portability headers.
#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

namespace bento::codec {

void route_protobuf_log() {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel level, const char*, int, const std::string& message) {
    if (level >= google::protobuf::LOGLEVEL_FATAL)
      spdlog::critical("protobuf message={}", message);
    else
      spdlog::debug("protobuf message={}", message);
  });
}

} // namespace bento::codec
