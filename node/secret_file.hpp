#pragma once
// The token signing secret when BENTO_SECRET is unset: generated once and kept in the data directory (mode
// 0600) so that tokens survive restarts of a dev node.
#include <string>

#include "protocol/domain/outcome.hpp"

namespace bento::node {

domain::outcome<std::string> load_or_create_secret(const std::string& data_dir);

/// The token signing secret of a cluster when BENTO_SECRET is unset: every node must verify every other node's
/// tokens, so it is derived from the cluster secret they share (keyed BLAKE2b, one way: the token key never
/// reveals the secret that admits a node to the cluster).
std::string derive_token_secret(const std::string& cluster_secret);

} // namespace bento::node
