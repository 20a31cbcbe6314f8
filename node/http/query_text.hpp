#pragma once
// Strict readers for the text clients put in a URL or body: query strings, decimal numbers, JSON nesting.
// Anything not exactly in the expected form is refused (400), never "repaired": `limit=+5`, `limit=%20100`
// and `limit=100%00` are not numbers, and a NUL or control character never reaches the domain.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace bento::node {

/// application/x-www-form-urlencoded decoding; false on a broken escape, invalid UTF-8, or a control
/// character (NUL, CR, LF, ... DEL) before or after decoding.
bool url_decode(std::string_view in, std::string& out);

/// Splits and decodes a query string; false when any part is malformed or a key repeats with another value.
bool parse_query(std::string_view raw, std::map<std::string, std::string>& out);

/// A decimal in [0, max]: ASCII digits only (no sign, space or other padding), at most 9 of them.
std::optional<uint32_t> parse_decimal(std::string_view text, uint32_t max);

/// False when brackets and braces outside strings nest deeper than `max_depth`.
bool json_depth_within(std::string_view text, int max_depth);

} // namespace bento::node
