#pragma once
// What bentoctl prints: with --json exactly the reply, with the HTTP API's field names (so scripts can switch
// between `curl` and `bentoctl`); otherwise short tables for people.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bento/client/types.hpp"

namespace bentoctl {

using json = nlohmann::json;
namespace bc = bento::client;

std::string iso8601(int64_t unix_ms);
std::string to_string(bc::role r);
std::string to_string(bc::meal m);
std::string to_string(bc::order_status s);

json to_json(const bc::user& u);
json to_json(const bc::session& s);
json to_json(const bc::restaurant& r);
json to_json(const bc::menu_item& i, bool with_restaurant = false);
json to_json(const bc::order& o);
json to_json(const bc::restaurant_list& l);
json to_json(const bc::menu& m);
json to_json(const bc::menu_page& p);
json to_json(const bc::order_list& l);
json to_json(const bc::cluster_status& s);

/// Columns padded to their widest cell.
std::string table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);
std::string money(int64_t cents);

} // namespace bentoctl
