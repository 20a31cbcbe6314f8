# The two commands a newcomer needs: `make dev` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
JOBS ?= 2

.PHONY: setup configure build dev test unit integration bench bench-scale bench-side fuzz chaos clean cluster cluster-stop cluster-status cluster-join cluster-decommission

setup:
	@bash scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD_DIR) -G Ninja >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

dev: build
	@BENTO_DATA_DIR=$${BENTO_DATA_DIR:-./data} exec $(BUILD_DIR)/bin/bento-node

# A 3-node cluster on loopback (data in ./data/n1..n3, logs ./data/nN.log); cluster-stop stops those PIDs.
cluster: build
	@bash scripts/cluster.sh start

cluster-stop:
	@bash scripts/cluster.sh stop

cluster-status:
	@bash scripts/cluster.sh status

# make cluster-join N=4: a new node joins the running cluster; make cluster-decommission N=4 moves its seats away.
cluster-join:
	@bash scripts/cluster.sh join $(N)

cluster-decommission:
	@bash scripts/cluster.sh decommission $(N)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L unit

integration: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L integration

# Coverage-guided fuzzing (tests/fuzz) with clang's libFuzzer and ASan, in its own build directory: the HTTP
# edge and API router, the client protocol's frame decoder and dispatch, what a peer node can send (cluster-port
# frames, consensus traffic into real shard replicas, forwarded commands), and JSON bodies into commands.
# FUZZ_SECONDS bounds each run; findings are written to build-fuzz/ as crash-* files.
FUZZ_SECONDS ?= 300
fuzz:
	@bash scripts/setup.sh --fuzz
	@cmake -S . -B $(BUILD_DIR)-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DBENTO_FUZZ=ON >/dev/null
	@cmake --build $(BUILD_DIR)-fuzz -j $(JOBS) --target fuzz_http fuzz_client fuzz_client_replay fuzz_peer \
	  fuzz_peer_replay fuzz_json
	@mkdir -p $(BUILD_DIR)-fuzz/corpus && cp tests/fuzz/corpus/* $(BUILD_DIR)-fuzz/corpus/
	@cd $(BUILD_DIR)-fuzz && ./bin/fuzz_http corpus ../tests/fuzz/corpus -dict=../tests/fuzz/http.dict \
	  -max_total_time=$(FUZZ_SECONDS) -max_len=70000 -rss_limit_mb=8192 -timeout=30
	@cd $(BUILD_DIR)-fuzz && ./bin/fuzz_client_replay --emit-seeds corpus_client >/dev/null && \
	  ./bin/fuzz_client corpus_client -max_total_time=$(FUZZ_SECONDS) -max_len=70000 -rss_limit_mb=8192 -timeout=30
	@cd $(BUILD_DIR)-fuzz && ./bin/fuzz_peer_replay --emit-seeds corpus_peer >/dev/null && \
	  ./bin/fuzz_peer corpus_peer ../tests/fuzz/corpus_peer -dict=../tests/fuzz/peer.dict \
	  -max_total_time=$(FUZZ_SECONDS) -max_len=70000 -rss_limit_mb=8192 -timeout=30
	@mkdir -p $(BUILD_DIR)-fuzz/corpus_json && cd $(BUILD_DIR)-fuzz && \
	  ./bin/fuzz_json corpus_json ../tests/fuzz/corpus_json -dict=../tests/fuzz/json.dict \
	  -max_total_time=$(FUZZ_SECONDS) -max_len=70000 -rss_limit_mb=8192 -timeout=30

# A chaos run against a 5-node cluster (tests/chaos/chaos.py): kills, freezes, partitions, slows and wipes nodes
# under a mixed HTTP and SDK workload,
# then checks that no acknowledged order was lost and no stock oversold; prints the seed that replays a failure.
CHAOS_SECONDS ?= 120
CHAOS_SEED ?= 1
CHAOS_NODES ?= 5
chaos: build
	@python3 tests/chaos/chaos.py --seconds $(CHAOS_SECONDS) --seed $(CHAOS_SEED) --nodes $(CHAOS_NODES) \
	  --binary $(BUILD_DIR)/bin/bento-node --proxy $(BUILD_DIR)/bin/bento-chaos-proxy \
	  --sdk-worker $(BUILD_DIR)/bin/bento-chaos-sdk-worker

# The benchmark suite (bench/run.sh): HTTP with an nginx ceiling, SDK, storage against db_bench, failover.
BENCH_SECONDS ?= 10
BENCH_ROUNDS ?= 3
bench: build
	@bash scripts/setup.sh --bench
	@bash bench/run.sh $(BENCH_SECONDS) $(BENCH_ROUNDS)

# One node after many orders (bench/scale.py): RSS and disk per order, order reads, the restaurant's activation
# after a restart.
ORDERS ?= 200000
USERS ?= 0
bench-scale: build
	@bash scripts/setup.sh --bench
	@python3 bench/scale.py --orders $(ORDERS) --users $(USERS)

# Two builds side by side, loaded at once (bench/side_by_side.py): the measure of a change on a machine whose
# speed swings. make bench-side A=/path/to/old/bento-node [B=build/bin/bento-node] [NODES=1|3]
B ?= $(BUILD_DIR)/bin/bento-node
NODES ?= 1
SIDE_ROUNDS ?= 3
SIDE_SECONDS ?= 30
bench-side: build
	@test -n "$(A)" || { echo "usage: make bench-side A=/path/to/old/bento-node [B=...] [NODES=1|3]"; exit 2; }
	@bash scripts/setup.sh --bench
	@python3 bench/side_by_side.py --a $(A) --b $(B) --nodes $(NODES) --rounds $(SIDE_ROUNDS) --seconds $(SIDE_SECONDS)

clean:
	rm -rf $(BUILD_DIR)
