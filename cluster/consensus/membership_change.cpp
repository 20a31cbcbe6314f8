#include "cluster/consensus/membership_change.hpp"

#include <cstring>

namespace bento::cluster::consensus {

std::optional<membership> apply_change(const membership& current, const membership_change& change) {
  if (change.node == no_node) return std::nullopt;
  membership next = current;
  switch (change.kind) {
    case change_kind::add_voter:
      if (current.contains(change.node)) return std::nullopt;
      next.voters.insert(change.node);
      break;
    case change_kind::add_learner:
      if (current.contains(change.node)) return std::nullopt;
      next.learners.insert(change.node);
      break;
    case change_kind::promote_learner:
      if (!current.is_learner(change.node)) return std::nullopt;
      next.learners.erase(change.node);
      next.voters.insert(change.node);
      break;
    case change_kind::remove:
      if (!current.contains(change.node)) return std::nullopt;
      next.voters.erase(change.node);
      next.learners.erase(change.node);
      if (next.voters.empty()) return std::nullopt;
      break;
    case change_kind::demote_voter:
      if (!current.is_voter(change.node) || current.voters.size() == 1) return std::nullopt;
      next.voters.erase(change.node);
      next.learners.insert(change.node);
      break;
  }
  return next;
}

// Layout: u32 voter count, u32 learner count, then the ids as u64, all little-endian.
namespace {
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t get_u64(const std::string& in, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}
}  // namespace

std::string encode_membership(const membership& m) {
  std::string out;
  put_u64(out, (static_cast<std::uint64_t>(m.learners.size()) << 32) | m.voters.size());
  for (auto id : m.voters) put_u64(out, id);
  for (auto id : m.learners) put_u64(out, id);
  return out;
}

std::optional<membership> decode_membership(const std::string& data) {
  if (data.size() < 8 || data.size() % 8 != 0) return std::nullopt;
  const std::uint64_t counts = get_u64(data, 0);
  const std::uint64_t voters = counts & 0xffffffffu;
  const std::uint64_t learners = counts >> 32;
  if ((voters + learners + 1) * 8 != data.size()) return std::nullopt;
  membership m;
  for (std::uint64_t i = 0; i < voters + learners; ++i) {
    const node_id id = get_u64(data, 8 * (i + 1));
    if (id == no_node || m.contains(id)) return std::nullopt;
    (i < voters ? m.voters : m.learners).insert(id);
  }
  if (m.voters.empty()) return std::nullopt;
  return m;
}

}  // namespace bento::cluster::consensus
