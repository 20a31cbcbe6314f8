#pragma once
// Drives one consensus node by hand: the test plays every peer, the helper plays the driver (persist, collect
// what would be sent, apply, advance).
#include "cluster/consensus/memory_storage.hpp"
#include "cluster/consensus/node.hpp"

#include <memory>
#include <vector>

namespace bento::cluster::consensus::testing {

inline node_config test_config(node_id id) {
  node_config cfg;
  cfg.id = id;
  cfg.election_ticks = 10;
  cfg.heartbeat_ticks = 1;
  cfg.lease_margin_ticks = 2;
  cfg.seed = 42;
  return cfg;
}

inline membership voters(std::initializer_list<node_id> ids) {
  membership m;
  m.voters.insert(ids.begin(), ids.end());
  return m;
}

struct solo {
  explicit solo(node_id id, const membership& boot, node_config cfg = {})
    : storage(boot), config(cfg.id == no_node ? test_config(id) : cfg) {
    core = std::make_unique<node>(config, storage);
  }

  // What the driver does with one ready; returns the messages it would send.
  std::vector<message> drain() {
    std::vector<message> out;
    while (core->has_ready()) {
      ready rd = core->get_ready();
      if (rd.snapshot) storage.install_snapshot(*rd.snapshot, "snapshot");
      storage.append(rd.entries);
      if (rd.hard_state) storage.set_hard_state(*rd.hard_state);
      for (auto& m : rd.messages) out.push_back(std::move(m));
      for (auto& e : rd.committed_entries) applied.push_back(e);
      for (auto& r : rd.read_states) reads.push_back(r);
      last_ready = rd;
      core->advance(rd);
    }
    return out;
  }

  std::vector<message> step(const message& m) {
    core->step(m);
    return drain();
  }

  void restart() { core = std::make_unique<node>(config, storage); }

  // Tick until the node campaigns (pre-vote or vote), returning what it sent.
  std::vector<message> tick_until_campaign(int max_ticks = 100) {
    for (int i = 0; i < max_ticks; ++i) {
      core->tick();
      auto out = drain();
      if (!out.empty()) return out;
    }
    return {};
  }

  // Win an election by granting every (pre-)vote the node asks for.
  void win(const std::vector<node_id>& peers) {
    auto out = tick_until_campaign();
    for (int round = 0; round < 2 && core->role() != role::leader; ++round) {
      const bool pre = core->role() == role::pre_candidate;
      const term_t t = pre ? core->term() + 1 : core->term();
      for (auto p : peers) {
        message m;
        m.type = pre ? message_type::prevote_resp : message_type::vote_resp;
        m.from = p;
        m.to = core->id();
        m.term = t;
        step(m);
      }
    }
    drain();
  }

  memory_storage storage;
  node_config config;
  std::unique_ptr<node> core;
  std::vector<entry> applied;
  std::vector<read_state> reads;
  ready last_ready;
};

inline message msg(message_type type, node_id from, node_id to, term_t term) {
  message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

}  // namespace bento::cluster::consensus::testing
