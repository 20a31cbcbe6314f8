#!/usr/bin/env bash
# The benchmark suite (issue 10), each part with its ceiling measured in the same run on this machine; every
# part prints its figures and writes a JSON summary under build/bench/.
#   1. HTTP, the lunch rush (bench/lunch_rush.py): nginx's static response, menu reads, catalog reads and
#      place-order on one node, place-order through a 3-node cluster; ratios and issue 10's targets.
#   2. SDK (bench/sdk.sh): pipelined order placement and menu reads over the binary protocol, one node.
#   3. Storage (bench/storage.py): what an order writes, against db_bench with the same sizes.
#   4. Failover (bench/failover.py): kill -9 of a shard leader, time to the first order on its keys, 20 kills.
# Usage: bench/run.sh [seconds=10] [rounds=3] [kills=20]      (make bench; after make build)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_=${1:-10}
ROUNDS=${2:-3}
KILLS=${3:-20}
[ -x build/bin/bento-node ] || { echo "build first: make build" >&2; exit 1; }
mkdir -p build/bench
echo "== 1. HTTP: the lunch rush, with nginx's ceiling"
python3 bench/lunch_rush.py --seconds "$SECONDS_" --rounds "$ROUNDS" --out build/bench/lunch_rush.json
echo
echo "== 2. SDK, one node and three"
bash bench/sdk.sh "$SECONDS_" 64 | tee build/bench/sdk.txt
echo
echo "== 3. Storage: an order's writes against db_bench"
python3 bench/storage.py --seconds "$SECONDS_" --out build/bench/storage.json
echo
echo "== 4. Failover: $KILLS kills of a shard leader"
python3 bench/failover.py "$KILLS" | tee build/bench/failover.txt
