#!/usr/bin/env python3
"""Per-thread CPU of one node under the lunch rush's place-order load, and how busy the whole machine is.

    python3 bench/thread_cpu.py [--binary build/bin/bento-node] [--seconds 6] [--env KEY=VALUE ...]

Prints orders/s, each node thread's share of a core (from /proc/<pid>/task/*/stat) and the machine's busy and
idle share of its cores over the same interval: which thread limits a node, and whether the machine has CPU
left (a saturated thread with idle cores beside it is a serial stage, not a lack of CPU).
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import Node, threads  # noqa: E402
import lunch_rush  # noqa: E402


def machine():
    return [int(x) for x in open("/proc/stat").readline().split()[1:]]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default="build/bin/bento-node")
    p.add_argument("--seconds", type=int, default=6)
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the node (repeatable)")
    a = p.parse_args()
    env = dict(lunch_rush.FAST_LOGIN, BENTO_LOG_LEVEL="warn")
    env.update(dict(kv.split("=", 1) for kv in a.env))
    top = tempfile.mkdtemp(prefix="bento-thread-cpu-")
    node = Node(a.binary, env=env, data_dir=os.path.join(top, "n"))
    os.makedirs(node.dir, exist_ok=True)
    node.start()
    try:
        rid, tokens = lunch_rush.set_up(node.port)
        load = {"BENTO_MODE": "order", "BENTO_TOKENS": ",".join(tokens), "BENTO_RID": rid,
                "BENTO_ITEMS": ",".join(lunch_rush.ITEMS), "BENTO_SEED": "1"}
        before, m0 = threads(node.proc.pid), machine()
        r = lunch_rush.wrk("http://127.0.0.1:%d" % node.port, a.seconds, 64, load)
        after, m1 = threads(node.proc.pid), machine()
        hz = os.sysconf("SC_CLK_TCK")
        print("orders/s %.0f" % r["rps"])
        for t in sorted(after, key=int):
            used = after[t][1] - before.get(t, ("", 0))[1]
            if used:
                print("  thread %-7s %-18s %5.1f%% of a core" % (t, after[t][0], 100.0 * used / hz / a.seconds))
        d = [y - x for x, y in zip(m0, m1)]
        cores = os.cpu_count() or 1
        idle = (d[3] + d[4]) / float(sum(d)) * cores
        print("machine: %.0f%% busy, %.0f%% idle (of %d cores; wrk shares them)" % (100 * (cores - idle), 100 * idle,
                                                                                cores))
    finally:
        node.stop()


if __name__ == "__main__":
    main()
