#pragma once
// Logs are an event stream on stdout: one JSON object per line. Code logs "event.name key=value ..." through
// spdlog; the sink turns that into {"ts","level","node","msg":"event.name","key":"value",...}.
#include <string>

namespace bento::node {

void init_logging(const std::string& node_id, const std::string& level);

/// Exposed for tests: the JSON line for one message.
std::string format_log_line(const std::string& ts, const std::string& level, const std::string& node,
                            const std::string& message);

} // namespace bento::node
