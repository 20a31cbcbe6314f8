#!/usr/bin/env bash
# The client SDK's load (binary protocol) against one fresh node: order placement and menu reads with a fixed
# number of calls in flight (bento-bench-sdk), each printed with p50/p99/p999 and a JSON line.
# Usage: bench/sdk.sh [seconds=10] [in_flight=64]   (after `make build`); one node, then a 3-node cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_=${1:-10}
IN_FLIGHT=${2:-64}
BIN=build/bin
[ -x "$BIN/bento-node" ] && [ -x "$BIN/bento-bench-sdk" ] || { echo "build first: make build" >&2; exit 1; }
DATA=$(mktemp -d /tmp/bento-bench-sdk-XXXXXX)
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
HTTP=$(free_port); CLIENT=$(free_port); CLUSTER=$(free_port)
BENTO_DATA_DIR=$DATA/data BENTO_HTTP_PORT=$HTTP BENTO_CLIENT_PORT=$CLIENT BENTO_CLUSTER_PORT=$CLUSTER \
  BENTO_LOG_LEVEL=warn "$BIN/bento-node" >"$DATA/node.log" 2>&1 &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null && break; sleep 0.05; done
"$BIN/bento-bench-sdk" "127.0.0.1:$CLIENT" orders "$SECONDS_" "$IN_FLIGHT"
"$BIN/bento-bench-sdk" "127.0.0.1:$CLIENT" menu "$SECONDS_" "$IN_FLIGHT"
echo "node RSS after the run: $(awk '/VmRSS/ {print $2, $3}' /proc/$PID/status)"
cleanup

# The same through a 3-node cluster (replication 3), the SDK given every node's client port: it routes each
# call to its shard's leader itself.
python3 - "$SECONDS_" "$IN_FLIGHT" <<'PY'
import os, subprocess, sys, tempfile, shutil
sys.path.insert(0, "scripts")
from bench_common import start_cluster
seconds, in_flight = sys.argv[1], sys.argv[2]
top = tempfile.mkdtemp(prefix="bento-bench-sdk3-")
nodes = []
try:
    nodes = start_cluster("build/bin/bento-node", top, 3, "sdk bench cluster secret 0123456789",
                          {"BENTO_REPLICAS": "3", "BENTO_LOG_LEVEL": "warn"})
    addrs = ",".join("127.0.0.1:%s" % n.env["BENTO_CLIENT_PORT"] for n in nodes)
    print("3-node cluster, replication 3:", flush=True)
    for mode in ("orders", "menu"):
        subprocess.run(["build/bin/bento-bench-sdk", addrs, mode, seconds, in_flight], check=True)
finally:
    for n in nodes:
        n.stop()
    shutil.rmtree(top, ignore_errors=True)
PY
