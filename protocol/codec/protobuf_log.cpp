#include "protocol/codec/protobuf_log.hpp"

#include <string>

// Protobuf 3.21 declares SetLogHandler in this header (its logging API lives under stubs/; it is not a
// placeholder).
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
