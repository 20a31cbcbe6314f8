#pragma once
// bentoctl's command line: positional words and --options, each option declared with whether it takes a value
// and whether it may repeat, so that a typo is a usage error (exit 2) rather than a silently ignored flag.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace bentoctl {

struct option_spec {
  std::string name;   // without the dashes
  bool takes_value = true;
  bool repeats = false;
};

class args {
public:
  /// Splits argv (past the command words) by the specs; false with `error` set on an unknown option, a
  /// missing value, or a repeat of a single option.
  bool parse(const std::vector<std::string>& words, const std::vector<option_spec>& specs, std::string& error);

  const std::vector<std::string>& positional() const { return positional_; }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> get(const std::string& name) const;
  std::vector<std::string> all(const std::string& name) const;

private:
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> values_;
};

} // namespace bentoctl
