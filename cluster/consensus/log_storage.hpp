#pragma once
// What the core reads of the durable log. The core never writes through it: the driver persists what ready()
// returns and only then calls advance(). Implementations return only durable data.
#include "cluster/consensus/types.hpp"

#include <cstddef>
#include <optional>
#include <vector>

namespace bento::cluster::consensus {

class log_storage {
public:
  virtual ~log_storage() = default;
  virtual hard_state initial_hard_state() const = 0;
  // The latest snapshot; index 0 means none. A group is bootstrapped by writing, on each founding member, the
  // same committed entry {term 1, index 1, conf_change, encode_membership(founders)} with hard state
  // {term 1, no vote, commit 1}; a node that joins later starts empty and learns its membership from the log
  // or from a snapshot (whose membership is the one in force at its index).
  virtual snapshot_meta snapshot() const = 0;
  // snapshot().index + 1
  virtual index_t first_index() const = 0;
  // snapshot().index when the log is empty
  virtual index_t last_index() const = 0;
  // For i in [first_index() - 1, last_index()]; nullopt outside (compacted or not there).
  virtual std::optional<term_t> term(index_t i) const = 0;
  // Entries [lo, hi) with first_index() <= lo < hi <= last_index() + 1, stopping before max_bytes except that
  // at least one entry is returned.
  virtual std::vector<entry> entries(index_t lo, index_t hi, std::size_t max_bytes) const = 0;
};

}  // namespace bento::cluster::consensus
