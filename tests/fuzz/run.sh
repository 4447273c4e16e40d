#!/usr/bin/env bash
# Runs every libFuzzer target of a GREGOR_FUZZ build for N seconds each (make fuzz).
#   tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
# Each target starts from its seed corpus (tests/fuzz/corpus/<t>) and regression inputs
# (tests/fuzz/regressions/<t>) plus what earlier runs found (BUILD_DIR/corpus/<t>, where new inputs
# go). A failing input lands in BUILD_DIR/artifacts/<t>/; copy it to tests/fuzz/regressions/<t>/
# with the fix, so that ctest replays it from then on. The figures of the run (executions, corpus
# size, peak RSS, failures) are appended to BUILD_DIR/summary.txt. Exits non-zero when a target failed.
# FUZZ_RUNS=N stops each target after N executions (or SECONDS, whichever comes first): the long run
# that the hardening issue asks for is FUZZ_RUNS=10000000 with a generous SECONDS.
set -uo pipefail
build=${1:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
src="$(cd "$(dirname "$0")" && pwd)"
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in "$build"/bin/fuzz_*; do targets+=("$(basename "$f" | sed 's/^fuzz_//')"); done
fi
summary="$build/summary.txt"
echo "# $(date -u +%FT%TZ) ${seconds}s per target" >>"$summary"
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
  inputs=("$build/corpus/$t")
  for d in "$src/corpus/$t" "$src/regressions/$t"; do [[ -d "$d" ]] && inputs+=("$d"); done
  log="$build/artifacts/$t/last-run.log"
  # Config files and config names are small; longer inputs only slow the YAML parser down.
  max_len=65536
  [[ $t == config ]] && max_len=8192
  runs=()
  [[ -n "${FUZZ_RUNS:-}" ]] && runs=(-runs="$FUZZ_RUNS")
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/bin/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -max_len="$max_len" "${runs[@]}" \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" "${inputs[@]}" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  corpus=$(ls "$build/corpus/$t" | wc -l)
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || true)
  line="fuzz_$t: rc=$rc executions=${execs:-?} seconds=${secs:-?} corpus=$corpus peak_rss_mb=${rss:-?}"
  if ((rc != 0)); then
    failed=1
    line+=" FAILED: $(ls "$build/artifacts/$t" | grep -v last-run.log | tr '\n' ' ')(log: $log)"
  fi
  echo "$line" | tee -a "$summary"
done
exit $failed
