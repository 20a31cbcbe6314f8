#pragma once
// Every shard replica of one node, and the loop that drives them: one thread ticks all of them at the tick
// interval (catching up missed ticks after a stall, as the core requires for its lease) and steps the consensus
// messages that arrive from peers; messages produced while ticking go out coalesced, one frame per peer per
// tick (the heartbeats of every group that pair shares ride together). Once started it also writes what
// entities propose: a proposal wakes it, and each round persists every group's proposals and stepped messages
// in one write per group before their sends go out together (shard_replica::defer_to). It tells the router
// which shards this node serves (leads, caught up, lease held) and who leads the others it replicates.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "actors/store/shard_store.hpp"
#include "cluster/shard/shard_replica.hpp"

namespace bento::cluster::shard {

struct host_options {
  std::string self;                                      // this node's name
  std::chrono::milliseconds tick{100};                   // consensus tick
  int election_ticks = 10;                               // 1-2 s to elect after a leader goes silent
  int heartbeat_ticks = 1;
  consensus::index_t keep_entries = 10'000;              // log kept behind the applied index for laggards
  size_t snapshot_max_bytes = 1u << 20;                  // snapshot chunk size (a shard's snapshot streams in chunks)
  // The largest frame a peer accepts (BENTO_PEER_FRAME_MAX_BYTES): a round's messages to one peer are split into
  // frames well under it, and an append carries at most a quarter of it, since a frame over it is dropped whole
  // (with the heartbeats and votes of every group in it).
  size_t frame_max_bytes = 8u << 20;
  bool rebalance = true;                                 // leadership back to each shard's first replica
};

class replica_host {
public:
  /// Sends a frame of consensus messages (RaftBatch bytes) to a peer; must not block.
  using outbound = std::function<void(const std::string& peer, std::string batch)>;
  /// A shard starts or stops being served here.
  using serving_handler = std::function<void(domain::shard_id shard, bool serving)>;

  replica_host(store::shard_set& shards, host_options options, outbound send);
  ~replica_host();

  /// Opens this node's replica of every shard, bootstrapping groups on first start (every founder bootstraps the
  /// same membership): a voter where the placement names this node, else a learner. Learners vote in nothing
  /// and never lead; they hold every shard's data so that the node's read models (catalog, order listings,
  /// revocations) see all shards when the cluster has more members than replicas. `members` is every node of
  /// the cluster (default: the nodes the placement names). The shard stores write through these replicas.
  /// With `bootstrap` false (a node that joined a running cluster) no group is bootstrapped: this node's replicas
  /// start empty and learn their membership from the leaders that add them. `replicas`: voters per shard
  /// (0: the largest placement given).
  domain::outcome<domain::unit_t> open(const std::vector<std::vector<std::string>>& placement,
                                       const std::vector<std::string>& members = {}, bool bootstrap = true,
                                       size_t replicas = 0);
  /// The cluster's members changed (a node joined): every group's leader adds the new ones as learners, and
  /// the placement is computed again over the members that are not excluded (see set_excluded).
  void set_members(const std::vector<std::string>& members, const std::set<std::string>& excluded,
                   size_t replicas = 0);
  void on_serving(serving_handler handler) { serving_handler_ = std::move(handler); }

  void start();
  void stop();

  /// A frame of consensus messages from a peer (queued: the driver thread steps it).
  void deliver(const std::string& from, std::string batch);

  /// Leads the shard with a lease that has not run out in real time: checked against the clock, not only
  /// against the driver thread's last look, since a node that wakes from a freeze (SIGSTOP, a stalled VM) runs
  /// its request threads before the driver has counted the ticks it missed.
  bool serves(domain::shard_id shard) const {
    return shard < replicas_.size() && serving_[shard].load(std::memory_order_acquire) &&
           std::chrono::steady_clock::now().time_since_epoch().count() <
             serving_until_[shard].load(std::memory_order_acquire);
  }
  /// The node believed to lead the shard, if this node replicates it and knows.
  std::optional<std::string> leader_of(domain::shard_id shard) const;
  /// The Raft term this node's replica of the shard is in (0 without one).
  uint64_t term_of(domain::shard_id shard) const;
  /// Where the shard's voters belong, preferred leader first (the placement over the members that are not
  /// excluded); while a seat moves, the group's voters may still differ.
  std::vector<std::string> placement_of(domain::shard_id shard) const;
  /// Members whose seats move away (leaving, or replaced after being down too long): the placement is computed
  /// again over the others, and each shard's leader moves its group's voters there, one change at a time and
  /// one shard at a time per node. Thread-safe; an empty set restores the placement over every member.
  void set_excluded(const std::set<std::string>& nodes);
  /// Whether this node moves seats and adds learners as a leader (off for a node that joined until the member
  /// record reaches it: a partial view of the members must not reshape any group).
  void set_moves_enabled(bool on) { moves_enabled_ = on; }
  /// Joined and the member record not here yet: its replicas may not know their groups, so callers ask the
  /// placement's nodes (seeds) where leaders are instead.
  bool joining() const { return !moves_enabled_; }
  /// The shard's voters and learners as this node's replica sees its group now (empty without a replica).
  std::vector<std::string> voters_of(domain::shard_id shard) const;
  std::vector<std::string> learners_of(domain::shard_id shard) const;
  /// Whether a node holds a voting seat in any group, as this node's replicas see it.
  uint64_t seats_of(const std::string& node) const;
  /// Holds a replica of the shard (a voter or a learner): it knows the shard's leader and has its data.
  bool replicates(domain::shard_id shard) const { return shard < replicas_.size() && replicas_[shard] != nullptr; }
  /// Replicates the shard and keeps up with its group now (its disk takes the group's writes): what it knows of
  /// the shard's leader is current. A stalled replica routes like a node without one.
  bool follows(domain::shard_id shard) const { return replicates(shard) && !replicas_[shard]->stalled(); }
  /// Holds a voting replica of the shard (named by its placement).
  bool votes_in(domain::shard_id shard) const;
  shard_replica* replica(domain::shard_id shard) const { return replicas_.at(shard).get(); }
  domain::shard_id shard_count() const noexcept { return shards_.count(); }
  store::shard_store& shard_store_of(domain::shard_id shard) const { return shards_.of(shard); }

  struct stats {
    uint64_t frames_in = 0, frames_out = 0, malformed = 0, unknown_group = 0;
    uint64_t shards_led = 0, shards_replicated = 0, shards_learned = 0;
    replica_snapshot_stats snapshots; // summed over the groups
    uint64_t leadership_transfers = 0;
    uint64_t seat_moves = 0; // membership changes this node proposed to move seats
  };
  stats snapshot_stats() const;

private:
  void run();
  void process_inbound(const std::string& from, const std::string& batch);
  /// `last_tick`: when the replicas' latest tick was due (the lease counts from it, not from now).
  void refresh_serving(std::chrono::steady_clock::time_point last_tick = std::chrono::steady_clock::now());
  void send_now(consensus::node_id to, std::string batch);
  void flush_collected();
  /// A proposal waits for the driver's next round (shard_replica::defer_to).
  void wake_round();
  std::optional<std::string> name_of(consensus::node_id id) const;
  std::vector<std::string> names_of(const std::set<consensus::node_id>& ids) const;

  store::shard_set& shards_;
  host_options options_;
  outbound send_;
  serving_handler serving_handler_;
  std::vector<std::unique_ptr<shard_replica>> replicas_;
  std::vector<std::vector<std::string>> placement_;
  std::unique_ptr<std::atomic<bool>[]> serving_;
  std::unique_ptr<std::atomic<int64_t>[]> serving_until_; // steady_clock ticks: when the lease seen last runs out
  std::vector<uint64_t> serving_epoch_; // the write epoch each served shard was served in (refresh_serving's thread)
  std::unordered_map<consensus::node_id, std::string> names_;

  std::mutex mutex_; // inbound queue and the collecting buffers
  std::condition_variable wake_;
  std::deque<std::pair<std::string, std::string>> inbound_;
  bool stopping_ = false;
  std::atomic<bool> round_due_{false}; // proposals wait to be written (wake_round)
  std::thread thread_;
  // While the driver thread ticks, messages are collected per peer and leave as one frame each.
  std::atomic<std::thread::id> collecting_thread_{};
  std::map<consensus::node_id, std::vector<std::pair<group_id, consensus::message>>> collected_;
  std::atomic<uint64_t> frames_in_{0}, frames_out_{0}, malformed_{0}, unknown_group_{0};
  uint64_t rounds_ = 0;
  std::atomic<uint64_t> transfers_{0};
  void rebalance();
  void move_seats();
  std::vector<std::string> members_;      // every member (set at open)
  std::atomic<size_t> replica_count_{1}; // voters per shard
  mutable std::mutex placement_mutex_;    // guards placement_ (read by the router and the status page)
  std::optional<domain::shard_id> moving_; // the shard whose seats this node is moving (one at a time)
  int moving_rounds_ = 0;                  // move_seats rounds spent on it
  domain::shard_id skip_from_ = 0;         // where the search for the next move starts
  std::atomic<uint64_t> seat_moves_{0};
  std::atomic<bool> moves_enabled_{true};
};

} // namespace bento::cluster::shard
