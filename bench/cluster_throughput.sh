#!/usr/bin/env bash
# Place-order throughput of a 3-node cluster (3 replicas per shard, every order committed by a majority) against
# one node, under the same wrk load: the same total connections, spread over the three nodes' HTTP ports.
# All processes share this machine's cores, so the ratio is the cost of replication here, not the scaling of
# a cluster on separate machines.
# Usage: bench/cluster_throughput.sh [duration_s=10] [connections=24] [runs=3]   (after `make build`)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-24}
RUNS=${3:-3}
BIN=build/bin/bento-node
[ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: make setup" >&2; exit 1; }

TOP=$(mktemp -d /tmp/bento-cluster-bench-XXXXXX)
PID=""
free_base() { # a base B with B+1..B+3 free (the cluster script adds 1..3)
  python3 - <<'EOF'
import random, socket
while True:
    b = random.randrange(20000, 60000, 10)
    ok = True
    for p in range(b + 1, b + 4):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            ok = False
        s.close()
    if ok:
        print(b)
        break
EOF
}
export BENTO_CLUSTER_DATA=$TOP/cluster BENTO_CLUSTER_HTTP_BASE=$(free_base) BENTO_CLUSTER_CLIENT_BASE=$(free_base) \
  BENTO_CLUSTER_PEER_BASE=$(free_base) BENTO_LOG_LEVEL=warn
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  bash scripts/cluster.sh stop >/dev/null 2>&1 || true
  rm -rf "$TOP"
}
trap cleanup EXIT

json() { python3 -c "import sys,json;print(json.load(sys.stdin)$1)"; }
post() { curl -sf -X POST "$1$2" -H 'Content-Type: application/json' ${4:+-H "Authorization: Bearer $4"} -d "$3"; }
setup() { # url -> sets TC and RID
  local url=$1 tm
  post "$url" /api/v1/users '{"username":"benchm","password":"bench-password","email":"m@b.io","role":"merchant","place":"taipei"}' >/dev/null
  post "$url" /api/v1/users '{"username":"benchc","password":"bench-password","email":"c@b.io","role":"customer","place":"taipei"}' >/dev/null
  tm=$(post "$url" /api/v1/sessions '{"username":"benchm","password":"bench-password"}' | json '["token"]')
  TC=$(post "$url" /api/v1/sessions '{"username":"benchc","password":"bench-password"}' | json '["token"]')
  RID=$(post "$url" /api/v1/restaurants '{"name":"Bench Bento","place":"taipei"}' "$tm" | json '["id"]')
  curl -sf -X PUT "$url/api/v1/restaurants/$RID/menu/items/rice" -H "Authorization: Bearer $tm" \
    -d '{"name":"Rice","price_cents":100,"stock":1000000}' >/dev/null
}
# wrk against each URL at once, connections split evenly; prints "rps non2xx p99_of_first"
load() {
  local per=$(( CONNS / $# )) outs=() i=0
  for url in "$@"; do
    outs+=("$TOP/wrk.$i"); i=$((i + 1))
    BENTO_TOKEN=$TC BENTO_RID=$RID wrk -t1 -c"$per" -d"${DURATION}s" --latency -s bench/place_order.lua \
      "$url/api/v1/orders" >"${outs[-1]}" &
  done
  wait
  local rps=0 bad=0
  for o in "${outs[@]}"; do
    rps=$(python3 -c "print(round($rps + $(awk '/Requests\/sec/ {print $2}' "$o"), 1))")
    bad=$((bad + $(awk '/^status/ && $2 !~ /^2/ {s+=$3} END {print s+0}' "$o")))
  done
  echo "$rps $bad $(awk '$1=="99%" {print $2}' "${outs[0]}")"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# One node.
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
BENTO_DATA_DIR=$TOP/single BENTO_HTTP_PORT=$PORT "$BIN" >"$TOP/single.log" 2>&1 &
PID=$!
URL=http://127.0.0.1:$PORT
for _ in $(seq 1 300); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.05; done
setup "$URL"
single=()
for r in $(seq 1 "$RUNS"); do
  read -r rps bad p99 < <(load "$URL")
  echo "single   run=$r rps=$rps non2xx=$bad p99=$p99"
  single+=("$rps")
done
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""

# Three nodes, three replicas.
bash scripts/cluster.sh start >/dev/null
URLS=()
for n in 1 2 3; do URLS+=("http://127.0.0.1:$((BENTO_CLUSTER_HTTP_BASE + n))"); done
setup "${URLS[0]}"
spread=() one=()
for r in $(seq 1 "$RUNS"); do
  read -r rps bad p99 < <(load "${URLS[@]}")
  echo "cluster3 run=$r rps=$rps non2xx=$bad p99=$p99   (load spread over n1 n2 n3)"
  spread+=("$rps")
  read -r rps bad p99 < <(load "${URLS[0]}")
  echo "cluster3 run=$r rps=$rps non2xx=$bad p99=$p99   (all load on n1)"
  one+=("$rps")
done

s=$(printf '%s\n' "${single[@]}" | median)
c=$(printf '%s\n' "${spread[@]}" | median)
o=$(printf '%s\n' "${one[@]}" | median)
echo
echo "place_order medians over $RUNS runs of ${DURATION}s, $CONNS connections, $(nproc) cores shared by everything:"
printf "  single node               %10s req/s\n" "$s"
printf "  3-node cluster, spread    %10s req/s   ratio to single %s\n" "$c" "$(python3 -c "print(f'{$c/$s:.2f}')")"
printf "  3-node cluster, n1 only   %10s req/s   ratio to single %s\n" "$o" "$(python3 -c "print(f'{$o/$s:.2f}')")"
