#!/usr/bin/env bash
# Consume A/B of two Gregor binaries (e.g. before and after a read-path change), rounds
# interleaved A B A B ..., one broker at a time: write 2 GiB of 1 KiB records to 8 partitions
# (acks=1), then read it all with gregor_loadgen (librdkafka). Most of it lies below the tail cache,
# so this measures the direct-I/O readahead path a consumer catching up takes.
#   bench/experiments/consume_ab.sh BIN_A BIN_B [rounds, default 3] [MiB, default 2048]
# Prints one line per run: label, consume MB/s, the broker's CPU seconds during the consume, its
# peak RSS (VmHWM) over the whole run.
# gregor_loadgen is taken from build/bin. CONSUMER=java reads with Kafka's ConsumerPerformance
# instead (--fetch-size 4 MiB, as bench/compare does; jars from tests/tools/kafka-classpath.sh).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
source "$repo/bench/experiments/lib.sh"
bin_a="$1"
bin_b="$2"
rounds="${3:-3}"
mib="${4:-2048}"
loadgen="$repo/build/bin/gregor_loadgen"
records=$(( mib * 1024 ))
port=29093
ticks="$(getconf CLK_TCK)"
classpath=""
[[ "${CONSUMER:-native}" == java ]] && classpath="$("$repo/tests/tools/kafka-classpath.sh")"
run() {  # $1 = label, $2 = gregor binary
    local dir; dir="$(mktemp -d /var/tmp/gregor-cab.XXXXXX)"
    start_gregor "$2" "$port" "$dir"
    local pid=$GREGOR_PID
    fill_c8 "$loadgen" "$port" "$records" >"$dir/fill.txt" 2>&1
    local c0 c1 mbps
    c0="$(cpu_ticks "$pid")"
    if [[ "${CONSUMER:-native}" == java ]]; then
        # CSV: start.time, end.time, MB, MB.sec, nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, ...
        mbps="$(java -Xmx1G -cp "$classpath" org.apache.kafka.tools.ConsumerPerformance \
                --bootstrap-server "127.0.0.1:$port" --topic c8 --num-records "$records" \
                --fetch-size 4194304 --timeout 60000 --group "ab-$RANDOM" 2>/dev/null |
                awk -F', *' -v n="$records" '/^[0-9]/ {if ($8 > 0) printf "%.1f", n * 1024 / 1e6 / ($8 / 1000)}')"
    else
        mbps="$("$loadgen" consume --bootstrap "127.0.0.1:$port" --topic c8 --timeout-s 300 2>/dev/null |
                grep -oE '"mb_per_s":[0-9.]+' | cut -d: -f2)"
    fi
    c1="$(cpu_ticks "$pid")"
    local hwm; hwm="$(awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$pid/status")"
    echo "$1 consume_mb_per_s=${mbps:-failed} broker_cpu_s=$(awk -v d=$((c1 - c0)) -v t="$ticks" 'BEGIN {printf "%.2f", d / t}') peak_rss_mib=$hwm"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
}
for _ in $(seq "$rounds"); do
    run A "$bin_a"
    run B "$bin_b"
done
