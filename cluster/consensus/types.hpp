#pragma once
// Plain value types of the consensus core. Nothing here knows about CAF, Protobuf or RocksDB: the transport
// converts messages to and from bytes, the storage persists entries and hard state.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace bento::cluster::consensus {

using node_id = std::uint64_t;  // 0 means "none"
using term_t = std::uint64_t;
using index_t = std::uint64_t;

inline constexpr node_id no_node = 0;

enum class entry_type : std::uint8_t { normal = 0, noop = 1, conf_change = 2 };

struct entry {
  term_t term = 0;
  index_t index = 0;
  entry_type type = entry_type::normal;
  std::string data;  // opaque for normal entries; encoded membership_change for conf_change

  friend bool operator==(const entry& a, const entry& b) {
    return a.term == b.term && a.index == b.index && a.type == b.type && a.data == b.data;
  }
};

// What must be persisted before any message produced in the same ready() leaves the node.
struct hard_state {
  term_t term = 0;
  node_id vote = no_node;
  index_t commit = 0;

  friend bool operator==(const hard_state& a, const hard_state& b) {
    return a.term == b.term && a.vote == b.vote && a.commit == b.commit;
  }
  friend bool operator!=(const hard_state& a, const hard_state& b) { return !(a == b); }
};

struct membership {
  std::set<node_id> voters;
  std::set<node_id> learners;

  bool is_voter(node_id id) const { return voters.count(id) != 0; }
  bool is_learner(node_id id) const { return learners.count(id) != 0; }
  bool contains(node_id id) const { return is_voter(id) || is_learner(id); }
  friend bool operator==(const membership& a, const membership& b) {
    return a.voters == b.voters && a.learners == b.learners;
  }
};

// Describes a snapshot; the state machine data travels outside the core (the transport stages it before it
// steps install_snapshot, the storage keeps it next to the meta).
struct snapshot_meta {
  index_t index = 0;
  term_t term = 0;
  membership members;
};

enum class role : std::uint8_t { follower, pre_candidate, candidate, leader };

const char* to_string(role r);

}  // namespace bento::cluster::consensus
