#!/usr/bin/env bash
# Runs a reference Apache Kafka 4.x broker (kafka_2.13 from Maven Central, KRaft combined mode,
# single node) so the integration suite and benchmarks can be checked against the real thing.
#
#   run-reference-kafka.sh PORT DIR        start in the background, wait until PORT serves, exit 0
#   run-reference-kafka.sh stop DIR        stop the broker started with DIR (SIGTERM, then SIGKILL)
#   run-reference-kafka.sh fg PORT DIR     run in the foreground (Ctrl-C stops it)
#
# DIR holds server.properties, the log dirs, kafka.pid and kafka.log (broker stdout/stderr).
# Environment: KAFKA_HEAP_OPTS (default -Xmx512m -Xms256m), KAFKA_EXTRA_PROPS (extra lines for
# server.properties, newline separated), KAFKA_EXTRA_LISTENERS (more listeners, NAME:PROTOCOL://host:port
# comma separated, e.g. MTLS:SSL://localhost:9094; their ssl.* settings go in KAFKA_EXTRA_PROPS as
# listener.name.<name>.ssl.*).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" >&2; exit 2; }

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_open() {
    /usr/bin/python3 - "$1" <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

stop_broker() {
    local dir="$1" pid
    [[ -f "$dir/kafka.pid" ]] || { echo "no kafka.pid in $dir" >&2; return 0; }
    pid="$(cat "$dir/kafka.pid")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/kafka.pid"
}

prepare() {
    local port="$1" dir="$2" controller_port cluster_id
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    controller_port="$(free_port)"
    # KAFKA_EXTRA_LISTENERS items NAME:PROTOCOL://host:port → listener NAME://host:port, map NAME:PROTOCOL.
    local extra_listeners="" extra_map="" item name rest
    IFS=',' read -ra items <<<"${KAFKA_EXTRA_LISTENERS:-}"
    for item in "${items[@]}"; do
        [[ -n "$item" ]] || continue
        name="${item%%:*}"
        rest="${item#*:}"
        extra_listeners+=",${name}://${rest#*://}"
        extra_map+=",${name}:${rest%%://*}"
    done
    cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller_port}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller_port}${extra_listeners}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}${extra_listeners}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${extra_map}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=${dir}/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
    if [[ -n "${KAFKA_EXTRA_PROPS:-}" ]]; then
        printf '%s\n' "$KAFKA_EXTRA_PROPS" >> "$dir/server.properties"
    fi
    CP="$("$here/kafka-classpath.sh")"
    JAVA_OPTS=(${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m} -XX:+UseG1GC
               "-Dlog4j.configuration=file:$here/log4j.properties"
               "-Dlog4j2.configurationFile=$here/log4j2.properties")
    if [[ ! -f "$dir/data/meta.properties" ]]; then
        cluster_id="$(/usr/bin/python3 -c 'import uuid,base64
while True:
    t = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if "-" not in t: break
print(t)')"
        java "${JAVA_OPTS[@]}" -cp "$CP" kafka.tools.StorageTool format \
            -t "$cluster_id" -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
            || { cat "$dir/format.log" >&2; exit 1; }
    fi
    DIR="$dir"
}

cmd="${1:-}"
case "$cmd" in
    stop)
        [[ $# -eq 2 ]] || usage
        stop_broker "$2"
        ;;
    fg)
        [[ $# -eq 3 ]] || usage
        prepare "$2" "$3"
        exec java "${JAVA_OPTS[@]}" -cp "$CP" kafka.Kafka "$DIR/server.properties"
        ;;
    ''|-h|--help)
        usage
        ;;
    *)
        [[ $# -eq 2 ]] || usage
        port="$1"
        prepare "$port" "$2"
        if [[ -f "$DIR/kafka.pid" ]] && kill -0 "$(cat "$DIR/kafka.pid")" 2>/dev/null; then
            echo "already running (pid $(cat "$DIR/kafka.pid"))" >&2
            exit 1
        fi
        nohup java "${JAVA_OPTS[@]}" -cp "$CP" kafka.Kafka "$DIR/server.properties" \
            >"$DIR/kafka.log" 2>&1 </dev/null &
        echo $! > "$DIR/kafka.pid"
        for _ in $(seq 1 120); do
            if ! kill -0 "$(cat "$DIR/kafka.pid")" 2>/dev/null; then
                echo "Apache Kafka exited during start; its log:" >&2
                tail -n 50 "$DIR/kafka.log" >&2
                exit 1
            fi
            if port_open "$port"; then
                echo "Apache Kafka listening on 127.0.0.1:$port (pid $(cat "$DIR/kafka.pid"), dir $DIR)"
                exit 0
            fi
            sleep 0.5
        done
        echo "Apache Kafka did not open port $port in 60 s" >&2
        stop_broker "$DIR"
        exit 1
        ;;
esac
