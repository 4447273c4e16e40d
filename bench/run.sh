#!/usr/bin/env bash
# Runs every micro-benchmark executable (bin/bench_*) of a build and prints a short summary.
#   bench/run.sh [BIN_DIR] [FILTER]      (defaults: build/bin, all benchmarks)
# FILTER is passed to --benchmark_filter (a regex over "name/args"); binaries with no matching
# benchmark are skipped. Full results (JSON, one file per binary) go to $BENCH_OUT
# (default: BIN_DIR/../bench-results). Extra flags for every binary: $BENCH_ARGS.
set -uo pipefail
bin_dir="${1:-build/bin}"
filter="${2:-}"
out_dir="${BENCH_OUT:-$bin_dir/../bench-results}"
mkdir -p "$out_dir"
here="$(cd "$(dirname "$0")" && pwd)"
shopt -s nullglob
benches=("$bin_dir"/bench_*)
if [ ${#benches[@]} -eq 0 ]; then
  echo "bench: no bench_* executables in $bin_dir (configure with GREGOR_BUILD_BENCH=ON)" >&2
  exit 1
fi
status=0
results=()
for b in "${benches[@]}"; do
  [ -x "$b" ] || continue
  name="$(basename "$b")"
  args=(--benchmark_out="$out_dir/$name.json" --benchmark_out_format=json)
  if [ -n "$filter" ]; then
    # Skip binaries with nothing matching (they would report an error).
    if ! "$b" --benchmark_list_tests --benchmark_filter="$filter" 2>/dev/null | grep -q .; then continue; fi
    args+=(--benchmark_filter="$filter")
  fi
  echo "=== $name"
  # shellcheck disable=SC2086
  if "$b" "${args[@]}" ${BENCH_ARGS:-}; then
    results+=("$out_dir/$name.json")
  else
    echo "bench: $name failed" >&2
    status=1
  fi
done
if [ ${#results[@]} -gt 0 ]; then
  echo
  python3 "$here/summary.py" "${results[@]}"
fi
exit $status
