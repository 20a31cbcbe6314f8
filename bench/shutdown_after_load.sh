#!/usr/bin/env bash
set -uo pipefail
# How long a node takes to stop (SIGTERM) after a place-order load left tens of thousands of order actors
# active. Usage: bench/shutdown_after_load.sh [runs=3] [load_s=30] [cap_s=120]   (after `make build`)
# Before the router stopped entities in batches, 80k orders made CAF 0.17's work-stealing deque drain in
# quadratic time: shutdowns of 27-58 s at ~40k orders, minutes at 80k; after: about 4 s.
BIN=build/bin/bento-node; RUNS=${1:-3}; DUR=${2:-30}; CAP=${3:-120}
cd "$(dirname "$0")/.."
json() { python3 -c "import sys,json;print(json.load(sys.stdin)$1)"; }
post() { curl -sf -X POST "$1$2" -H 'Content-Type: application/json' ${4:+-H "Authorization: Bearer $4"} -d "$3"; }
for r in $(seq 1 "$RUNS"); do
  D=$(mktemp -d /tmp/hang-repro-XXXXXX)
  PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  BENTO_LOG_LEVEL=warn BENTO_DATA_DIR=$D BENTO_HTTP_PORT=$PORT "$BIN" >"$D.log" 2>&1 &
  PID=$!
  URL=http://127.0.0.1:$PORT
  for _ in $(seq 1 300); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.05; done
  post "$URL" /api/v1/users '{"username":"benchm","password":"bench-password","email":"m@b.io","role":"merchant","place":"taipei"}' >/dev/null
  post "$URL" /api/v1/users '{"username":"benchc","password":"bench-password","email":"c@b.io","role":"customer","place":"taipei"}' >/dev/null
  tm=$(post "$URL" /api/v1/sessions '{"username":"benchm","password":"bench-password"}' | json '["token"]')
  TC=$(post "$URL" /api/v1/sessions '{"username":"benchc","password":"bench-password"}' | json '["token"]')
  RID=$(post "$URL" /api/v1/restaurants '{"name":"Bench Bento","place":"taipei"}' "$tm" | json '["id"]')
  curl -sf -X PUT "$URL/api/v1/restaurants/$RID/menu/items/rice" -H "Authorization: Bearer $tm" \
    -d '{"name":"Rice","price_cents":100,"stock":1000000}' >/dev/null
  BENTO_TOKEN=$TC BENTO_RID=$RID wrk -t1 -c24 -d"${DUR}s" -s bench/place_order.lua "$URL/api/v1/orders" > "$D.wrk" 2>&1
  reqs=$(awk '/requests in/ {print $1}' "$D.wrk")
  t0=$(date +%s.%N)
  kill -TERM $PID
  exited=0
  for _ in $(seq 1 $((CAP*10))); do
    if ! kill -0 $PID 2>/dev/null; then exited=1; break; fi
    sleep 0.1
  done
  t1=$(date +%s.%N)
  if [ $exited = 1 ]; then wait $PID; rc=$?; else rc=hung; kill -KILL $PID; wait $PID 2>/dev/null; fi
  echo "run=$r orders=$reqs shutdown_s=$(python3 -c "print(round($t1-$t0,1))") rc=$rc"
  rm -rf "$D" "$D.log" "$D.wrk"
done
