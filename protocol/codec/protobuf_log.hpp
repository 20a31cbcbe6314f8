#pragma once
// Protobuf's own log lines, through spdlog.

namespace bento::codec {

/// Protobuf writes to stderr whenever a parsed message holds a `string` field that is not UTF-8: any client or
/// peer could fill the log with one such frame after another. Routes them to spdlog at debug (fatal ones at
/// critical). Call once at start.
void route_protobuf_log();

} // namespace bento::codec
