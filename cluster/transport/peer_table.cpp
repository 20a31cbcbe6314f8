#include "cluster/transport/peer_table.hpp"

namespace bento::cluster::transport {

peer_table::peer_table(const transport_config& cfg) : cfg_(cfg) {
}

errc peer_table::enqueue(const std::string& peer, channel ch, std::string bytes, bool& wake) {
  wake = false;
  std::lock_guard lock(mutex_);
  auto i = peers_.find(peer);
  if (i == peers_.end()) {
    ++stats_.dropped_unknown_peer;
    return errc::not_connected;
  }
  auto& s = i->second;
  if (!s.info.connected) {
    ++s.info.counters.dropped_not_connected;
    ++stats_.total.dropped_not_connected;
    return errc::not_connected;
  }
  bool full = ch == channel::membership
                ? s.priority.size() >= cfg_.priority_queue_frames
                : s.data.size() >= cfg_.queue_max_frames || s.data_bytes + bytes.size() > cfg_.queue_max_bytes;
  if (full) {
    ++s.info.counters.dropped_queue_full;
    ++stats_.total.dropped_queue_full;
    return errc::queue_full;
  }
  if (ch == channel::membership) {
    s.priority.push_back(outgoing{ch, std::move(bytes)});
  } else {
    s.data_bytes += bytes.size();
    s.data.push_back(outgoing{ch, std::move(bytes)});
  }
  if (!wake_pending_) {
    wake_pending_ = true;
    wake = true;
  }
  return errc::none;
}

std::vector<peer_info> peer_table::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<peer_info> out;
  out.reserve(peers_.size() + unnamed_.size());
  for (auto& [id, s] : peers_) {
    out.push_back(s.info);
    out.back().queued_frames = s.priority.size() + s.data.size();
  }
  for (auto& [address, info] : unnamed_)
    out.push_back(info);
  return out;
}

transport_stats peer_table::stats() const {
  std::lock_guard lock(mutex_);
  auto out = stats_;
  out.foreign_messages = foreign_->load(std::memory_order_relaxed);
  return out;
}

std::vector<std::string> peer_table::connected_peers() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (auto& [id, s] : peers_)
    if (s.info.connected)
      out.push_back(id);
  return out;
}

bool peer_table::ensure_peer(const std::string& id) {
  std::lock_guard lock(mutex_);
  if (peers_.count(id) != 0)
    return true;
  if (peers_.size() >= cfg_.max_peers) {
    ++stats_.peers_over_limit;
    return false;
  }
  peers_[id].info.id = id;
  return true;
}

void peer_table::set_link(const std::string& address, const std::string& id, link_state state) {
  std::lock_guard lock(mutex_);
  if (id.empty()) {
    auto& info = unnamed_[address];
    info.address = address;
    info.state = state;
    return;
  }
  unnamed_.erase(address);
  auto i = peers_.find(id);
  if (i == peers_.end())
    return;
  // An alias or self link says nothing about the peer's own link.
  if (state == link_state::alias || state == link_state::self)
    return;
  i->second.info.state = state;
  i->second.info.address = address;
}

void peer_table::forget_link(const std::string& address) {
  std::lock_guard lock(mutex_);
  unnamed_.erase(address);
}

void peer_table::set_identity(const std::string& id, const std::string& address, uint64_t incarnation) {
  std::lock_guard lock(mutex_);
  auto i = peers_.find(id);
  if (i == peers_.end())
    return;
  if (i->second.info.address.empty())
    i->second.info.address = address;
  i->second.info.incarnation = incarnation;
}

void peer_table::set_connected(const std::string& id, bool connected) {
  std::lock_guard lock(mutex_);
  auto i = peers_.find(id);
  if (i == peers_.end())
    return;
  auto& s = i->second;
  s.info.connected = connected;
  if (!connected) {
    auto dropped = s.priority.size() + s.data.size();
    s.info.counters.dropped_not_connected += dropped;
    stats_.total.dropped_not_connected += dropped;
    s.priority.clear();
    s.data.clear();
    s.data_bytes = 0;
  }
}

void peer_table::heard(const std::string& id, std::chrono::steady_clock::time_point when, bool delivered,
                       uint64_t bytes) {
  std::lock_guard lock(mutex_);
  auto i = peers_.find(id);
  if (i == peers_.end())
    return;
  i->second.info.last_heard = when;
  if (!delivered)
    return;
  ++i->second.info.counters.frames_received;
  i->second.info.counters.bytes_received += bytes;
  ++stats_.total.frames_received;
  stats_.total.bytes_received += bytes;
}

void peer_table::remove_peer(const std::string& id) {
  std::lock_guard lock(mutex_);
  peers_.erase(id);
}

void peer_table::count(const std::string& id, uint64_t peer_counters::*field, uint64_t n) {
  std::lock_guard lock(mutex_);
  stats_.total.*field += n;
  auto i = id.empty() ? peers_.end() : peers_.find(id);
  if (i == peers_.end())
    stats_.unattributed.*field += n;
  else
    i->second.info.counters.*field += n;
}

void peer_table::begin_drain() {
  std::lock_guard lock(mutex_);
  wake_pending_ = false;
}

std::vector<std::string> peer_table::peers_with_frames() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (auto& [id, s] : peers_)
    if (!s.priority.empty() || !s.data.empty())
      out.push_back(id);
  return out;
}

std::vector<outgoing> peer_table::take(const std::string& id, const std::function<bool(size_t, bool)>& fits) {
  std::vector<outgoing> out;
  std::lock_guard lock(mutex_);
  auto i = peers_.find(id);
  if (i == peers_.end())
    return out;
  auto& s = i->second;
  while (!s.priority.empty() && fits(s.priority.front().bytes.size(), true)) {
    out.push_back(std::move(s.priority.front()));
    s.priority.pop_front();
  }
  while (!s.data.empty() && fits(s.data.front().bytes.size(), false)) {
    s.data_bytes -= s.data.front().bytes.size();
    out.push_back(std::move(s.data.front()));
    s.data.pop_front();
  }
  return out;
}

} // namespace bento::cluster::transport
