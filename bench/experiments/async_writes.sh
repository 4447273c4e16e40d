#!/usr/bin/env bash
# Gregor with appends written on the network thread (log.async.writes.max.bytes=0) vs by the disk
# writer thread (the default), rounds interleaved, one broker at a time, the same native loadgen:
#   - latency: 1 partition, acks=all, 50 MB/s, linger.ms 0, 15 s (compare.py's latency workload);
#   - throughput: 8 partitions, acks=1 and acks=all, 12 s, as fast as the client goes.
#   bench/experiments/async_writes.sh [rounds, default 5]
# FLUSH_MESSAGES=1 sets log.flush.interval.messages (Kafka's flush after every append): the inline
# mode then fsyncs on the network thread, the disk writer batches the fsyncs behind its writes.
# Prints one JSON line per run and, at the end, the median [min-max] of each figure per mode.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
rounds="${1:-5}"
bin="${GREGOR_BIN_DIR:-$repo/build/bin}"
port=29092
out="$(mktemp /var/tmp/gregor-async-writes.XXXXXX.jsonl)"
run() {  # $1 = mode name, $2 = log.async.writes.max.bytes
    local dir; dir="$(mktemp -d /var/tmp/gregor-aw.XXXXXX)"
    "$bin/gregor" serve --set "listeners=PLAINTEXT://127.0.0.1:$port" --set "log.dirs=$dir/data" \
        --set http.listeners= --set log.segment.bytes=1073741824 --set num.partitions=1 \
        --set "log.async.writes.max.bytes=$2" ${FLUSH_MESSAGES:+--set "log.flush.interval.messages=$FLUSH_MESSAGES"} \
        >"$dir/gregor.log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    local lat p8a1 p8all
    lat="$("$bin/gregor_loadgen" produce --bootstrap "127.0.0.1:$port" --topic lat --partitions 1 --acks all \
            --duration-s 15 --rate-mbps 50 --linger-ms 0 2>/dev/null | grep '^{' | tail -1)"
    p8a1="$("$bin/gregor_loadgen" produce --bootstrap "127.0.0.1:$port" --topic p8a1 --partitions 8 --acks 1 \
            --duration-s 12 2>/dev/null | grep '^{' | tail -1)"
    p8all="$("$bin/gregor_loadgen" produce --bootstrap "127.0.0.1:$port" --topic p8all --partitions 8 --acks all \
            --duration-s 12 2>/dev/null | grep '^{' | tail -1)"
    local rss; rss="$(awk '/VmHWM/ {print $2}' /proc/$pid/status)"
    kill $pid; wait $pid || true
    rm -rf "$dir"
    /usr/bin/python3 - "$1" "$lat" "$p8a1" "$p8all" "$rss" <<'EOF' | tee -a "$out"
import json, sys
mode, lat, a1, aall, rss = sys.argv[1:]
lat, a1, aall = json.loads(lat), json.loads(a1), json.loads(aall)
print(json.dumps({"mode": mode, "p50_ms": lat["latency_ms_p50"], "p99_ms": lat["latency_ms_p99"],
                  "p999_ms": lat["latency_ms_p999"], "max_ms": lat["latency_ms_max"],
                  "p8_acks1_MBps": a1["mb_per_s"], "p8_acksall_MBps": aall["mb_per_s"],
                  "peak_rss_MiB": round(int(rss) / 1024)}))
EOF
}
for _ in $(seq "$rounds"); do
    run inline 0
    run disk-writer 67108864
done
/usr/bin/python3 - "$out" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
keys = [k for k in runs[0] if k != "mode"]
for mode in ("inline", "disk-writer"):
    rs = [r for r in runs if r["mode"] == mode]
    print(mode, f"({len(rs)} runs):", ", ".join(
        f"{k} {statistics.median(r[k] for r in rs):g} [{min(r[k] for r in rs):g}-{max(r[k] for r in rs):g}]" for k in keys))
EOF
