# The two commands a newcomer needs: `make dev` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
JOBS ?= 2

.PHONY: setup configure build dev test unit integration bench clean

setup:
	@bash scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD_DIR) -G Ninja >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

dev: build
	@BENTO_DATA_DIR=$${BENTO_DATA_DIR:-./data} exec $(BUILD_DIR)/bin/bento-node

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L unit

integration: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L integration

bench: build
	@bash bench/run.sh

clean:
	rm -rf $(BUILD_DIR)
