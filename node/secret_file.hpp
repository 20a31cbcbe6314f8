#pragma once
// The token signing secret when BENTO_SECRET is unset: generated once and kept in the data directory (mode
// 0600) so that tokens survive restarts of a dev node.
#include <string>

#include "protocol/domain/outcome.hpp"

namespace bento::node {

domain::outcome<std::string> load_or_create_secret(const std::string& data_dir);

} // namespace bento::node
