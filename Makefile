# Facade over CMake presets and the test runners. `make run` and `make test` are the two commands
# the README promises work on a fresh Debian 12 machine.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
export CCACHE_DIR ?= $(HOME)/.ccache
# Relative paths in the cache key: a fresh clone elsewhere (CI) reuses objects built here.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1

.PHONY: setup configure build run test unit-test integration-test asan asan-test bench clean test-reference

setup:
	@tools/setup.sh

configure:
	@cmake --preset release >/dev/null

build: configure
	@cmake --build --preset release -j $(JOBS)

run: setup build
	./build/bin/gregor serve

# --no-tests=error: a build that registered no tests (or a -R that matches none) fails, never passes.
CTEST_ARGS := --output-on-failure --no-tests=error -j $(JOBS)

unit-test:
	ctest --test-dir build $(CTEST_ARGS) --timeout 300

integration-test:
	tests/integration/run.sh

test: setup build
	$(MAKE) unit-test
	$(MAKE) integration-test
	$(MAKE) test-container-if-usable

asan:
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)

# Unit tests and the integration suite against the ASan+UBSan binary, with the same sanitizer
# options: a report ends the process; the suite (tests/integration/broker_health.py) fails the test
# whose broker printed one or died of it, shutdown (LeakSanitizer) included.
SANITIZER_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
asan-test: setup asan
	$(SANITIZER_ENV) ctest --test-dir build-asan $(CTEST_ARGS) --timeout 600
	$(SANITIZER_ENV) GREGOR_BIN=$(CURDIR)/build-asan/bin/gregor tests/integration/run.sh

# The client-facing integration tests (all but gregor_only and cluster) against Apache Kafka 4.3.1
# (single node, fetched with Maven): fails when a test asserts something Kafka does not do.
# CI runs it after `make test` (.ci/run). See tests/integration/run-reference.sh.
test-reference: setup
	tests/integration/run-reference.sh

# Runs every micro-benchmark (build/bin/bench_*, see bench/README.md) and prints a summary;
# BENCH_FILTER=regex is passed to --benchmark_filter, e.g. `make bench BENCH_FILTER=crc32c`.
BENCH_FILTER ?=
bench: setup build
	@bench/run.sh build/bin "$(BENCH_FILTER)"

# The long multi-node fault runs (controller SIGKILLed 20 times, SIGSTOP/fencing, cut links,
# rolling restarts, acks=all under leader kills): minutes each, not part of `make test`.
# GREGOR_CLUSTER_IMPL=kafka runs them against a 3-node Apache Kafka instead.
# Hostile clients at scale (tests/integration/test_hostile_clients.py) with 10,000 idle connections
# instead of the default suite's 2,000, compression bombs inflating to 4 GiB instead of 1 GiB and
# 500 consumers fetching max_bytes 2^31-1 instead of 200; prints the table of cases (limit held,
# reason, p99).
GREGOR_HOSTILE_CONNECTIONS ?= 10000
GREGOR_HOSTILE_BOMB_MIB ?= 4096
GREGOR_HOSTILE_FETCHERS ?= 500
.PHONY: hostile
hostile: setup build
	GREGOR_HOSTILE_CONNECTIONS=$(GREGOR_HOSTILE_CONNECTIONS) GREGOR_HOSTILE_BOMB_MIB=$(GREGOR_HOSTILE_BOMB_MIB) \
	GREGOR_HOSTILE_FETCHERS=$(GREGOR_HOSTILE_FETCHERS) tests/integration/run.sh -s -k test_hostile_clients

# Coverage-guided fuzzing with libFuzzer (clang from Debian, installed on first use): every target
# in tests/fuzz for FUZZ_SECONDS each, under ASan+UBSan, from the seed corpus; new inputs go to
# build-fuzz/corpus/, failures to build-fuzz/artifacts/, figures to build-fuzz/summary.txt.
# FUZZ_RUNS=N also stops each target after N executions (the long run: FUZZ_SECONDS=3600
# FUZZ_RUNS=10000000).
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
.PHONY: fuzz
fuzz: setup
	GREGOR_SETUP_FUZZ=1 tools/setup.sh
	@CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGREGOR_FUZZ=ON \
	  -DGREGOR_BUILD_TESTS=OFF -DGREGOR_BUILD_BENCH=OFF >/dev/null
	@cmake --build build-fuzz --target fuzz_targets -j $(JOBS)
	FUZZ_RUNS=$(FUZZ_RUNS) tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

# Valid-but-odd requests generated from Kafka's schemas (tests/integration/test_odd_requests.py) for
# ODD_SECONDS instead of the default suite's 45 s; ODD_CONNECTIONS connections, ODD_SEED replays a run
# (each run prints its seed). Prints requests per API/version, close reasons and the broker's RSS peak.
# GREGOR_BIN=build-asan/bin/gregor runs it against the ASan+UBSan build.
ODD_SECONDS ?= 600
ODD_CONNECTIONS ?= 4
ODD_SEED ?=
.PHONY: odd-load
odd-load: setup build
	GREGOR_ODD_SECONDS=$(ODD_SECONDS) GREGOR_ODD_CONNECTIONS=$(ODD_CONNECTIONS) $(if $(ODD_SEED),GREGOR_ODD_SEED=$(ODD_SEED)) \
	tests/integration/run.sh -s -k test_odd_requests

# The differential check (tests/integration/differential.py): the same requests to Apache Kafka
# 4.3.1 and to Gregor, responses compared field by field; fails on any difference not listed in
# tests/integration/differential_accepted.txt (and on a listed one that no longer happens).
.PHONY: differential
differential: setup build
	GREGOR_DIFFERENTIAL=1 tests/integration/run.sh -s -k test_differential

.PHONY: cluster-test
cluster-test: setup build
	GREGOR_CLUSTER_TESTS=1 tests/integration/run.sh -m cluster -s

# The long Jepsen-style replication run (tests/integration/test_cluster_jepsen.py): two idempotent
# acks=all writers (librdkafka, Java) and a consumer group under 50 rounds of leader/follower
# SIGKILLs, SIGSTOPs and network cuts (~10 min against Gregor). GREGOR_JEPSEN_ROUNDS /
# GREGOR_JEPSEN_SEED to vary; GREGOR_CLUSTER_IMPL=kafka to run it against Kafka.
GREGOR_JEPSEN_ROUNDS ?= 50
.PHONY: jepsen
jepsen: setup build
	GREGOR_CLUSTER_TESTS=1 GREGOR_JEPSEN_ROUNDS=$(GREGOR_JEPSEN_ROUNDS) tests/integration/run.sh -m cluster -k jepsen_long -s

# Side by side with Apache Kafka 4.x (fetched with Maven): build/bin/gregor and bin/gregor_loadgen vs
# Kafka, one broker at a time (~15 min; BENCH_QUICK=1 for a smoke run). See bench/compare/README.md.
# BENCH_REPEAT=N (`make bench-compare BENCH_REPEAT=5`; make takes no --repeat) runs every broker N
# times, interleaved (A B A B ...), and reports the median and [min-max] of every figure (N x the time).
BENCH_REPEAT ?= 1
.PHONY: bench-compare bench-compare-cluster
bench-compare: setup build
	BENCH_REPEAT=$(BENCH_REPEAT) bench/compare/run.sh

# Three-node Gregor vs three-node Apache Kafka (combined roles, RF=3, min.insync.replicas=2,
# acks=all), one cluster at a time (~10 min; BENCH_QUICK=1 for a smoke run). Same as
# `BENCH_CLUSTER=3 make bench-compare`; results in bench/results/cluster-latest.json. BENCH_REPEAT=N
# as above.
bench-compare-cluster: setup build
	BENCH_CLUSTER=3 BENCH_REPEAT=$(BENCH_REPEAT) bench/compare/run.sh

clean:
	rm -rf build build-asan

# Builds the container image with podman and runs kcat against it. See docker/test-container.sh.
# The image's build stage reuses the host ccache, so after `make build` it compiles nothing new.
# `make test` runs the -if-usable variant: one "test-container: SKIP: ..." line where podman cannot
# be prepared (or GREGOR_SKIP_CONTAINER=1), a failure otherwise.
.PHONY: test-container test-container-if-usable
test-container:
	docker/test-container.sh

test-container-if-usable:
	docker/test-container.sh --if-usable

# The deterministic cluster simulation (tests/unit/cluster_sim/README.md): controllers, brokers and
# data partitions on Gregor's cores under crashes, pauses and a faulty network, CLUSTER_SIM_SEEDS
# seeds (a failure prints its seed and the command that replays it).
CLUSTER_SIM_SEEDS ?= 5000
.PHONY: cluster-sim
cluster-sim: configure
	@cmake --build --preset release -j $(JOBS) --target cluster_sim
	./build/bin/cluster_sim --seeds $(CLUSTER_SIM_SEEDS)
