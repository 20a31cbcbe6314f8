#pragma once
// One member of one consensus group: a pure state machine. Inputs: tick(), step(message), propose*, read_index,
// transfer_leadership, report_*; outputs: ready(). No I/O, no clock, no threads, no global state.
// The protocol steps live in their own files: election.cpp (prevote, vote), replication.cpp (append, heartbeat,
// commit), snapshot.cpp (install, compaction), membership.cpp, read_index.cpp (and lease), transfer.cpp.
#include "cluster/consensus/config.hpp"
#include "cluster/consensus/errc.hpp"
#include "cluster/consensus/log_storage.hpp"
#include "cluster/consensus/membership_change.hpp"
#include "cluster/consensus/message.hpp"
#include "cluster/consensus/progress.hpp"
#include "cluster/consensus/raft_log.hpp"
#include "cluster/consensus/ready.hpp"
#include "cluster/consensus/rng.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace bento::cluster::consensus {

struct propose_result {
  errc error = errc::ok;
  node_id leader_hint = no_node;  // with not_leader
  index_t index = 0;              // the entry is acknowledged when applied at this index with this term
  term_t term = 0;
  bool ok() const { return error == errc::ok; }
};

// Why peer messages were dropped: counted, never fatal.
struct drop_counters {
  std::uint64_t invalid = 0;     // failed validation (malformed, absurd, not for us)
  std::uint64_t stale_term = 0;  // from an older term
  std::uint64_t unexpected = 0;  // valid but meaningless in our role (e.g. a response from a non-member)
};

class node {
public:
  // `storage` must outlive the node and hold only durable state. `applied` is how far a durable state machine has
  // applied (0: it is rebuilt from the snapshot and the log).
  node(const node_config& config, const log_storage& storage, index_t applied = 0);

  void tick();
  void step(const message& m);

  propose_result propose(std::string data);
  propose_result propose_membership_change(const membership_change& change);
  errc transfer_leadership(node_id to);
  // Leader: confirm leadership with a heartbeat round, then a read_state {context, commit index}. Follower:
  // forwards to the leader. Either way the result arrives in ready().read_states.
  errc read_index(std::uint64_t context);

  // The transport's news about a snapshot it was sending to `to` (data and meta).
  void report_snapshot(node_id to, bool ok);
  void report_unreachable(node_id to);
  // The state machine has a snapshot at `index` (<= applied): the meta to store with it. The driver may then
  // drop log entries up to index (lagging followers get install_snapshot instead).
  std::pair<errc, snapshot_meta> compact(index_t index);

  bool has_ready() const;
  ready get_ready();
  void advance(const ready& rd);

  // Introspection.
  node_id id() const { return id_; }
  term_t term() const { return term_; }
  node_id vote() const { return vote_; }
  node_id leader() const { return leader_; }
  consensus::role role() const { return role_; }
  index_t commit_index() const { return log_.committed(); }
  index_t applied_index() const { return log_.applied(); }
  index_t last_index() const { return log_.last_index(); }
  index_t first_index() const { return log_.first_index(); }
  std::optional<term_t> term_at(index_t i) const { return log_.term(i); }
  const consensus::membership& membership() const { return configs_.back().second; }
  // The membership in force at `index` (the last configuration at or before it that this node still holds).
  const consensus::membership& membership_at(index_t index) const;
  // Leader with an entry of its term committed: its commit index is the group's (Raft §8).
  bool committed_in_term() const;
  // True only while a majority acknowledged us within election_ticks - lease_margin_ticks (and we are ready to
  // serve): no other node can be leader until then, so reads may be answered locally.
  bool lease_valid() const;
  // Ticks the lease has left (0: none): no other leader can exist before this many more of our ticks.
  std::uint64_t lease_ticks_left() const;
  // Leader only: whether `id` answered a heartbeat round this node started at most `ticks` ticks ago (itself:
  // always). Finer than progress::recent_active, which stays true for up to an election timeout after a
  // member stopped answering.
  bool heard_within(node_id id, std::uint64_t ticks) const;
  const drop_counters& drops() const { return drops_; }
  // How far every follower is known to hold the log (0: not known): the leader's lowest match over its followers
  // (every member but itself, learners too), or, on a follower, what its leader last said it was. Entries up to
  // it are needed by no member (compaction keeps the log from there, up to its cap).
  index_t peers_match() const;
  // Leader only: what it knows of a follower (nullptr otherwise).
  const progress* progress_of(node_id id) const {
    auto it = progress_.find(id);
    return it == progress_.end() ? nullptr : &it->second;
  }
  std::uint64_t now() const { return now_; }

private:
  // Not the leader, or handing the lead on: fills `r` with the refusal (and where to go instead).
  bool refuse_proposal(propose_result& r) const;
  // node.cpp
  void become_follower(term_t term, node_id leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset(term_t term);
  void send(message m);
  // A response to `to` at our term, echoing its context.
  message reply(const message& to, message_type type) const;
  bool promotable() const { return membership().is_voter(id_); }
  std::size_t quorum() const { return membership().voters.size() / 2 + 1; }
  bool in_lease() const;
  void reset_randomized_timeout();
  void tick_election();
  void tick_heartbeat();
  void step_follower(const message& m);
  void step_candidate(const message& m);
  void step_leader(const message& m);
  bool heard_from_leader(node_id from);

  // election.cpp
  void campaign(bool pre, bool transfer);
  void handle_vote_request(const message& m);
  void handle_vote_response(const message& m);

  // replication.cpp
  bool send_append(node_id to, bool send_if_empty = true);
  void broadcast_append();
  void broadcast_heartbeat();
  void send_heartbeat(node_id to);
  void start_round();
  void append_entries(std::vector<entry> ents);
  bool maybe_commit();
  void commit_advanced();
  void handle_append(const message& m);
  void handle_heartbeat(const message& m);
  void handle_append_response(const message& m, progress& pr);
  void handle_heartbeat_response(const message& m, progress& pr);
  void note_ack(const message& m, progress& pr);

  // snapshot.cpp
  bool send_snapshot(node_id to, progress& pr);
  void handle_snapshot(const message& m);

  // membership.cpp
  void load_configs(const log_storage& storage);
  void note_log_change(index_t truncated_from, const std::vector<entry>& appended);
  void reset_configs(index_t index, const consensus::membership& m);
  void on_membership_changed();

  // read_index.cpp
  void handle_read_index(const message& m);
  void handle_read_index_response(const message& m);
  void release_reads();
  void fail_pending_reads();
  std::uint64_t quorum_acked_round() const;

  // transfer.cpp
  void handle_timeout_now(const message& m);
  void send_timeout_now(node_id to);
  void abort_transfer() { transferee_ = no_node; }

  node_config cfg_;
  node_id id_;
  rng rng_;
  raft_log log_;

  term_t term_ = 0;
  node_id vote_ = no_node;
  node_id leader_ = no_node;
  consensus::role role_ = consensus::role::follower;

  std::uint64_t now_ = 0;  // ticks since this node object was created
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_ticks_ = 0;
  // Ticks since we last heard from a leader of our term (or were one). Starts at 0, also after a restart, so a
  // node that forgot a leader's lease still refuses votes for election_ticks.
  int leader_contact_elapsed_ = 0;

  std::map<node_id, bool> votes_;
  std::map<node_id, progress> progress_;  // leader only: every member but us
  index_t leader_peers_match_ = 0;        // follower: the leader's last peers_match

  // (index, membership) of the snapshot and of each conf_change entry after it; back() is in force.
  std::vector<std::pair<index_t, consensus::membership>> configs_;

  // Leader heartbeat rounds: round r was started at tick round_ticks_[r - round_base_].
  std::uint64_t round_ = 0;
  std::uint64_t round_base_ = 1;
  std::deque<std::uint64_t> round_ticks_;
  bool lease_revoked_ = false;  // a timeout_now was sent: the transferee may win without waiting for the lease

  struct pending_read {
    std::uint64_t context;
    node_id from;  // us, or the follower that forwarded it
    index_t index;
    std::uint64_t round;
  };
  std::deque<pending_read> pending_reads_;
  bool reads_need_round_ = false;  // reads registered for round_ + 1, which get_ready() starts

  node_id transferee_ = no_node;

  std::vector<message> msgs_;
  std::vector<read_state> read_states_;
  hard_state prev_hard_state_;
  soft_state prev_soft_state_;
  bool ready_outstanding_ = false;
  drop_counters drops_;
};

}  // namespace bento::cluster::consensus
