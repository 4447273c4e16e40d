#!/usr/bin/env bash
# Issue 16, item 2: inline writes vs a disk thread (one sync per write, or group commit) vs io_uring, as seen from an Asio event loop
# (disk_offload.cc says what is measured). Installs liburing-dev if missing, builds with g++ -O2,
# then runs each mode in turn, ROUNDS times, for every load below.
#   bench/experiments/disk_offload.sh [seconds per run, default 10] [rounds, default 3] [dir, default /var/tmp]
# One line per run; compare the modes' medians. Measure on a quiet machine.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${1:-10}"
rounds="${2:-3}"
dir="${3:-/var/tmp}"
if [[ ! -f /usr/include/liburing.h ]]; then
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y -qq liburing-dev >/dev/null; else sudo apt-get install -y -qq liburing-dev >/dev/null; fi
fi
bin=/tmp/disk_offload
g++ -std=c++20 -O2 -pthread -o "$bin" "$repo/bench/experiments/disk_offload.cc" -luring
# ~50 MB/s in 64 KiB appends (the issue's latency load), buffered and direct, without and with an
# fdatasync per append (log.flush.interval.messages=1); then 1 MiB appends as fast as the device
# takes them (at most 8 outstanding).
loads=(
  "--block 65536 --interval-us 1300"
  "--block 65536 --interval-us 1300 --direct"
  "--block 65536 --interval-us 1300 --sync"
  "--block 1048576 --interval-us 1000 --inflight 8"
)
for load in "${loads[@]}"; do
  for ((r = 0; r < rounds; r++)); do
    for mode in inline pool group uring; do
      # shellcheck disable=SC2086
      "$bin" --mode "$mode" --seconds "$seconds" --path "$dir/disk_offload.$$.log" $load
    done
  done
done
