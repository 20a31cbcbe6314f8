#pragma once
// Where `bentoctl login` keeps the session token between runs: $XDG_CONFIG_HOME/bento/token, else
// ~/.config/bento/token, created with mode 0600 (its directory 0700) so other users cannot read it.
#include <optional>
#include <string>

namespace bentoctl {

/// The token file's path, or nothing when neither XDG_CONFIG_HOME nor HOME is set.
std::optional<std::string> token_path();
std::optional<std::string> load_token();
/// Writes the token atomically (a temporary file renamed over it); false with `error` set on failure.
bool save_token(const std::string& token, std::string& error);
void forget_token();

} // namespace bentoctl
