#pragma once
// A deterministic in-memory world for consensus groups: nodes with "durable" memory storage, a network that
// drops, duplicates, delays and partitions, crashes that lose everything not yet persisted, and a checker that
// looks for safety violations after every tick. Everything random comes from the seed.
#include "cluster/consensus/memory_storage.hpp"
#include "cluster/consensus/node.hpp"
#include "cluster/consensus/rng.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace bento::cluster::consensus::sim {

struct violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct fault_options {
  double drop = 0;
  double duplicate = 0;
  int min_delay = 1;  // ticks; 0 = faster than a tick (delivered within the same tick)
  int max_delay = 1;
  double long_delay = 0;  // chance of a delay of long_delay_ticks (stale messages)
  int long_delay_ticks = 30;
  double skip_ready = 0;   // chance a node leaves its ready unprocessed for a tick (widens crash windows)
  double crash_mid_ready = 0;  // chance a node crashes right after persisting, before sending or applying
  // Chance per tick that a node's tick comes one global tick late (or catches up): its tick count over any
  // interval is then within one of the true elapsed ticks, which is what a fixed phase offset between nodes'
  // tick boundaries does. lease_margin_ticks = 2 covers exactly that (rates stay equal: no drift).
  double tick_jitter = 0;
};

// The replicated state machine: a hash chain over every applied entry, so two replicas agree iff their chains do.
struct state_machine {
  index_t applied = 0;
  std::uint64_t hash = 0;
};

class cluster {
public:
  cluster(std::uint64_t seed, const std::vector<node_id>& voters, node_config base = {});

  // Topology.
  node* get(node_id id);  // nullptr when crashed or unknown
  bool alive(node_id id) const;
  std::vector<node_id> ids() const;
  void crash(node_id id);
  void restart(node_id id);
  // A stopped process (SIGSTOP, a long GC): it handles nothing for `ticks`; messages to it wait. On resume the
  // driver first catches up the ticks it missed (its monotonic clock ran on), then handles what waited.
  void pause(node_id id, std::uint64_t ticks);
  bool paused(node_id id) const;
  node_id add_empty_node();  // a new node with no membership, for add_learner
  void cut(node_id from, node_id to);
  void isolate(node_id id);
  void heal();
  bool cut_between(node_id from, node_id to) const { return cuts_.count({from, to}) != 0; }

  // Time: deliver what is due, process readies, tick every live node, check.
  void tick();
  // Deliver and process until no message is in flight, without ticking (unit tests).
  void settle(int max_rounds = 100);
  template <class Pred> bool run_until(Pred pred, int max_ticks) {
    for (int i = 0; i < max_ticks; ++i) {
      if (pred()) return true;
      tick();
    }
    return pred();
  }

  // Clients.
  std::optional<propose_result> propose(node_id at, std::string data);
  std::optional<errc> read(node_id at);
  void compact(node_id id);

  // Observation and checks.
  node_id leader() const;  // the live leader of the highest term, or no_node
  // Ticks until a leader has committed an entry of its term; that leader, or no_node.
  node_id wait_for_leader(int max_ticks = 200) {
    run_until([&] { return leader() != no_node && get(leader())->committed_in_term(); }, max_ticks);
    return leader();
  }
  const state_machine& machine(node_id id) const { return members_.at(id).sm; }
  std::uint64_t now() const { return now_; }
  std::size_t acked_count() const { return acked_.size(); }
  std::size_t committed_count() const { return record_.size(); }
  std::uint64_t reads_confirmed() const { return reads_confirmed_; }
  struct counters {
    std::uint64_t snapshots_installed = 0;
    std::uint64_t conf_changes_applied = 0;
    std::uint64_t lease_ticks = 0;  // ticks in which some node held a valid lease
    std::uint64_t crashes_mid_ready = 0;
    std::uint64_t pauses = 0;
  };
  const counters& stats() const { return stats_; }
  std::size_t leader_terms() const { return leaders_.size(); }
  bool converged(std::string* why = nullptr) const;
  void check_final();
  void check_log_matching() const;
  std::vector<message> delivered_log;  // filled only when record_messages is set (unit tests)
  bool record_messages = false;
  // Messages of these types are dropped in flight (unit tests steer protocol steps).
  std::set<message_type> drop_types;

  fault_options faults;
  node_id trace_node = no_node;  // debugging: print deliveries to and from this node
  std::uint64_t trace_from = 0;

private:
  struct proposal {
    index_t index;
    term_t term;
    std::string data;
  };
  struct member {
    node_id id = no_node;
    memory_storage storage;
    std::unique_ptr<node> core;
    state_machine sm;
    std::map<std::pair<index_t, term_t>, std::string> staged_snapshots;
    std::vector<proposal> proposals;
    std::map<std::uint64_t, index_t> reads;  // context -> highest acknowledged index when the read was issued
    std::uint64_t paused_until = 0;
    std::uint64_t missed_ticks = 0;
    bool tick_late = false;  // owes one tick
  };
  struct envelope {
    std::uint64_t deliver_at;
    std::uint64_t seq;
    message m;
    std::string snapshot_data;
  };

  void start(member& mb);
  void process_ready(member& mb);
  void apply(member& mb, const entry& e);
  void send(member& from, message m);
  void deliver_due();
  void check_tick();
  std::uint64_t delay();

  rng rng_;
  node_config base_;
  std::uint64_t now_ = 0;
  std::uint64_t seq_ = 0;
  node_id next_id_ = 1;
  std::map<node_id, member> members_;
  std::vector<envelope> in_flight_;
  std::set<std::pair<node_id, node_id>> cuts_;
  std::vector<node_id> snapshot_failures_;

  // Checker state.
  struct committed {
    term_t term;
    entry_type type;
    std::string data;
    std::uint64_t chain;
    term_t first_apply_term;
  };
  std::vector<committed> record_;  // record_[i - 1]: what index i committed to, as first applied
  std::map<term_t, node_id> leaders_;
  std::map<std::pair<index_t, term_t>, std::string> entries_seen_;  // log matching, first half
  std::vector<index_t> acked_;
  index_t acked_max_ = 0;
  std::uint64_t read_seq_ = 0;
  std::uint64_t reads_confirmed_ = 0;
  counters stats_;
};

std::uint64_t chain_hash(std::uint64_t prev, const entry& e);

}  // namespace bento::cluster::consensus::sim
