#pragma once
#include <optional>
#include <string>

namespace bentoctl {

/// Reads a password from the terminal without echoing it (from stdin as a line when it is not a terminal).
std::optional<std::string> read_password(const std::string& prompt);

} // namespace bentoctl
