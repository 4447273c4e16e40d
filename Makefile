# Facade over CMake presets and the test runners. `make run` and `make test` are the two commands
# the README promises work on a fresh Debian 12 machine.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
export CCACHE_DIR ?= $(HOME)/.ccache
# Relative paths in the cache key: a fresh clone elsewhere (CI) reuses objects built here.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1

.PHONY: setup configure build run test unit-test integration-test asan asan-test bench clean

setup:
	@tools/setup.sh

configure:
	@cmake --preset release >/dev/null

build: configure
	@cmake --build --preset release -j $(JOBS)

run: setup build
	./build/bin/gregor serve

unit-test:
	ctest --test-dir build --output-on-failure -j $(JOBS) --timeout 300

integration-test:
	tests/integration/run.sh

test: setup build
	$(MAKE) unit-test
	$(MAKE) integration-test

asan:
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)

# Unit tests and the integration suite against the ASan+UBSan binary.
asan-test: setup asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS) --timeout 600
	GREGOR_BIN=$(CURDIR)/build-asan/bin/gregor tests/integration/run.sh

bench: setup build
	@for b in build/bin/bench_*; do [ -x "$$b" ] && "$$b"; done

clean:
	rm -rf build build-asan

# Builds the container image with podman and runs kcat against it (slow: a Release build inside
# the image; not part of `make test`). See docker/test-container.sh.
.PHONY: test-container
test-container:
	docker/test-container.sh
