#pragma once
// Which cluster members the metadata shard's leader replaces now (cluster_runtime's replacer thread looks once a
// second): plain rules over what that node sees, so that tests can drive them with any history and clock.
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace bento::node {

struct replacement_look {
  std::string self;                                 // the looking node: never replaced by itself
  std::map<std::string, std::string> member_states; // the cluster record: member id -> "up", "joining", ...
  std::set<std::string> members_up;                 // members this node's failure detector sees up now
  std::set<std::string> superseded;                 // down members whose last address an up member answers on
  std::chrono::steady_clock::time_point now;
  std::chrono::seconds replace_after{300};          // BENTO_REPLACE_AFTER_S
};

struct replacement_due {
  std::string node;
  bool address_taken = false; // replaced at once: another member answers on its address
};

/// The members to record as replaced now. `down_since` (member id -> since when down) is also kept up to date by
/// the membership's down/up events; this adds every member of the record that is up or joining there but not
/// seen up here, from this first look: a member that died before this node joined gets no "down" event here,
/// and would otherwise never be replaced once this node leads the metadata.
std::vector<replacement_due> members_to_replace(const replacement_look& look,
                                                std::map<std::string, std::chrono::steady_clock::time_point>& down_since);

} // namespace bento::node
