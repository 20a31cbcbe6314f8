#pragma once
// The data directory holds password hashes, e-mails and orders: the node creates it (and its RocksDB
// directory) owner-only, and warns when an existing one is open to the group or others.
#include <string>

#include "protocol/domain/outcome.hpp"

namespace bento::node {

/// Creates `path` (and parents) as 0700 if missing; logs `node.data_dir_permissive` (a warning) when an
/// existing directory, or the `db` directory or secret file in it, is readable by group or others.
domain::outcome<domain::unit_t> prepare_data_dir(const std::string& path);

} // namespace bento::node
