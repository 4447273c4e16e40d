#!/usr/bin/env bash
# Runs a reference Apache Kafka 4.x cluster (kafka_2.13 from Maven Central, KRaft combined mode,
# N nodes, default 3) on 127.0.0.1, every node formatted with one cluster id, so tools and the
# integration suite can be pointed at a real multi-node Kafka by hand. (The `cluster` tests start
# their own nodes through tests/integration/cluster_harness.py; this script is for people.)
#
#   run-reference-kafka-cluster.sh start DIR [BASE_PORT [NODES]]   start in the background, wait until
#                                              every node serves and the quorum has a leader, exit 0
#   run-reference-kafka-cluster.sh stop DIR    stop every node started with DIR (SIGTERM, then SIGKILL)
#   run-reference-kafka-cluster.sh status DIR  quorum status (kafka-metadata-quorum describe --status)
#
# Node i (1-based) serves Kafka on BASE_PORT+i-1 (default base 19092) and its controller on
# BASE_PORT+100+i-1. DIR/nodeI holds server.properties, data/, kafka.pid and kafka.log.
# DIR/bootstrap holds the bootstrap string. Environment: KAFKA_HEAP_OPTS (default -Xmx384m -Xms128m),
# KAFKA_EXTRA_PROPS (extra server.properties lines for every node, newline separated).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" >&2; exit 2; }

port_open() {
    /usr/bin/python3 - "$1" <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

java_opts() {
    JAVA_OPTS=(${KAFKA_HEAP_OPTS:--Xmx384m -Xms128m} -XX:+UseG1GC
               "-Dlog4j.configuration=file:$here/log4j.properties"
               "-Dlog4j2.configurationFile=$here/log4j2.properties")
}

stop_cluster() {
    local dir="$1" pid pids=()
    for pidfile in "$dir"/node*/kafka.pid; do
        [[ -f "$pidfile" ]] || continue
        pid="$(cat "$pidfile")"
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$pidfile"
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    done
    return 0
}

start_cluster() {
    local dir="$1" base="${2:-19092}" nodes="${3:-3}" i voters="" bootstrap="" cluster_id cp
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    for i in $(seq 1 "$nodes"); do
        voters+="${voters:+,}${i}@127.0.0.1:$((base + 100 + i - 1))"
        bootstrap+="${bootstrap:+,}127.0.0.1:$((base + i - 1))"
    done
    cp="$("$here/kafka-classpath.sh")"
    java_opts
    if [[ -f "$dir/cluster.id" ]]; then
        cluster_id="$(cat "$dir/cluster.id")"
    else
        cluster_id="$(/usr/bin/python3 -c 'import uuid,base64; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
        echo "$cluster_id" > "$dir/cluster.id"
    fi
    for i in $(seq 1 "$nodes"); do
        local nd="$dir/node$i" port=$((base + i - 1)) cport=$((base + 100 + i - 1))
        mkdir -p "$nd"
        if [[ -f "$nd/kafka.pid" ]] && kill -0 "$(cat "$nd/kafka.pid")" 2>/dev/null; then
            echo "node $i already running (pid $(cat "$nd/kafka.pid"))" >&2
            exit 1
        fi
        cat > "$nd/server.properties" <<PROPS
process.roles=broker,controller
node.id=${i}
controller.quorum.voters=${voters}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=${nd}/data
PROPS
        if [[ -n "${KAFKA_EXTRA_PROPS:-}" ]]; then
            printf '%s\n' "$KAFKA_EXTRA_PROPS" >> "$nd/server.properties"
        fi
        if [[ ! -f "$nd/data/meta.properties" ]]; then
            java "${JAVA_OPTS[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$cluster_id" \
                -c "$nd/server.properties" >"$nd/format.log" 2>&1 || { cat "$nd/format.log" >&2; exit 1; }
        fi
        nohup java "${JAVA_OPTS[@]}" -cp "$cp" kafka.Kafka "$nd/server.properties" \
            >"$nd/kafka.log" 2>&1 </dev/null &
        echo $! > "$nd/kafka.pid"
    done
    echo "$bootstrap" > "$dir/bootstrap"
    for _ in $(seq 1 360); do
        local up=0
        for i in $(seq 1 "$nodes"); do
            if ! kill -0 "$(cat "$dir/node$i/kafka.pid")" 2>/dev/null; then
                echo "node $i exited during start; its log:" >&2
                tail -n 50 "$dir/node$i/kafka.log" >&2
                stop_cluster "$dir"
                exit 1
            fi
            port_open $((base + i - 1)) && up=$((up + 1))
        done
        if [[ $up -eq $nodes ]] && java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
                "-Dlog4j.configuration=file:$here/log4j.properties" -cp "$cp" \
                org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$bootstrap" \
                describe --status 2>/dev/null | grep -Eq '^LeaderId:[[:space:]]+[0-9]+'; then
            echo "Apache Kafka cluster of $nodes nodes serving on $bootstrap (dir $dir, cluster id $cluster_id)"
            exit 0
        fi
        sleep 0.5
    done
    echo "the cluster did not serve within 180 s" >&2
    stop_cluster "$dir"
    exit 1
}

case "${1:-}" in
    start)
        [[ $# -ge 2 && $# -le 4 ]] || usage
        start_cluster "$2" "${3:-19092}" "${4:-3}"
        ;;
    stop)
        [[ $# -eq 2 ]] || usage
        stop_cluster "$2"
        ;;
    status)
        [[ $# -eq 2 ]] || usage
        exec java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
            "-Dlog4j.configuration=file:$here/log4j.properties" -cp "$("$here/kafka-classpath.sh")" \
            org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$(cat "$2/bootstrap")" \
            describe --status
        ;;
    *)
        usage
        ;;
esac
