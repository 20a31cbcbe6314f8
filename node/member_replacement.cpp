#include "node/member_replacement.hpp"

namespace bento::node {

namespace {

bool seated(const std::string& state) {
  return state == "up" || state == "joining";
}

} // namespace

std::vector<replacement_due> members_to_replace(const replacement_look& look,
                                                std::map<std::string, std::chrono::steady_clock::time_point>& down_since) {
  for (auto& [node, state] : look.member_states)
    if (node != look.self && seated(state) && !look.members_up.count(node))
      down_since.emplace(node, look.now);
  std::vector<replacement_due> due;
  for (auto& [node, since] : down_since) {
    if (node == look.self)
      continue;
    // Recorded leaving or replaced already: its seats are going or gone. One the record does not list yet is
    // judged by the same rules as an up one.
    auto recorded = look.member_states.find(node);
    if (recorded != look.member_states.end() && !seated(recorded->second))
      continue;
    bool taken = look.superseded.count(node) > 0;
    if (taken || look.now - since >= look.replace_after)
      due.push_back(replacement_due{node, taken});
  }
  return due;
}

} // namespace bento::node
