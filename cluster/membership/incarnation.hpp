#pragma once
// The node's incarnation: a counter kept in its data dir that grows by one at every start, so that peers can
// tell a restarted node (higher incarnation) from late frames of its previous process. The node calls this once
// at start and passes the value to the transport and membership configs.
#include <cstdint>
#include <string>

#include "protocol/domain/outcome.hpp"

namespace bento::cluster::membership {

/// Reads <data_dir>/cluster_incarnation (absent: 0), writes back one more (write to a temporary file, fsync,
/// rename, fsync the directory: a crash leaves the old or the new value, never a torn one) and returns it.
domain::outcome<uint64_t> next_incarnation(const std::string& data_dir);

} // namespace bento::cluster::membership
