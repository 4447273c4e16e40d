#!/usr/bin/env bash
# Runs the integration suite (what `make integration-test` calls after the build). Installs
# nothing: the Makefile's setup does that. Resolves the Java artifacts once (Maven, cached in
# ~/.m2) so the tests can run Maven offline, then runs pytest; exits non-zero on any failure.
#
# Environment: GREGOR_BIN (default build/bin/gregor), KAFKA_BOOTSTRAP=host:port to test an
# external broker instead (gregor_only tests are then skipped), PYTEST_ARGS (extra pytest args,
# split on spaces; arguments to run.sh are passed to pytest as they are),
# ITEST_TIMEOUT_S (per-test timeout, default 300), ITEST_JUNIT_XML (report path),
# GREGOR_STRICT_SKIPS=1 (CI: a skip not listed in expected_skips.txt fails the run; -ra lists
# every skip in the summary either way).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python=/usr/bin/python3   # Debian's python sees the Debian client packages

if [[ -z "${KAFKA_BOOTSTRAP:-}" ]]; then
    bin="${GREGOR_BIN:-$repo/build/bin/gregor}"
    if [[ ! -x "$bin" ]]; then
        echo "run.sh: gregor binary not found at $bin (build first or set GREGOR_BIN)" >&2
        exit 1
    fi
    export GREGOR_BIN="$bin"
fi

# Java side: Kafka CLI classpath and the JUnit project's dependencies + surefire provider.
if command -v mvn >/dev/null && command -v java >/dev/null; then
    "$repo/tests/tools/kafka-classpath.sh" >/dev/null
    if ! mvn -B -q -o -f "$repo/tests/java/pom.xml" test -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false >/dev/null 2>&1; then
        mvn -B -q -f "$repo/tests/java/pom.xml" test -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false
    fi
else
    echo "run.sh: mvn/java missing; the java tests will fail" >&2
fi

if ! "$python" -c 'import pytest_timeout' 2>/dev/null; then
    echo "run.sh: python3-pytest-timeout is required (make setup installs it)" >&2
    exit 1
fi
timeout_args=(--timeout "${ITEST_TIMEOUT_S:-300}")

cd "$here"
set +e
# shellcheck disable=SC2086
"$python" -m pytest -ra "${timeout_args[@]}" --junitxml="${ITEST_JUNIT_XML:-$here/.report.xml}" ${PYTEST_ARGS:-} "$@" "$here"
code=$?
set -e
if [[ $code -eq 5 ]]; then
    echo "run.sh: pytest collected no tests" >&2
fi
exit $code
