#pragma once
// Where `bentoctl login` keeps the session token between runs: $XDG_CONFIG_HOME/bento/token, else
// ~/.config/bento/token, created with mode 0600 in a directory of ours with mode 0700 (narrowed to it if it
// was wider) so other users cannot read it. The file always holds one whole token: each save writes a fresh
// temporary file and renames it over the token, so when logins run at once the last one to finish wins.
#include <optional>
#include <string>

namespace bentoctl {

/// The token file's path, or nothing when neither XDG_CONFIG_HOME nor HOME is set.
std::optional<std::string> token_path();
/// The saved token; nothing when there is none (or the file is a symbolic link or not a regular file).
std::optional<std::string> load_token();
/// Writes the token atomically (a temporary file of its own renamed over it); false with `error` set on
/// failure, or when the directory belongs to another user.
bool save_token(const std::string& token, std::string& error);
void forget_token();

} // namespace bentoctl
