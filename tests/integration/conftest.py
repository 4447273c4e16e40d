"""Fixtures for the integration suite: one broker per test module (Gregor started by the suite, or an
external broker named by KAFKA_BOOTSTRAP), a factory of Gregor processes for restart tests, and the
plumbing that prints the broker's stderr when a test fails.

Also the suite's rules, which no test can opt out of:
- every broker a test ran is checked after the test and after its module (broker_health): an exit
  that is not clean, a signal the harness did not send, a sanitizer report in its log fail the test;
- pytest-timeout is required (pytest.ini sets the default per-test timeout);
- with GREGOR_STRICT_SKIPS=1 (CI) a skip not listed in expected_skips.txt fails the run."""
from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import broker_health  # noqa: E402
import harness  # noqa: E402

HERE = Path(__file__).resolve().parent
EXPECTED_SKIPS = HERE / "expected_skips.txt"
STRICT_SKIPS_ENV = "GREGOR_STRICT_SKIPS"


def pytest_configure(config):
    if not config.pluginmanager.hasplugin("timeout"):
        raise pytest.UsageError("the integration suite needs pytest-timeout (Debian: python3-pytest-timeout; "
                                "`make setup` installs it): a hung broker must fail a test, not the CI job")


@pytest.fixture(autouse=True)
def _brokers_stay_healthy():
    """After every test: each broker it ran exited cleanly (or by a signal the harness sent) and
    printed no sanitizer report (broker_health.check raises broker_failure otherwise)."""
    yield
    broker_health.check("during the test")


@pytest.fixture(autouse=True, scope="module")
def _brokers_stay_healthy_to_the_end():
    """After each module's own brokers stopped (module fixtures are torn down before this one):
    the same check, covering shutdown (LeakSanitizer reports at exit, a non-zero exit on SIGTERM)."""
    yield
    broker_health.check("at the end of the module (shutdown included)")


def load_expected_skips(path: Path = EXPECTED_SKIPS) -> list[tuple[str, str]]:
    """(pattern, justification) pairs. A line is `PATTERN :: justification`; PATTERN is an fnmatch
    pattern on the test's node id, or `reason:` + an fnmatch pattern on the skip reason."""
    entries = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pattern, sep, why = line.partition("::")
        if not sep or not why.strip():
            raise pytest.UsageError(f"{path}: every line needs 'PATTERN :: justification': {raw!r}")
        entries.append((pattern.strip(), why.strip()))
    return entries


def skip_is_expected(nodeid: str, reason: str, entries: list[tuple[str, str]]) -> bool:
    for pattern, _ in entries:
        if pattern.startswith("reason:"):
            if fnmatch.fnmatchcase(reason, pattern[len("reason:"):].strip()):
                return True
        elif fnmatch.fnmatchcase(nodeid, pattern):
            return True
    return False


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


_skips_seen: list[tuple[str, str]] = []  # (node id, reason) of every skipped test of the run


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skips_seen.append((report.nodeid, _skip_reason(report)))


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get(STRICT_SKIPS_ENV) != "1" or not _skips_seen:
        return
    entries = load_expected_skips()
    unexpected = [(n, r) for n, r in _skips_seen if not skip_is_expected(n, r, entries)]
    session.config._gregor_unexpected_skips = unexpected
    if unexpected and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    unexpected = getattr(config, "_gregor_unexpected_skips", [])
    if unexpected:
        terminalreporter.section("unexpected skips (not in expected_skips.txt)", red=True)
        for nodeid, reason in unexpected:
            terminalreporter.line(f"{nodeid}: {reason}")
        terminalreporter.line(f"{len(unexpected)} unexpected skip(s): list each in {EXPECTED_SKIPS} with "
                              f"its justification, or make the test run")


@pytest.fixture(scope="session")
def kafka_classpath() -> str:
    """Apache Kafka's CLI/tool classpath, resolved once per run."""
    return harness.kafka_classpath()


def pytest_collection_modifyitems(config, items):
    # GREGOR_CLUSTER_TESTS: unset = the short cluster tests (seconds each) run, the long fault runs
    # (marker cluster_long) do not; 1 = all of them (make cluster-test); 0 = none.
    mode = os.environ.get("GREGOR_CLUSTER_TESTS", "")
    if mode != "1":
        reason = ("cluster: multi-node tests are off (GREGOR_CLUSTER_TESTS=0)" if mode == "0" else
                  "cluster_long: long fault runs only with GREGOR_CLUSTER_TESTS=1 (make cluster-test)")
        skip_cluster = pytest.mark.skip(reason=reason)
        for item in items:
            long_run = item.get_closest_marker("cluster_long") is not None
            if (mode == "0" and item.get_closest_marker("cluster") is not None) or long_run:
                item.add_marker(skip_cluster)
    if harness.external_bootstrap():
        skip = pytest.mark.skip(reason="gregor_only: KAFKA_BOOTSTRAP points at an external broker")
        for item in items:
            if "gregor_only" in item.keywords:
                item.add_marker(skip)


def pytest_report_header(config):
    mode = os.environ.get("GREGOR_CLUSTER_TESTS", "")
    if mode == "0":
        config_line = "cluster tests: off (GREGOR_CLUSTER_TESTS=0)"
    else:
        import cluster_harness
        config_line = (f"cluster tests: {'all' if mode == '1' else 'short ones (GREGOR_CLUSTER_TESTS=1: all)'}, "
                       f"implementation {cluster_harness.impl_name()}")
    return [config_line, _broker_header()]


def _broker_header() -> str:
    ext = harness.external_bootstrap()
    if ext:
        return f"broker under test: external KAFKA_BOOTSTRAP={ext}"
    return f"broker under test: gregor at {harness.gregor_binary()}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for broker in _brokers_for(item):
            text = broker.stderr_tail()
            if text:
                report.sections.append((f"gregor stderr ({broker.stderr_path})", text))


def _brokers_for(item) -> list:
    found = []
    for name in ("broker", "gregor_factory", "cluster", "cluster_factory"):
        value = item.funcargs.get(name) if hasattr(item, "funcargs") else None
        if value is None:
            continue
        if isinstance(value, (harness.gregor_process, harness.external_broker)):
            found.append(value)
        elif hasattr(value, "processes"):
            found.extend(value.processes)
    return found


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """The broker every client test in a module talks to; `.bootstrap` is host:port."""
    ext = harness.external_bootstrap()
    if ext:
        yield harness.external_broker(ext)
        return
    proc = harness.gregor_process(tmp_path_factory.mktemp("gregor"))
    try:
        proc.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield proc
    proc.stop()  # its exit code is judged by _brokers_stay_healthy_to_the_end


@pytest.fixture
def bootstrap(broker) -> str:
    return broker.bootstrap


class _gregor_factory:
    """Creates Gregor processes for one test and stops every one of them afterwards."""

    def __init__(self, base: Path):
        self.base = base
        self.processes: list[harness.gregor_process] = []

    def __call__(self, extra_sets: dict[str, str] | None = None, start: bool = True):
        proc = harness.gregor_process(self.base / f"g{len(self.processes)}", extra_sets=extra_sets)
        self.processes.append(proc)
        if start:
            proc.start()
        return proc

    def close(self):
        for proc in self.processes:
            proc.stop()


@pytest.fixture
def gregor_factory(tmp_path):
    if harness.external_bootstrap():
        pytest.skip("needs a Gregor process the suite controls")
    factory = _gregor_factory(tmp_path)
    yield factory
    factory.close()


@pytest.fixture
def topic_name():
    return harness.unique_topic()


# ---- multi-node clusters (cluster_harness.py; tests marked `cluster`)

@pytest.fixture(scope="module")
def cluster_module(tmp_path_factory):
    """A 3-node combined-mode cluster shared by one test module (Gregor or Kafka, see
    GREGOR_CLUSTER_IMPL); stopped, namespaces removed, at the end of the module."""
    import cluster_harness
    yield from cluster_harness.module_cluster(tmp_path_factory.mktemp("cluster"))


@pytest.fixture
def cluster(cluster_module):
    """The module's cluster, healed, every node running, serving, before each test."""
    cluster_module.mark_logs()
    cluster_module.restore()
    return cluster_module


@pytest.fixture
def cluster_factory(tmp_path):
    """Makes clusters of any shape for one test (`cluster_factory(layout="split", nodes=2)`)."""
    import cluster_harness
    factory = cluster_harness.cluster_factory(tmp_path)
    yield factory
    factory.close()
