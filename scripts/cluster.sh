#!/bin/bash
# A 3-node Bento cluster on loopback for trying things out: `make cluster` / `make cluster-stop`.
#   scripts/cluster.sh start   starts n1..n3 (data in ./data/nN, logs in ./data/nN.log, PIDs in ./data/cluster.pids)
#   scripts/cluster.sh stop    stops exactly those processes, by PID
#   scripts/cluster.sh status  what n1 says about the cluster
#   scripts/cluster.sh node N  starts nN again (after a kill -9 in the walk-through), same data dir
#   scripts/cluster.sh join N  starts a new node nN (N >= 4) that joins the running cluster and takes its share
#   scripts/cluster.sh decommission N  moves nN's shard seats to the others (admin call), before stopping it
# Ports: HTTP 8081-8083, client 9081-9083, cluster 7081-7083 (BENTO_CLUSTER_HTTP_BASE etc. move them).
set -euo pipefail

BIN=${BENTO_BIN:-build/bin/bento-node}
DATA=${BENTO_CLUSTER_DATA:-./data}
HTTP_BASE=${BENTO_CLUSTER_HTTP_BASE:-8080}
CLIENT_BASE=${BENTO_CLUSTER_CLIENT_BASE:-9080}
PEER_BASE=${BENTO_CLUSTER_PEER_BASE:-7080}
PIDS="$DATA/cluster.pids"
NODES=(1 2 3)

alive() { # pid: is it our bento-node (not a recycled PID)? A rebuild replaces the file: "... (deleted)"
  local exe
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  [ "${exe% (deleted)}" = "$(readlink -f "$BIN")" ]
}

port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

seeds() {
  local out=""
  for n in "${NODES[@]}"; do
    out+="${out:+,}127.0.0.1:$((PEER_BASE + n))"
  done
  echo "$out"
}

launch() { # n: starts node n in the background and records its PID
  local n=$1
  # The admin token for decommissioning (made once, kept with the data, never printed).
  if [ ! -s "$DATA/admin.token" ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DATA/admin.token")
  fi
  BENTO_NODE_ID="n$n" BENTO_DATA_DIR="$DATA/n$n" BENTO_BIND=127.0.0.1 \
    BENTO_HTTP_PORT=$((HTTP_BASE + n)) BENTO_CLIENT_PORT=$((CLIENT_BASE + n)) \
    BENTO_CLUSTER_PORT=$((PEER_BASE + n)) BENTO_SEEDS="$(seeds)" BENTO_CLUSTER_SECRET="$(cat "$DATA/cluster.secret")" \
    BENTO_ADMIN_TOKEN="$(cat "$DATA/admin.token")" \
    "$BIN" >>"$DATA/n$n.log" 2>&1 &
  echo "n$n $!" >>"$PIDS"
}

wait_ready() { # n
  local url="http://127.0.0.1:$((HTTP_BASE + $1))"
  for _ in $(seq 1 300); do
    curl -fsS "$url/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "n$1 did not become ready; its log ends with:" >&2
  tail -20 "$DATA/n$1.log" >&2
  return 1
}

node() { # n: start one node of a cluster made by `start` again (or, with join, a new one)
  local n=$1
  [[ "$n" =~ ^[1-9]$ ]] || { echo "node: 1 to 9" >&2; exit 2; }
  [ -s "$DATA/cluster.secret" ] || { echo "no cluster in $DATA: 'make cluster' first" >&2; exit 1; }
  if [ -f "$PIDS" ]; then
    while read -r id pid; do
      if [ "$id" = "n$n" ] && alive "$pid"; then
        echo "n$n is running (PID $pid)" >&2
        exit 1
      fi
    done <"$PIDS"
    grep -v "^n$n " "$PIDS" >"$PIDS.new" || true
    mv "$PIDS.new" "$PIDS"
  fi
  launch "$n"
  wait_ready "$n"
  echo "n$n back: PID $(awk -v id="n$n" '$1 == id {print $2}' "$PIDS"), http://127.0.0.1:$((HTTP_BASE + n))"
}

start() {
  [ -x "$BIN" ] || { echo "no $BIN: run 'make build' first" >&2; exit 1; }
  if [ -f "$PIDS" ]; then
    while read -r id pid; do
      if alive "$pid"; then
        echo "the cluster is running already ($id is PID $pid); 'make cluster-stop' first" >&2
        exit 1
      fi
    done <"$PIDS"
  fi
  for n in "${NODES[@]}"; do
    for p in $((HTTP_BASE + n)) $((CLIENT_BASE + n)) $((PEER_BASE + n)); do
      if port_busy "$p"; then
        echo "port $p is taken; set BENTO_CLUSTER_HTTP_BASE / _CLIENT_BASE / _PEER_BASE to move the cluster" >&2
        exit 1
      fi
    done
  done
  mkdir -p "$DATA"
  chmod 700 "$DATA"
  # One cluster secret for the three, made once and kept with their data (never printed, never committed).
  if [ ! -s "$DATA/cluster.secret" ]; then
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DATA/cluster.secret")
  fi

  : >"$PIDS"
  for n in "${NODES[@]}"; do
    launch "$n"
  done
  # Every node opens its HTTP port once the three have formed the cluster (bounded wait).
  for n in "${NODES[@]}"; do
    wait_ready "$n" || { stop; exit 1; }
  done
  echo "Bento cluster up (3 nodes, data in $DATA/n1..n3, logs in $DATA/nN.log, PIDs in $PIDS):"
  while read -r id pid; do
    n=${id#n}
    echo "  $id  PID $pid  http://127.0.0.1:$((HTTP_BASE + n))  client port $((CLIENT_BASE + n))  cluster port $((PEER_BASE + n))"
  done <"$PIDS"
  echo "See it: curl -s http://127.0.0.1:$((HTTP_BASE + 1))/api/v1/cluster | python3 -m json.tool"
}

stop() {
  [ -f "$PIDS" ] || { echo "no cluster started from $DATA"; return 0; }
  local left=()
  while read -r id pid; do
    if alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      kill -CONT "$pid" 2>/dev/null || true # a node paused with SIGSTOP in the walk-through
      left+=("$id:$pid")
    fi
  done <"$PIDS"
  for entry in "${left[@]}"; do
    local id=${entry%%:*} pid=${entry##*:}
    for _ in $(seq 1 150); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      echo "$id (PID $pid) did not stop within 15 s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "stopped $id (PID $pid)"
  done
  rm -f "$PIDS"
}

join() { # n >= 4: a new node; its address is not among the seeds (n1..n3), so it joins
  local n=$1
  [[ "$n" =~ ^[4-9]$ ]] || { echo "join: 4 to 9 (n1..n3 are the founders)" >&2; exit 2; }
  [ ! -d "$DATA/n$n" ] || { echo "$DATA/n$n exists: 'node $n' restarts it" >&2; exit 1; }
  node "$n"
  echo "n$n joined; its seats arrive shard by shard: $0 status"
}

decommission() { # n: the admin call that moves nN's seats away; stop it once its shards_replicated is 0
  local n=$1
  curl -sS -X POST -H "Authorization: Bearer $(cat "$DATA/admin.token")" \
    "http://127.0.0.1:$((HTTP_BASE + 1))/api/v1/admin/nodes/n$n/decommission"
  echo
}

status() {
  curl -fsS "http://127.0.0.1:$((HTTP_BASE + 1))/api/v1/cluster" | python3 -m json.tool
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  node) node "${2:-}" ;;
  join) join "${2:-}" ;;
  decommission) decommission "${2:-}" ;;
  *) echo "usage: $0 start|stop|status|node N|join N|decommission N" >&2; exit 2 ;;
esac
