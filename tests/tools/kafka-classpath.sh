#!/usr/bin/env bash
# Prints the Java classpath of Apache Kafka's broker and CLI tools (kafka_2.13 + kafka-tools, the
# version pinned in pom.xml beside this script). Artifacts are resolved once with Maven into ~/.m2;
# the classpath is cached under ~/.cache/gregor keyed by the pom's checksum, so repeat calls are fast.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/gregor"
mkdir -p "$cache_dir"
sum="$(cat "$here/pom.xml" | sha256sum | cut -c1-16)"
cache="$cache_dir/kafka-classpath-$sum.txt"

classpath_is_complete() {
    [[ -s "$cache" ]] || return 1
    local jar
    while IFS= read -r jar; do
        [[ -f "$jar" ]] || return 1
    done < <(tr ':' '\n' < "$cache")
}

if ! classpath_is_complete; then
    tmp="$(mktemp)"
    # Offline first (cheap when ~/.m2 is warm), online otherwise.
    if ! mvn -B -q -o -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$tmp" >/dev/null 2>&1; then
        mvn -B -q -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$tmp" >&2
    fi
    mv "$tmp" "$cache"
fi
cat "$cache"
echo
