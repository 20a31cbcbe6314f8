#!/usr/bin/env python3
"""What an order costs the storage engine, against RocksDB's own write ceiling on this machine.

1. One node runs the lunch rush (bench/lunch_rush.py's workload) for --seconds; the node's write syscalls and
   bytes (/proc/PID/io) are read before and after.
2. The node is stopped and its RocksDB is read with `ldb` (rocksdb-tools): live keys and bytes per column
   family, divided by the orders placed: what an order leaves behind.
3. `db_bench fillrandom` (rocksdb-tools) writes the same number of keys, of the same average key and value
   size, in batches of the same number of keys per order, with the node's options that matter (LZ4, 64 MB
   write buffers, WAL on, no fsync: acknowledged writes survive kill -9 of the process, as the node's do).
   Its keys/s divided by the keys an order writes is the order rate of a node that did nothing but write.

Prints both and their ratio, and writes a JSON summary (--out).
Usage: bench/storage.py [--seconds 10] [--out build/bench/storage.json]   (needs wrk, ldb and db_bench)
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import Node, write_summary  # noqa: E402
import lunch_rush  # noqa: E402


def proc_io(pid):
    out = {}
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            k, v = line.split(":")
            out[k.strip()] = int(v)
    return out


def scan(db, cf):
    """(keys, key bytes, value bytes) of a column family, read with ldb (hex, so values with newlines count right)."""
    out = subprocess.run(["ldb", "--db=" + db, "--column_family=" + cf, "scan", "--hex"], capture_output=True,
                         text=True, check=True).stdout
    keys = kb = vb = 0
    for line in out.splitlines():
        k, _, v = line.partition(" : ")
        if not k.startswith("0x"):
            continue
        keys += 1
        kb += (len(k) - 2) // 2
        vb += (len(v) - 2) // 2 if v.startswith("0x") else 0
    return keys, kb, vb


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--binary", default="build/bin/bento-node")
    p.add_argument("--out", default="build/bench/storage.json")
    a = p.parse_args()
    for tool in ("wrk", "ldb", "db_bench"):
        if not shutil.which(tool):
            sys.exit("%s missing: run scripts/setup.sh --bench (as root)" % tool)
    top = tempfile.mkdtemp(prefix="bento-bench-storage-")
    try:
        node = Node(a.binary, env=dict(lunch_rush.FAST_LOGIN, BENTO_LOG_LEVEL="warn"), data_dir=os.path.join(top, "n"))
        os.makedirs(node.dir, exist_ok=True)
        node.start()
        rid, tokens = lunch_rush.set_up(node.port)
        env = lunch_rush.wrk_env("order", rid, tokens)
        before = proc_io(node.proc.pid)
        run = lunch_rush.wrk("http://127.0.0.1:%d" % node.port, a.seconds, a.connections, env)
        after = proc_io(node.proc.pid)
        node.stop()
        orders = run["2xx"]
        db = os.path.join(node.dir, "data", "db")
        families = subprocess.run(["ldb", "--db=" + db, "list_column_families"], capture_output=True, text=True,
                                  check=True).stdout
        families = re.findall(r"[A-Za-z_]+", families.split(":", 1)[1])
        live = {cf: scan(db, cf) for cf in families}
        keys = sum(v[0] for v in live.values())
        kbytes = sum(v[1] for v in live.values())
        vbytes = sum(v[2] for v in live.values())
        per_order = {
            "live_keys": keys / orders, "live_key_bytes": kbytes / orders, "live_value_bytes": vbytes / orders,
            "write_syscalls": (after["syscw"] - before["syscw"]) / orders,
            "bytes_to_storage": (after["write_bytes"] - before["write_bytes"]) / orders,
            "bytes_written": (after["wchar"] - before["wchar"]) / orders,
        }
        # db_bench: the same keys, sizes and batches, nothing else.
        key_size = max(8, round(kbytes / keys))
        value_size = max(1, round(vbytes / keys))
        batch = max(1, round(keys / orders))
        num = max(keys, 200000)
        out = subprocess.run(["db_bench", "--benchmarks=fillrandom", "--db=" + os.path.join(top, "dbbench"),
                              "--num=%d" % num, "--key_size=%d" % key_size, "--value_size=%d" % value_size,
                              "--batch_size=%d" % batch,
                              # The node's column options (actors/store/entity_store.cpp).
                              "--compression_type=lz4", "--min_level_to_compress=2", "--write_buffer_size=2097152",
                              "--max_write_buffer_number=4", "--level0_file_num_compaction_trigger=8",
                              "--max_bytes_for_level_base=67108864", "--target_file_size_base=16777216",
                              "--sync=0", "--disable_wal=0", "--threads=1"], capture_output=True, text=True).stdout
        m = re.search(r"fillrandom\s*:\s*([\d.]+) micros/op ([\d.]+) ops/sec", out)
        if not m:
            raise RuntimeError("db_bench printed no fillrandom line:\n" + out)
        # db_bench counts every key of a batch as an operation: micros/op is per key written.
        keys_per_s = 1e6 / float(m.group(1))
        ceiling_orders = keys_per_s / batch
    finally:
        shutil.rmtree(top, ignore_errors=True)

    print("lunch rush, one node, %d s, %d connections: %d orders, %.0f/s" % (a.seconds, a.connections, orders,
                                                                             run["rps"]))
    print("per order: %.1f live keys (%.0f B of keys, %.0f B of values), %.1f write syscalls, %.0f B written, "
          "%.0f B to storage" % (per_order["live_keys"], per_order["live_key_bytes"], per_order["live_value_bytes"],
                                 per_order["write_syscalls"], per_order["bytes_written"], per_order["bytes_to_storage"]))
    for cf, (k, kb, vb) in live.items():
        if k:
            print("  %-9s %6.2f keys/order  %6.0f B/order" % (cf, k / orders, (kb + vb) / orders))
    print("db_bench fillrandom, same sizes (key %d B, value %d B, batches of %d), LZ4, WAL, no sync: %.0f keys/s "
          "= %.0f orders/s if an order were only its writes" % (key_size, value_size, batch, keys_per_s, ceiling_orders))
    print("the node's order rate is %.1f%% of that storage ceiling" % (100 * run["rps"] / ceiling_orders))
    summary = {"orders": orders, "orders_per_s": run["rps"], "per_order": per_order,
               "column_families": {cf: {"keys_per_order": v[0] / orders, "bytes_per_order": (v[1] + v[2]) / orders}
                                   for cf, v in live.items()},
               "db_bench": {"key_size": key_size, "value_size": value_size, "batch": batch, "keys_per_s": keys_per_s,
                            "orders_per_s": ceiling_orders},
               "ratio_to_storage_ceiling": run["rps"] / ceiling_orders}
    write_summary(a.out, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
