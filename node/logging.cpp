#include "node/logging.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "protocol/codec/protobuf_log.hpp"

namespace bento::node {

namespace {

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || c == '_' || (c >= '0' && c <= '9');
}

/// Finds the next " key=" at or after pos; returns npos if none.
size_t next_field(const std::string& s, size_t pos) {
  while ((pos = s.find(' ', pos)) != std::string::npos) {
    size_t k = pos + 1;
    while (k < s.size() && is_key_char(s[k]))
      ++k;
    if (k > pos + 1 && k < s.size() && s[k] == '=')
      return pos;
    ++pos;
  }
  return std::string::npos;
}

class json_stdout_sink : public spdlog::sinks::base_sink<std::mutex> {
public:
  explicit json_stdout_sink(std::string node) : node_(std::move(node)) {}

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto ts = std::chrono::system_clock::to_time_t(msg.time);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&ts, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    auto level = spdlog::level::to_string_view(msg.level);
    auto line = format_log_line(buf, std::string(level.data(), level.size()), node_,
                                std::string(msg.payload.data(), msg.payload.size()));
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  }
  void flush_() override { std::fflush(stdout); }

private:
  std::string node_;
};

} // namespace

std::string format_log_line(const std::string& ts, const std::string& level, const std::string& node,
                            const std::string& message) {
  nlohmann::ordered_json j;
  j["ts"] = ts;
  j["level"] = level;
  j["node"] = node;
  auto first = next_field(message, 0);
  j["msg"] = message.substr(0, first);
  while (first != std::string::npos) {
    auto eq = message.find('=', first);
    auto key = message.substr(first + 1, eq - first - 1);
    auto next = next_field(message, eq + 1);
    auto value = message.substr(eq + 1, next == std::string::npos ? std::string::npos : next - eq - 1);
    if (key != "ts" && key != "level" && key != "node" && key != "msg")
      j[key] = value;
    first = next;
  }
  // Invalid UTF-8 in a value (it may come from a client) is replaced rather than failing the log call.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void init_logging(const std::string& node_id, const std::string& level) {
  codec::route_protobuf_log();
  auto sink = std::make_shared<json_stdout_sink>(node_id);
  auto logger = std::make_shared<spdlog::logger>("bento", sink);
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

} // namespace bento::node
