#!/usr/bin/env bash
# Stand-in for `gregor serve --set NAME=VALUE ...` that runs the reference Apache Kafka instead, so
# the Gregor-only parts of the integration suite (process start/stop/restart, data surviving
# restarts) can be checked against Kafka:  GREGOR_BIN=tests/tools/kafka-as-gregor.sh run.sh
# listeners gives the port, log.dirs the directory; every other --set becomes a server property.
# SIGTERM stops Kafka cleanly and exits 0, as Gregor does.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ "${1:-}" == "serve" ]] || { echo "usage: $0 serve --set NAME=VALUE..." >&2; exit 2; }
shift
port="" dir="" extra=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --set)
            name="${2%%=*}" value="${2#*=}"
            case "$name" in
                listeners) port="${value##*:}" ;;
                advertised.listeners|node.id) ;;
                log.dirs) dir="$value" ;;
                *) extra+="$name=$value"$'\n' ;;
            esac
            shift 2 ;;
        *) echo "kafka-as-gregor: unsupported argument $1" >&2; exit 2 ;;
    esac
done
[[ -n "$port" && -n "$dir" ]] || { echo "kafka-as-gregor: listeners and log.dirs are required" >&2; exit 2; }
export KAFKA_EXTRA_PROPS="$extra"
"$here/run-reference-kafka.sh" fg "$port" "$dir" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child" || true; exit 0' TERM INT
wait "$child"
