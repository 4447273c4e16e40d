#!/usr/bin/env bash
# `make test-reference`: starts a single-node Apache Kafka 4.3.1 (tests/tools/run-reference-kafka.sh,
# fetched with Maven) and runs the client-facing integration tests against it: every test of the
# suite except the `gregor_only` and `cluster` ones, through KAFKA_BOOTSTRAP (tests that need a Gregor
# process of their own skip themselves, and are listed as skipped). Exits non-zero when any test
# fails, so a test asserting something Kafka does not do shows up here. Stops the broker on exit.
# Then test_tls.py runs with TLS_REFERENCE_KAFKA=1: it starts a second Kafka with SSL and mTLS
# listeners (KAFKA_EXTRA_LISTENERS) and runs its client tests against it.
#
# Environment: REFERENCE_DIR (default: a new temporary directory, removed afterwards),
# REFERENCE_PORT (default: a free port); other arguments go to pytest (through run.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$here/../tools"

port="${REFERENCE_PORT:-$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
if [[ -n "${REFERENCE_DIR:-}" ]]; then
    dir="$REFERENCE_DIR"
    keep=1
else
    dir="$(mktemp -d /tmp/gregor-reference-kafka.XXXXXX)"
    keep=0
fi
cleanup() {
    "$tools/run-reference-kafka.sh" stop "$dir" >/dev/null 2>&1 || true
    if [[ $keep -eq 0 ]]; then rm -rf "$dir"; fi
}
trap cleanup EXIT

start=$(date +%s)
"$tools/run-reference-kafka.sh" "$port" "$dir"
echo "test-reference: Kafka serving on 127.0.0.1:$port after $(( $(date +%s) - start ))s (log: $dir/kafka.log)"
set +e
KAFKA_BOOTSTRAP="127.0.0.1:$port" GREGOR_STRICT_SKIPS=0 \
    ITEST_JUNIT_XML="${ITEST_JUNIT_XML:-$here/.report-reference.xml}" \
    "$here/run.sh" -m "not gregor_only and not cluster" "$@"
code=$?
# TLS: test_tls.py starts its own Kafka with SSL and mTLS listeners (TLS_REFERENCE_KAFKA=1).
# (Its tests of Gregor's own log or process skip themselves here: skips are expected, as above.)
(cd "$here" && TLS_REFERENCE_KAFKA=1 GREGOR_STRICT_SKIPS=0 /usr/bin/python3 -m pytest -ra -m "not cluster" \
    --junitxml="$here/.report-reference-tls.xml" test_tls.py)
tls_code=$?
[[ $code -ne 0 ]] || code=$tls_code
set -e
echo "test-reference: done in $(( $(date +%s) - start ))s (exit $code)"
exit $code
