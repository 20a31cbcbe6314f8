#pragma once
// Protobuf refuses to parse a `string` field that is not UTF-8, and a ClientFrame the node cannot parse ends
// the whole connection (and every request pipelined on it). So the strings the SDK puts in the frame itself,
// outside the `bytes` payload (token, idempotency key, routing key, client name), are checked first.
#include <string>
#include <string_view>

namespace bento::client::detail {

bool valid_utf8(std::string_view s) noexcept;

/// At most `max_bytes`, cut at a character boundary; invalid input gives `fallback`.
std::string utf8_prefix(const std::string& s, size_t max_bytes, const std::string& fallback);

} // namespace bento::client::detail
