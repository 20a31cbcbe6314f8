#!/usr/bin/env python3
"""Mutation check of the consensus tests: breaks the core on purpose, one known bug at a time, rebuilds, and
reports whether the simulation (sim_raft) and the unit tests (unit_raft) catch it. The source is restored after
each mutation. Run from anywhere, with a configured build/ (Ninja):

    tests/sim/mutation_check.py            # every mutation, default seed count
    N=10000 KEEP=1 tests/sim/mutation_check.py 1 5   # mutations 1 and 5, 10000 seeds, count every failing seed
"""
import os
import re
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))

# (what, file, original text, broken text)
MUTATIONS = [
 ("vote twice in a term (skip the vote/term check)", 'cluster/consensus/election.cpp',
  "const bool can_vote = vote_ == m.from || (vote_ == no_node && leader_ == no_node) || (pre && m.term > term_);",
  "const bool can_vote = true;"),
 ("commit entries of earlier terms by counting", 'cluster/consensus/replication.cpp',
  "if (q <= log_.committed() || log_.term(q) != term_) return false;",
  "if (q <= log_.committed()) return false;"),
 ("grant votes without the up-to-date check", 'cluster/consensus/election.cpp',
  "if (can_vote && !sticky && log_.is_up_to_date(m.index, m.log_term)) {",
  "if (can_vote && !sticky) {"),
 ("no leader stickiness (votes granted during a lease)", 'cluster/consensus/node.cpp',
  "return leader_contact_elapsed_ < cfg_.election_ticks;",
  "return false;"),
 ("lease ignores a leadership transfer (timeout_now)", 'cluster/consensus/read_index.cpp',
  "if (role_ != role::leader || lease_revoked_ || !committed_in_term()) return false;",
  "if (role_ != role::leader || !committed_in_term()) return false;"),
 ("restarted node forgets stickiness", 'cluster/consensus/node.cpp',
  "  load_configs(storage);\n  reset_randomized_timeout();",
  "  load_configs(storage);\n  reset_randomized_timeout();\n  leader_contact_elapsed_ = cfg_.election_ticks;"),
 ("follower commits leader commit beyond the entries it matched", 'cluster/consensus/raft_log.cpp',
  "commit_to(std::min(leader_commit, r.last_new));",
  "commit_to(std::min(leader_commit, last_index()));"),
 ("heartbeat carries leader commit, not min(match, commit)", 'cluster/consensus/replication.cpp',
  "m.commit = std::min(pr.match, log_.committed());",
  "m.commit = log_.committed() + 0 * pr.match;"),
 ("vote not persisted (hard state drops the vote)", 'cluster/consensus/node.cpp',
  "  const hard_state hs{term_, vote_, log_.committed()};\n  if (hs != prev_hard_state_) {",
  "  const hard_state hs{term_, no_node, log_.committed()};\n  if (hs != prev_hard_state_) {"),
 ("membership change allowed before the new leader commits in its term", 'cluster/consensus/membership.cpp',
  "  if (!committed_in_term()) {\n    r.error = errc::not_ready;",
  "  if (false) {\n    r.error = errc::not_ready;"),
 ("two uncommitted membership changes allowed", 'cluster/consensus/membership.cpp',
  "if (configs_.back().first > log_.committed()) {",
  "if (false) {"),
 ("lease without its margin (phase between tick boundaries not covered)", 'cluster/consensus/read_index.cpp',
  "  return now_ - sent < static_cast<std::uint64_t>(cfg_.election_ticks - cfg_.lease_margin_ticks);",
  "  return now_ - sent < static_cast<std::uint64_t>(cfg_.election_ticks);"),
 ("lease with a margin of 1 tick (config check bypassed)", 'cluster/consensus/read_index.cpp',
  "  return now_ - sent < static_cast<std::uint64_t>(cfg_.election_ticks - cfg_.lease_margin_ticks);",
  "  return now_ - sent < static_cast<std::uint64_t>(cfg_.election_ticks - 1);"),
 ("lease counted from when the ack arrived, not when the acked round was sent", 'cluster/consensus/replication.cpp',
  "if (m.context <= round_) pr.acked_round = std::max(pr.acked_round, m.context);",
  "if (m.context <= round_) pr.acked_round = round_;"),
]


def run():
    only = sys.argv[1:]
    for i, (name, path, old, new) in enumerate(MUTATIONS):
        if only and str(i) not in only:
            continue
        path = os.path.join(ROOT, path)
        original = open(path).read()
        if original.count(old) != 1:
            print(f'[{i}] {name}: source changed, mutation no longer applies')
            continue
        open(path, 'w').write(original.replace(old, new))
        try:
            b = subprocess.run(['cmake', '--build', 'build', '--target', 'sim_raft', 'unit_raft'], cwd=ROOT,
                               capture_output=True, text=True)
            if b.returncode:
                print(f'[{i}] {name}: build failed\n{b.stdout[-2000:]}')
                continue
            env = dict(os.environ)
            if os.environ.get('N'):
                env['BENTO_RAFT_SIM_SEEDS'] = os.environ['N']
            if os.environ.get('KEEP'):
                env['BENTO_RAFT_SIM_KEEP_GOING'] = '1'
            t = time.time()
            r = subprocess.run(['timeout', '600', 'build/bin/sim_raft'], cwd=ROOT, capture_output=True, text=True,
                               env=env)
            dt = time.time() - t
            out = r.stdout + r.stderr
            m = (re.search(r'(\d+ of \d+ seeds failed:[ 0-9]*)', out) or
                 re.search(r'seed \d+ at tick \d+: [^\n]*', out) or re.search(r'aborted in seed \d+', out))
            sim = (f'caught after {dt:.2f}s: ' + (m.group(0)[:160] if m else out[-200:])) if r.returncode else \
                f'NOT caught ({dt:.1f}s)'
            u = subprocess.run(['timeout', '60', 'build/bin/unit_raft'], cwd=ROOT, capture_output=True, text=True)
            failing = sorted(set(re.findall(r'-{70,}\n(consensus:[^\n]*)', u.stdout)))
            unit = ('; '.join(failing)[:300] or f'exit {u.returncode}') if u.returncode else 'NOT caught'
            print(f'[{i}] {name}\n    sim:  {sim}\n    unit: {unit}', flush=True)
        finally:
            open(path, 'w').write(original)
    subprocess.run(['cmake', '--build', 'build', '--target', 'sim_raft', 'unit_raft'], cwd=ROOT,
                   capture_output=True)


if __name__ == '__main__':
    run()
