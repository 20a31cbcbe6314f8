#include "client/bentoctl/args.hpp"

namespace bentoctl {

bool args::parse(const std::vector<std::string>& words, const std::vector<option_spec>& specs, std::string& error) {
  bool only_positional = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const auto& w = words[i];
    if (only_positional || w.size() < 2 || w.rfind("--", 0) != 0) {
      if (w == "--" && !only_positional) {
        only_positional = true;
        continue;
      }
      positional_.push_back(w);
      continue;
    }
    auto name = w.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const option_spec* spec = nullptr;
    for (auto& s : specs)
      if (s.name == name)
        spec = &s;
    if (!spec) {
      error = "unknown option --" + name;
      return false;
    }
    std::string value;
    if (spec->takes_value) {
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < words.size()) {
        value = words[++i];
      } else {
        error = "--" + name + " needs a value";
        return false;
      }
    } else if (inline_value) {
      error = "--" + name + " takes no value";
      return false;
    }
    auto& slot = values_[name];
    if (!slot.empty() && !spec->repeats) {
      error = "--" + name + " given twice";
      return false;
    }
    slot.push_back(std::move(value));
  }
  return true;
}

std::optional<std::string> args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty())
    return std::nullopt;
  return it->second.front();
}

std::vector<std::string> args::all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

} // namespace bentoctl
