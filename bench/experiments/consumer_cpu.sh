#!/usr/bin/env bash
# Where the consume figure's time goes, per broker: is the consumer or the broker the limit?
# For each broker (Gregor from build/bin, then Apache Kafka 4.3.1 via
# tests/tools/run-reference-kafka.sh with the bench's 1 GiB heap), rounds interleaved, one broker
# at a time: write 2 GiB of 1 KiB records to 8 partitions (acks=1), then read it all once with
# Kafka's ConsumerPerformance (--fetch-size 4 MiB, as bench/compare does) and once with
# gregor_loadgen (librdkafka). For each read it prints the rate, the consumer process's CPU seconds
# (user + system, whole process, JVM start and group join included for Java) and the broker's CPU
# seconds over the read. On 2 cores, consumer + broker CPU near 2 x the read's wall time means the
# machine, not the broker, sets the rate.
#   bench/experiments/consumer_cpu.sh [rounds, default 2] [MiB, default 2048]
set -uo pipefail  # not -e: one failed read prints 'failed' and the rounds go on
repo="$(cd "$(dirname "$0")/../.." && pwd)"
source "$repo/bench/experiments/lib.sh"
rounds="${1:-2}"
mib="${2:-2048}"
loadgen="$repo/build/bin/gregor_loadgen"
gregor="${GREGOR_BIN:-$repo/build/bin/gregor}"
records=$(( mib * 1024 ))
port=29094
ticks="$(getconf CLK_TCK)"
classpath="$("$repo/tests/tools/kafka-classpath.sh")"
secs() { awk -v d="$1" -v t="$ticks" 'BEGIN {printf "%.2f", d / t}'; }

read_all() {  # $1 = broker name, $2 = broker pid, $3 = topic
    local c0 c1 out mbps cpu tf; tf="$(mktemp)"
    # ConsumerPerformance under /usr/bin/time: CSV start.time, end.time, MB, MB.sec, nMsg,
    # nMsg.sec, rebalance.time.ms, fetch.time.ms, ...
    c0="$(cpu_ticks "$2")"
    out="$( { /usr/bin/time -o "$tf" -f "consumer_cpu_s=%U+%S wall_s=%e" java -Xmx1G -cp "$classpath" \
              org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "127.0.0.1:$port" \
              --topic "$3" --num-records "$records" --fetch-size 4194304 --timeout 60000 \
              --group "cpu-$RANDOM" 2>/dev/null; } 2>&1 )"
    c1="$(cpu_ticks "$2")"
    mbps="$(awk -F', *' -v n="$records" '/^[0-9]/ {if ($8 > 0) printf "%.1f fetch_s=%.2f", n * 1024 / 1e6 / ($8 / 1000), $8 / 1000}' <<<"$out")"
    cpu="$(grep -oE 'consumer_cpu_s=[0-9.+]+ wall_s=[0-9.]+' "$tf" | awk -F'[=+ ]' '{printf "consumer_cpu_s=%.2f process_wall_s=%s", $2 + $3, $5}')"
    echo "$1 java   mb_per_s=${mbps:-failed} $cpu broker_cpu_s=$(secs $((c1 - c0)))"
    c0="$(cpu_ticks "$2")"
    out="$( { /usr/bin/time -o "$tf" -f "consumer_cpu_s=%U+%S wall_s=%e" "$loadgen" consume \
              --bootstrap "127.0.0.1:$port" --topic "$3" --timeout-s 300 2>/dev/null; } 2>&1 )"
    c1="$(cpu_ticks "$2")"
    mbps="$(grep -oE '"mb_per_s":[0-9.]+' <<<"$out" | cut -d: -f2)"
    cpu="$(grep -oE 'consumer_cpu_s=[0-9.+]+ wall_s=[0-9.]+' "$tf" | awk -F'[=+ ]' '{printf "consumer_cpu_s=%.2f process_wall_s=%s", $2 + $3, $5}')"
    echo "$1 native mb_per_s=${mbps:-failed} $cpu broker_cpu_s=$(secs $((c1 - c0)))"
    rm -f "$tf"
}

run_gregor() {
    local dir; dir="$(mktemp -d /var/tmp/gregor-ccpu.XXXXXX)"
    start_gregor "$gregor" "$port" "$dir" --set group.initial.rebalance.delay.ms=0
    fill_c8 "$loadgen" "$port" "$records" >/dev/null 2>&1
    read_all gregor "$GREGOR_PID" c8
    kill "$GREGOR_PID"; wait "$GREGOR_PID" 2>/dev/null || true
    rm -rf "$dir"
}

run_kafka() {
    local dir; dir="$(mktemp -d /var/tmp/gregor-ccpu-kafka.XXXXXX)"
    KAFKA_HEAP_OPTS="-Xmx1G -Xms1G" "$repo/tests/tools/run-reference-kafka.sh" "$port" "$dir" >/dev/null
    fill_c8 "$loadgen" "$port" "$records" >/dev/null 2>&1
    read_all kafka "$(cat "$dir/kafka.pid")" c8
    "$repo/tests/tools/run-reference-kafka.sh" stop "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}

for _ in $(seq "$rounds"); do
    run_gregor
    run_kafka
done
