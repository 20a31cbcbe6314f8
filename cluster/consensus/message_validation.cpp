#include "cluster/consensus/message_validation.hpp"

namespace bento::cluster::consensus {

namespace {

bool sane(std::uint64_t v) { return v < max_sane_value; }

bool valid_snapshot(const snapshot_meta& s, term_t msg_term) {
  if (s.index == 0 || !sane(s.index) || s.term == 0 || s.term > msg_term) return false;
  if (s.members.voters.empty()) return false;
  for (auto id : s.members.voters) {
    if (id == no_node || s.members.is_learner(id)) return false;
  }
  return s.members.learners.count(no_node) == 0;
}

bool valid_append_entries(const message& m) {
  if (m.log_term > m.term) return false;
  if (m.index == 0 && m.log_term != 0) return false;
  if (m.entries.size() > max_entries_per_message) return false;
  term_t prev_term = m.log_term;
  index_t expected = m.index + 1;
  for (const entry& e : m.entries) {
    if (e.index != expected) return false;
    if (e.term < prev_term || e.term > m.term || e.term == 0) return false;
    if (e.type != entry_type::normal && e.type != entry_type::noop && e.type != entry_type::conf_change) {
      return false;
    }
    prev_term = e.term;
    ++expected;
  }
  return sane(expected);
}

}  // namespace

bool well_formed(const message& m, node_id self) {
  if (m.to != self || m.from == no_node || m.from == self) return false;
  if (static_cast<int>(m.type) >= message_type_count) return false;
  if (m.term == 0 || !sane(m.term) || !sane(m.index) || !sane(m.commit) || !sane(m.log_term) ||
      !sane(m.reject_hint)) {
    return false;
  }
  if (m.type != message_type::append && !m.entries.empty()) return false;
  switch (m.type) {
    case message_type::append: return valid_append_entries(m);
    case message_type::install_snapshot: return valid_snapshot(m.snapshot, m.term);
    case message_type::vote:
    case message_type::prevote: return m.log_term <= m.term;
    case message_type::append_resp: return !m.reject || m.reject_hint <= m.index;
    case message_type::snapshot_resp: return false;  // reserved, never sent
    default: return true;
  }
}

}  // namespace bento::cluster::consensus
