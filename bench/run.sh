#!/usr/bin/env bash
# HTTP benchmark of one node with wrk: place-order and menu-read throughput and latency, each with the ratio to
# GET /healthz (the edge with no domain work) measured in the same run on the same machine.
# Usage: bench/run.sh [duration_s=10] [connections=16] [runs=3]   (after `make build`)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-16}
RUNS=${3:-3}
BIN=build/bin/bento-node
[ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: make setup" >&2; exit 1; }

DATA=$(mktemp -d /tmp/bento-bench-XXXXXX)
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
BENTO_DATA_DIR=$DATA/data BENTO_HTTP_PORT=$PORT BENTO_LOG_LEVEL=warn "$BIN" >"$DATA/node.log" 2>&1 &
PID=$!
cleanup() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
URL=http://127.0.0.1:$PORT
for _ in $(seq 1 300); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.05; done

json() { python3 -c "import sys,json;print(json.load(sys.stdin)$1)"; }
post() { curl -sf -X POST "$URL$1" -H 'Content-Type: application/json' ${3:+-H "Authorization: Bearer $3"} -d "$2"; }
post /api/v1/users '{"username":"benchm","password":"bench-password","email":"m@b.io","role":"merchant","place":"taipei"}' >/dev/null
post /api/v1/users '{"username":"benchc","password":"bench-password","email":"c@b.io","role":"customer","place":"taipei"}' >/dev/null
TM=$(post /api/v1/sessions '{"username":"benchm","password":"bench-password"}' | json '["token"]')
TC=$(post /api/v1/sessions '{"username":"benchc","password":"bench-password"}' | json '["token"]')
RID=$(post /api/v1/restaurants '{"name":"Bench Bento","place":"taipei"}' "$TM" | json '["id"]')
for i in $(seq 1 40); do
  curl -sf -X PUT "$URL/api/v1/restaurants/$RID/menu/items/item$i" -H "Authorization: Bearer $TM" \
    -d "{\"name\":\"Item $i\",\"price_cents\":$((100 + i)),\"stock\":1000000,\"tags\":[\"t$((i % 5))\"]}" >/dev/null
done
curl -sf -X PUT "$URL/api/v1/restaurants/$RID/menu/items/rice" -H "Authorization: Bearer $TM" \
  -d '{"name":"Rice","price_cents":100,"stock":1000000}' >/dev/null

# run NAME URL [wrk args...] -> prints "NAME rps p50 p99" lines, one per run
measure() {
  local name=$1; shift
  for r in $(seq 1 "$RUNS"); do
    out=$(BENTO_TOKEN=$TC BENTO_RID=$RID wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$@")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    bad=$(echo "$out" | awk '/^status/ && $2 !~ /^2/ {s+=$3} END {print s+0}')
    echo "$name run=$r rps=$rps p50=$p50 p99=$p99 non2xx=$bad"
  done
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

results=$(mktemp)
{
  measure healthz "$URL/healthz"
  measure menu_read -s bench/menu_read.lua "$URL/api/v1/menu?place=taipei&limit=20"
  measure place_order -s bench/place_order.lua "$URL/api/v1/orders"
} | tee "$results"

echo
echo "medians over $RUNS runs of ${DURATION}s, $CONNS connections, wrk -t1, $(nproc) cores shared with the node:"
base=$(grep '^healthz' "$results" | sed 's/.*rps=\([0-9.]*\).*/\1/' | median)
for name in healthz menu_read place_order; do
  rps=$(grep "^$name" "$results" | sed 's/.*rps=\([0-9.]*\).*/\1/' | median)
  p99=$(grep "^$name" "$results" | sed 's/.*p99=\([^ ]*\).*/\1/' | head -1)
  ratio=$(python3 -c "print(f'{float($rps)/float($base):.2f}')")
  printf "  %-12s %10s req/s   ratio to healthz %s   (p99 of run 1: %s)\n" "$name" "$rps" "$ratio" "$p99"
done
rm -f "$results"
echo "  node RSS after the run: $(awk '/VmRSS/ {print $2, $3}' /proc/$PID/status)"
echo "  active entity actors: $(curl -s "$URL/metrics" | awk '/^bento_entity_actors/ {printf "%s=%s ", $1, $2}')"
