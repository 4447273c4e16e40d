#!/usr/bin/env bash
# Consume rate of data just written, read from the files (tail cache off) vs from memory (the tail
# cache large enough to hold it all, as for consumers that keep up with their producers): the
# facts behind log.tail.cache.max.bytes. One Gregor at a time, rounds interleaved.
#   bench/experiments/tail_cache_consume.sh [MiB to write, default 2048] [rounds, default 2]
# Prints one line per run: cache bound, MB/s of gregor_loadgen (librdkafka) and of Kafka's
# ConsumerPerformance (Java), and the broker's peak RSS.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
mib="${1:-2048}"
rounds="${2:-2}"
bin="$repo/build/bin"
cp="$("$repo/tests/tools/kafka-classpath.sh")"
records=$(( mib * 1024 ))
port=29092
run() {  # $1 = cache bound in bytes
    local dir; dir="$(mktemp -d /var/tmp/gregor-tail.XXXXXX)"
    "$bin/gregor" serve --set "listeners=PLAINTEXT://127.0.0.1:$port" --set "log.dirs=$dir/data" \
        --set http.listeners= --set log.segment.bytes=1073741824 --set num.partitions=1 \
        --set "log.tail.cache.max.bytes=$1" >"$dir/gregor.log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    "$bin/gregor_loadgen" produce --bootstrap "127.0.0.1:$port" --topic c8 --partitions 8 --acks 1 \
        --count "$records" >"$dir/fill.txt" 2>&1
    local native java
    native="$("$bin/gregor_loadgen" consume --bootstrap "127.0.0.1:$port" --topic c8 --timeout-s 300 2>&1 |
              grep -oE '"mb_per_s":[0-9.]+' | cut -d: -f2)"
    java="$(java -Xmx1G -cp "$cp" org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "127.0.0.1:$port" \
              --topic c8 --num-records "$records" --fetch-size 4194304 --timeout 60000 --group "g$RANDOM" 2>/dev/null |
            awk -F', *' '/^start.time/ {for (i = 1; i <= NF; i++) h[i] = $i; next}
                         NF > 5 {for (i = 1; i <= NF; i++) if (h[i] == "fetch.MB.sec") print $i}')"
    local rss; rss="$(awk '/VmHWM/ {print $2 / 1024 " MiB"}' /proc/$pid/status)"
    kill $pid; wait $pid || true
    echo "cache=$1 native=${native:-?} java_fetch_MB_per_s=${java:-?} peak_rss=$rss"
    rm -rf "$dir"
}
for _ in $(seq "$rounds"); do
    run 0
    run $(( (mib + 512) << 20 ))
done
