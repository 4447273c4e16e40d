#!/usr/bin/env bash
# Side-by-side benchmark of Gregor and Apache Kafka 4.x on this machine: `make bench-compare` runs
# this after `make build`. Resolves Kafka's jars with Maven (tests/tools/kafka-classpath.sh, cached in
# ~/.m2), then runs bench/compare/compare.py, which starts one broker at a time, drives it with
# bin/gregor_loadgen (librdkafka) and Kafka's ProducerPerformance/ConsumerPerformance, and prints the
# table (also bench/results/latest.json and a dated copy).
#
# Environment: GREGOR_BIN (default build/bin/gregor; gregor_loadgen is taken from the same dir),
# BENCH_QUICK=1 (a few seconds per workload, for smoke tests; writes latest-quick.json),
# BENCH_CLUSTER=3 (3-node Gregor vs 3-node Kafka, RF=3, acks=all; writes cluster-latest.json),
# BENCH_REPEAT=N (same as --repeat N: every broker N times, interleaved; medians and [min-max]).
# Arguments are passed to compare.py (--help lists them).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${GREGOR_BIN:-$repo/build/bin/gregor}"
for tool in java mvn pkg-config; do
    command -v "$tool" >/dev/null || { echo "bench-compare: $tool missing (run tools/setup.sh)" >&2; exit 1; }
done
if [[ ! -x "$bin" || ! -x "$(dirname "$bin")/gregor_loadgen" ]]; then
    echo "bench-compare: need $bin and $(dirname "$bin")/gregor_loadgen (make build; librdkafka-dev)" >&2
    exit 1
fi
"$repo/tests/tools/kafka-classpath.sh" >/dev/null
exec /usr/bin/python3 "$here/compare.py" --gregor-bin "$bin" "$@"
