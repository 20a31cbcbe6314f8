#include "cluster/shard/replica_host.hpp"

#include <algorithm>
#include <limits>

#include <spdlog/spdlog.h>

#include "cluster/placement.hpp"
#include "cluster/shard/raft_wire.hpp"

namespace bento::cluster::shard {

using namespace bento::cluster::consensus;

replica_host::replica_host(store::shard_set& shards, host_options options, outbound send)
  : shards_(shards), options_(std::move(options)), send_(std::move(send)) {
  replicas_.resize(shards.count());
  serving_ = std::make_unique<std::atomic<bool>[]>(shards.count());
  serving_until_ = std::make_unique<std::atomic<int64_t>[]>(shards.count());
  serving_epoch_.assign(shards.count(), 0);
  for (domain::shard_id s = 0; s < shards.count(); ++s) {
    serving_[s] = false;
    serving_until_[s] = 0;
  }
}

replica_host::~replica_host() {
  stop();
  for (domain::shard_id s = 0; s < shards_.count(); ++s)
    if (replicas_[s])
      shards_.of(s).set_writer(nullptr);
}

domain::outcome<domain::unit_t> replica_host::open(const std::vector<std::vector<std::string>>& placement,
                                                   const std::vector<std::string>& members, bool bootstrap,
                                                   size_t replicas) {
  placement_ = placement;
  placement_.resize(shards_.count());
  members_ = members;
  size_t count = 1;
  for (auto& p : placement_)
    count = std::max(count, p.size());
  replica_count_ = replicas > 0 ? replicas : count;
  if (members_.empty())
    for (auto& p : placement_)
      for (auto& name : p)
        if (std::find(members_.begin(), members_.end(), name) == members_.end())
          members_.push_back(name);
  auto self_id = member_id(options_.self);
  for (domain::shard_id s = 0; s < shards_.count(); ++s) {
    membership founders;
    for (auto& name : placement_[s]) {
      auto id = member_id(name);
      names_[id] = name;
      founders.voters.insert(id);
    }
    for (auto& name : members) {
      auto id = member_id(name);
      names_[id] = name;
      if (!founders.is_voter(id))
        founders.learners.insert(id);
    }
    if (!founders.contains(self_id))
      continue;
    if (!bootstrap)
      founders = membership{}; // joined: the leaders say who the group is
    replica_options ro;
    ro.raft.id = self_id;
    ro.raft.seed = self_id ^ (static_cast<uint64_t>(s) << 32) ^ 0x9e3779b97f4a7c15ull;
    ro.raft.election_ticks = options_.election_ticks;
    ro.raft.heartbeat_ticks = options_.heartbeat_ticks;
    ro.raft.max_bytes_per_append = std::min<size_t>(ro.raft.max_bytes_per_append, options_.frame_max_bytes / 4);
    bool lone = founders.voters.size() == 1 && founders.learners.empty();
    ro.keep_entries = lone ? 0 : options_.keep_entries;
    ro.snapshot_max_bytes = options_.snapshot_max_bytes;
    auto replica = shard_replica::open(shards_.of(s), s, ro, founders);
    if (!replica)
      return replica.error();
    auto* r = replica->get();
    r->set_sender([this, s](const message& m) {
      // A snapshot carries a shard's data (up to snapshot_max_bytes): its own frame, never added to a batch.
      if (m.type == message_type::install_snapshot) {
        send_now(m.to, encode_raft_batch({{s, m}}));
        return;
      }
      if (collecting_thread_.load() == std::this_thread::get_id()) {
        collected_[m.to].emplace_back(s, m); // only the driver thread collects, and only it flushes
        return;
      }
      send_now(m.to, encode_raft_batch({{s, m}}));
    });
    shards_.of(s).set_writer(r);
    // A group of one voter elects itself now, so a single node serves from its first request.
    if (founders.voters.size() == 1 && founders.is_voter(self_id) && !r->campaign_alone())
      return domain::fail(domain::errc::storage_failure,
                          "shard " + std::to_string(s) + ": this node could not lead its own group");
    replicas_[s] = std::move(*replica);
  }
  // Before anything can ask: a lone node's groups serve from here on, not from the driver's first round (a
  // request or a recovery wake that came first would be turned away as "not served here").
  refresh_serving();
  return domain::unit;
}

std::optional<std::string> replica_host::name_of(node_id id) const {
  std::lock_guard lock(placement_mutex_);
  auto it = names_.find(id);
  if (it == names_.end())
    return std::nullopt;
  return it->second;
}

void replica_host::send_now(node_id to, std::string batch) {
  auto name = name_of(to);
  if (!name || !send_)
    return;
  ++frames_out_;
  send_(*name, std::move(batch));
}

void replica_host::flush_collected() {
  auto collected = std::move(collected_);
  collected_.clear();
  // One frame per peer unless that would pass half the frame limit: then as many as it takes.
  const size_t budget = std::max<size_t>(options_.frame_max_bytes / 2, 4096);
  for (auto& [to, messages] : collected) {
    std::vector<group_message> batch;
    size_t bytes = 0;
    for (auto& [g, m] : messages) {
      size_t size = 96 + m.snapshot_data.size();
      for (auto& e : m.entries)
        size += e.data.size() + 32;
      if (!batch.empty() && bytes + size > budget) {
        send_now(to, encode_raft_batch(batch));
        batch.clear();
        bytes = 0;
      }
      batch.push_back(group_message{g, std::move(m)});
      bytes += size;
    }
    if (!batch.empty())
      send_now(to, encode_raft_batch(batch));
  }
}

void replica_host::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable())
    return;
  stopping_ = false;
  // From now on the driver writes what proposals and peers' messages leave, a round at a time.
  for (auto& r : replicas_)
    if (r)
      r->defer_to([this] { wake_round(); });
  thread_ = std::thread([this] { run(); });
}

void replica_host::wake_round() {
  if (round_due_.exchange(true, std::memory_order_acq_rel))
    return; // the driver has not started the round that writes it yet
  { std::lock_guard lock(mutex_); } // a driver between its check and its wait is inside wait() once we hold it
  wake_.notify_one();
}

void replica_host::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
  for (auto& r : replicas_)
    if (r) {
      r->defer_to({}); // no driver any more: each write is written as it comes (a proposal left unwritten is
                       // unanswered, as after a crash)
      r->drop_transfers();
    }
}

void replica_host::deliver(const std::string& from, std::string batch) {
  {
    std::lock_guard lock(mutex_);
    // Bounded: a flood from one peer cannot grow the queue without end (the consensus core retries).
    if (inbound_.size() >= 10'000) {
      ++malformed_;
      return;
    }
    inbound_.emplace_back(from, std::move(batch));
  }
  wake_.notify_one();
}

void replica_host::process_inbound(const std::string& from, const std::string& batch) {
  std::vector<group_message> messages;
  if (!decode_raft_batch(batch, messages)) {
    ++malformed_;
    return;
  }
  ++frames_in_;
  auto from_id = member_id(from);
  {
    // The transport authenticated the sender: its name is how to answer it, even before the member record
    // (a node that joined through some seeds hears from leaders it was never told of).
    std::lock_guard lock(placement_mutex_);
    names_.emplace(from_id, from);
  }
  for (auto& gm : messages) {
    auto g = gm.group;
    auto& m = gm.message;
    // A peer speaks only for itself: a message claiming another sender is a lie, dropped.
    if (m.from != from_id || g >= replicas_.size() || !replicas_[g]) {
      ++unknown_group_;
      continue;
    }
    replicas_[g]->step(m, &gm.batches);
  }
}

void replica_host::refresh_serving(std::chrono::steady_clock::time_point last_tick) {
  for (domain::shard_id s = 0; s < replicas_.size(); ++s) {
    auto ticks = replicas_[s] ? replicas_[s]->serving_ticks() : 0;
    bool now = ticks > 0;
    // The deadline first, so that a reader who sees serving_ true also sees a deadline of this lease.
    auto until = ticks == std::numeric_limits<uint64_t>::max() || ticks > 1'000'000
                   ? std::numeric_limits<int64_t>::max()
                   : (last_tick + options_.tick * static_cast<int64_t>(ticks)).time_since_epoch().count();
    serving_until_[s].store(now ? until : 0, std::memory_order_release);
    auto term = replicas_[s] ? replicas_[s]->term() : 0;
    // The write epoch, not only the term: it also ends when a lone leader's write fails or the group gains or
    // loses its other members, and the entities of an ended epoch may not write again.
    auto epoch = replicas_[s] ? replicas_[s]->epoch() : 0;
    if (!now && serving_[s].load(std::memory_order_acquire))
      replicas_[s]->revoke(); // before anyone hears: no entity of the ending epoch writes again
    bool before = serving_[s].exchange(now, std::memory_order_acq_rel);
    // Lost and won again between two looks: the entities in memory belong to the earlier lead.
    bool relead = now && before && epoch != serving_epoch_[s];
    if (now)
      serving_epoch_[s] = epoch;
    if (relead && serving_handler_)
      serving_handler_(s, false);
    if (now != before || relead) {
      spdlog::info("shard.{} shard={} term={}", now ? "serving" : "not_serving", s, term);
      if (serving_handler_)
        serving_handler_(s, now);
    }
  }
}

void replica_host::run() {
  using clock = std::chrono::steady_clock;
  auto next_tick = clock::now() + options_.tick;
  refresh_serving();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_until(lock, next_tick, [this] {
      return stopping_ || !inbound_.empty() || round_due_.load(std::memory_order_acquire);
    });
    if (stopping_)
      break;
    // Woken by the first proposal or frame of a round, the driver steps aside once before collecting: the
    // thread that woke it (an actor thread with more commands in its mailbox, the transport with more frames)
    // goes on and adds to this round instead of starting the next. On an idle core the yield returns at once.
    // A 3-node rush (bench/paired.py --nodes 3): fresh clusters +10 % orders/s, -10 % CPU per order (5 pairs),
    // the busiest follower's writes per order 0.36 -> 0.18; settled ones (--settle 25) +2 %, -4 %; one node
    // unchanged. More yields did not add to it, and a driver that never preempts its wakers (SCHED_BATCH)
    // gained nothing.
    lock.unlock();
    std::this_thread::yield();
    lock.lock();
    round_due_.store(false, std::memory_order_release); // a proposal from here on comes round again
    auto inbound = std::move(inbound_);
    inbound_.clear();
    lock.unlock();
    collecting_thread_ = std::this_thread::get_id();
    // Missed ticks first (a stall, SIGSTOP): the lease is sound only if ticks keep pace with real time.
    int ticks = 0;
    for (auto now = clock::now(); now >= next_tick && ticks < 1000; next_tick += options_.tick, ++ticks)
      for (auto& r : replicas_)
        if (r)
          r->tick();
    if (ticks == 1000)
      next_tick = clock::now() + options_.tick;
    for (auto& [from, batch] : inbound)
      process_inbound(from, batch);
    // One write per group for the round's proposals and messages; their sends are collected with the rest.
    for (auto& r : replicas_)
      if (r)
        r->flush();
    collecting_thread_ = std::thread::id{};
    // Serving is re-read before anything goes out: a leadership transfer revokes the lease as it starts, and
    // its TimeoutNow (in this flush) lets the transferee win at once, so this node stops serving first.
    refresh_serving(next_tick - options_.tick);
    flush_collected();
    if (ticks > 0 && rounds_ % 5 == 0) {
      move_seats();
      rebalance();
    }
    if (ticks > 0 && ++rounds_ % 50 == 0)
      spdlog::debug("shard.host frames_in={} frames_out={} malformed={} unknown_group={}", frames_in_.load(),
                    frames_out_.load(), malformed_.load(), unknown_group_.load());
    lock.lock();
  }
}

std::vector<std::string> replica_host::placement_of(domain::shard_id shard) const {
  std::lock_guard lock(placement_mutex_);
  return placement_.at(shard);
}

void replica_host::set_members(const std::vector<std::string>& members, const std::set<std::string>& excluded,
                               size_t replicas) {
  if (replicas > 0)
    replica_count_ = replicas;
  {
    std::lock_guard lock(placement_mutex_);
    for (auto& m : members)
      names_[member_id(m)] = m;
    members_ = members;
  }
  set_excluded(excluded);
}

void replica_host::set_excluded(const std::set<std::string>& nodes) {
  std::vector<std::string> active;
  {
    std::lock_guard lock(placement_mutex_);
    for (auto& m : members_)
      if (!nodes.count(m))
        active.push_back(m);
  }
  if (active.empty())
    return; // nowhere to go: keep the placement
  auto next = place_all(shards_.count(), active, std::min(replica_count_.load(), active.size()));
  std::lock_guard lock(placement_mutex_);
  if (next != placement_)
    spdlog::info("shard.placement_changed excluded={} active={}", nodes.size(), active.size());
  placement_ = std::move(next);
}

std::vector<std::string> replica_host::names_of(const std::set<node_id>& ids) const {
  std::vector<std::string> out;
  for (auto id : ids)
    out.push_back(name_of(id).value_or(std::to_string(id)));
  return out;
}

std::vector<std::string> replica_host::voters_of(domain::shard_id shard) const {
  return replicates(shard) ? names_of(replicas_[shard]->members().voters) : std::vector<std::string>{};
}

std::vector<std::string> replica_host::learners_of(domain::shard_id shard) const {
  return replicates(shard) ? names_of(replicas_[shard]->members().learners) : std::vector<std::string>{};
}

uint64_t replica_host::seats_of(const std::string& node) const {
  uint64_t seats = 0;
  auto id = member_id(node);
  for (auto& r : replicas_)
    if (r && r->members().is_voter(id))
      ++seats;
  return seats;
}

void replica_host::move_seats() {
  if (!moves_enabled_)
    return;
  // The leader of a shard moves its voters to the shard's placement: one shard at a time on this node, so a
  // change of membership moves the cluster's data a shard at a time, not all at once.
  auto target_of = [this](domain::shard_id s) {
    std::set<node_id> ids;
    for (auto& name : placement_of(s))
      ids.insert(member_id(name));
    return ids;
  };
  std::set<node_id> everyone;
  {
    std::lock_guard lock(placement_mutex_);
    for (auto& m : members_)
      everyone.insert(member_id(m));
  }
  // A member a group does not know yet (it joined) becomes a learner of every shard led here at once: that is
  // only the log going to one more node, and it must hold the data before it can take any seat.
  for (domain::shard_id s = 0; s < replicas_.size(); ++s)
    if (replicas_[s] && replicas_[s]->is_leader() && replicas_[s]->add_learners(everyone))
      ++seat_moves_;
  auto settled = [&](domain::shard_id s) { return replicas_[s]->members().voters == target_of(s); };
  // A move that makes no progress for a minute (its new voter down or never catching up) yields to the next
  // shard rather than holding up every other move of this node; it is taken up again later.
  if (moving_ && (!replicas_[*moving_]->is_leader() || settled(*moving_) || ++moving_rounds_ > 120)) {
    if (settled(*moving_))
      spdlog::info("shard.seats_moved shard={}", *moving_);
    else if (moving_rounds_ > 120)
      spdlog::warn("shard.seat_move_stalled shard={}", *moving_);
    skip_from_ = static_cast<domain::shard_id>(*moving_ + 1);
    moving_.reset();
  }
  for (size_t k = 0; k < replicas_.size() && !moving_; ++k) {
    auto s = static_cast<domain::shard_id>((skip_from_ + k) % replicas_.size());
    if (replicas_[s] && replicas_[s]->is_leader() && !settled(s)) {
      moving_ = s;
      moving_rounds_ = 0;
    }
  }
  if (moving_ && replicas_[*moving_]->move_toward(target_of(*moving_)))
    ++seat_moves_;
}

void replica_host::rebalance() {
  // Leadership goes back to each shard's first placed replica once it is caught up: after a failure the
  // survivors lead its shards, and without this a restarted node would lead nothing until the next failure.
  // One transfer per call (every half second), so a returning node's shards come back one at a time.
  if (!options_.rebalance)
    return;
  for (domain::shard_id s = 0; s < replicas_.size(); ++s) {
    auto& r = replicas_[s];
    auto placed = placement_of(s);
    if (!r || placed.empty() || placed.front() == options_.self)
      continue;
    // A leader whose seat moves away hands the lead to any placed voter that can take it (the preferred one
    // may be down); otherwise only the preferred one takes it back.
    bool leaving = std::find(placed.begin(), placed.end(), options_.self) == placed.end();
    for (size_t k = 0; k < (leaving ? placed.size() : 1); ++k)
      if (r->transfer_if_caught_up(member_id(placed[k]))) {
        ++transfers_;
        spdlog::info("shard.leadership_returned shard={} to={}", s, placed[k]);
        return;
      }
  }
}

bool replica_host::votes_in(domain::shard_id shard) const {
  return replicates(shard) && replicas_[shard]->members().is_voter(member_id(options_.self));
}

std::optional<std::string> replica_host::leader_of(domain::shard_id shard) const {
  if (shard >= replicas_.size() || !replicas_[shard])
    return std::nullopt;
  auto id = replicas_[shard]->leader();
  if (id == no_node)
    return std::nullopt;
  return name_of(id);
}

uint64_t replica_host::term_of(domain::shard_id shard) const {
  return shard < replicas_.size() && replicas_[shard] ? replicas_[shard]->term() : 0;
}

replica_host::stats replica_host::snapshot_stats() const {
  stats out;
  out.frames_in = frames_in_;
  out.frames_out = frames_out_;
  out.malformed = malformed_;
  out.unknown_group = unknown_group_;
  out.leadership_transfers = transfers_;
  out.seat_moves = seat_moves_;
  for (domain::shard_id s = 0; s < replicas_.size(); ++s) {
    if (!replicas_[s])
      continue;
    ++(votes_in(s) ? out.shards_replicated : out.shards_learned);
    auto ss = replicas_[s]->snapshot_stats();
    out.snapshots.sent += ss.sent;
    out.snapshots.installed += ss.installed;
    out.snapshots.refused += ss.refused;
    out.snapshots.too_large += ss.too_large;
    out.snapshots.chunks_sent += ss.chunks_sent;
    if (serves(s))
      ++out.shards_led;
  }
  return out;
}

} // namespace bento::cluster::shard
