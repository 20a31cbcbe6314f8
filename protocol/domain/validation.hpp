#pragma once
// Input rules shared by every edge and re-checked by the actors (an edge that forgets one cannot corrupt
// state). Each returns an empty optional when the value is acceptable, else a failure naming the field.
#include <optional>
#include <string>

#include "protocol/domain/commands.hpp"
#include "protocol/domain/errc.hpp"

namespace bento::domain {

inline constexpr size_t max_name_length = 100;
inline constexpr size_t max_place_length = 64;
inline constexpr size_t max_description_length = 2000;
inline constexpr size_t max_url_length = 2048;
inline constexpr size_t max_note_length = 500;
inline constexpr size_t max_tags = 20;
inline constexpr size_t max_tag_length = 32;
inline constexpr size_t max_order_lines = 50;
inline constexpr int32_t max_line_qty = 1000;
inline constexpr int64_t max_price_cents = 100'000'000;
inline constexpr int64_t max_stock = 1'000'000;
inline constexpr int max_days_ahead = 60;
// A restaurant actor holds its whole menu and GET .../menu returns it unpaged: bound it.
inline constexpr size_t max_menu_items = 500;

/// Number of Unicode code points in valid UTF-8, or -1 when the bytes are not valid UTF-8.
long utf8_length(const std::string& s);

std::optional<failure> check_username(const std::string& s);
std::optional<failure> check_password(const std::string& s);
std::optional<failure> check_email(const std::string& s);
/// Free text: valid UTF-8, no control characters except where multiline is allowed, 1..max code points
/// (0..max when optional).
std::optional<failure> check_text(const char* field, const std::string& s, size_t max, bool required,
                                  bool multiline = false);
/// Identifiers chosen by clients or servers: 1..64 of [A-Za-z0-9_-].
std::optional<failure> check_id(const char* field, const std::string& s);
std::optional<failure> check_menu_item(const menu_item_input& in);
std::optional<failure> check_lines(const std::vector<line_request>& lines);
std::optional<failure> check_registration(const register_user& cmd);

} // namespace bento::domain
