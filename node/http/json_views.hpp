#pragma once
// JSON shapes of the HTTP API (docs/openapi.yaml) and strict readers for request bodies. JSON stays at the edge.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "node/http/json_writer.hpp"
#include "protocol/domain/commands.hpp"
#include "protocol/domain/errc.hpp"

namespace bento::node::json_views {

using json = nlohmann::json;

json to_json(const domain::user_view& u);
json to_json(const domain::restaurant& r);
json to_json(const domain::menu_item& i);
json to_json(const domain::order& o);
json error_body(const domain::failure& f);
// The same shapes written straight into a reply (no json tree): byte for byte what dump() of to_json() gives.
void write(json_writer& w, const domain::restaurant& r);
/// With `restaurant_name`: the item as a search finds it, its restaurant's id and name among its fields.
void write(json_writer& w, const domain::menu_item& i, const std::string* restaurant_name = nullptr);
void write(json_writer& w, const domain::order& o);
std::string iso8601(int64_t unix_ms);

/// Reads typed fields from a request object, remembering the first problem. Absent optional fields are fine;
/// a present field of the wrong type is an error (no silent coercion).
class reader {
public:
  explicit reader(const json& object) : j_(object) {}

  std::optional<std::string> string(const char* name, bool required);
  std::optional<int64_t> integer(const char* name, bool required, int64_t min, int64_t max);
  std::optional<std::vector<std::string>> strings(const char* name, bool required, size_t max_items);
  std::optional<std::vector<domain::line_request>> lines(const char* name, bool required);

  bool ok() const { return !error_; }
  const domain::failure& error() const { return *error_; }
  void fail(std::string message);

private:
  const json* field(const char* name, bool required);
  const json& j_;
  std::optional<domain::failure> error_;
};

} // namespace bento::node::json_views
