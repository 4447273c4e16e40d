# Shared by the consume experiments (consume_ab.sh, consumer_cpu.sh): sourced, not run.

# start_gregor BIN PORT DIR [--set KEY=VALUE ...]: a one-node broker on 127.0.0.1:PORT with its
# data in DIR/data and its log in DIR/gregor.log (1 GiB segments, one partition per new topic);
# returns once the port accepts, with the broker's pid in GREGOR_PID.
start_gregor() {
    local bin="$1" port="$2" dir="$3"
    shift 3
    "$bin" serve --set "listeners=PLAINTEXT://127.0.0.1:$port" --set "log.dirs=$dir/data" \
        --set http.listeners= --set log.segment.bytes=1073741824 --set num.partitions=1 "$@" \
        >"$dir/gregor.log" 2>&1 &
    GREGOR_PID=$!
    for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
}

# fill_c8 LOADGEN PORT RECORDS: RECORDS records of 1 KiB into topic c8 (8 partitions, acks=1).
fill_c8() {
    "$1" produce --bootstrap "127.0.0.1:$2" --topic c8 --partitions 8 --acks 1 \
        --record-size 1024 --count "$3"
}

# cpu_ticks PID: the process's user + system CPU time in clock ticks (getconf CLK_TCK per second).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
