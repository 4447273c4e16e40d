"""The suite's own checks can fail: a fake `gregor` (a shell script started through
harness.gregor_process, readiness probe stubbed) that prints a sanitizer report, exits non-zero or
dies of a signal makes broker_health.check() raise; a SIGKILL or SIGSTOP the harness sent does not.
Also the expected-skips matching, and the wiring: probe modules run in a pytest of their own with the
suite's hooks and autouse checks (a module broker's leak report at shutdown; an unlisted skip in a
strict run). No broker, no client: a few seconds."""
from __future__ import annotations

import signal
import subprocess
import textwrap

import pytest

import broker_health
import conftest
import harness

ASAN_REPORT = textwrap.dedent("""\
    =================================================================
    ==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010 at pc 0x55 bp 0x7f sp 0x7e
    READ of size 8 at 0x602000000010 thread T0
        #0 0x55d1 in gregor::server::listener::on_close src/server/listener.cc:88""")
UBSAN_REPORT = "src/storage/index.cc:120:31: runtime error: signed integer overflow: 2147483647 + 1"
LSAN_REPORT = textwrap.dedent("""\
    =================================================================
    ==4242==ERROR: LeakSanitizer: detected memory leaks
    Direct leak of 64 byte(s) in 1 object(s) allocated from:""")


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """fake(on_start=..., on_term=..., term_code=0) -> a started gregor_process running a script that
    prints on_start, then on SIGTERM prints on_term and exits term_code."""
    monkeypatch.setattr(broker_health, "_registry", [])  # this test's watches only
    made = []
    # "Answers" once the script (this launch of it) has set its trap and printed FAKE-READY.
    monkeypatch.setattr(harness.kafka_wire, "broker_answers",
                        lambda bootstrap, **k: any(g.bootstrap == bootstrap and g.stderr_tail().count("FAKE-READY") >= g.starts
                                                   for g in made))

    def make(on_start: str = "fake gregor up", on_term: str = "fake gregor stopping", term_code: int = 0,
             then: str = "", ignore_term: bool = False):
        script = tmp_path / f"fake-gregor-{len(made)}"
        leave = "true" if ignore_term else f"exit {term_code}"
        script.write_text(f"#!/bin/bash\n"
                          f"trap 'cat <<\"EOT\"\n{on_term}\nEOT\n{leave}' TERM\n"
                          f"cat <<'EOS'\n{on_start}\nEOS\n"
                          f"echo FAKE-READY\n{then}\n"
                          f"while true; do sleep 0.05 & wait $!; done\n")
        script.chmod(0o755)
        g = harness.gregor_process(tmp_path / f"g{len(made)}", binary=script)
        made.append(g)
        g.start()
        return g

    yield make
    for g in made:
        g.kill()


def test_a_clean_start_and_sigterm_passes(fake):
    g = fake()
    assert g.stop() == 0
    broker_health.check()


def test_an_asan_report_fails_even_when_the_exit_is_clean(fake):
    g = fake(on_start=ASAN_REPORT)
    with pytest.raises(broker_health.broker_failure, match=r"(?s)sanitizer report.*AddressSanitizer: heap-use-after-free"):
        broker_health.check()
    assert g.stop() == 0
    broker_health.check()  # reported once, not again


def test_a_ubsan_runtime_error_fails(fake):
    g = fake(on_start=UBSAN_REPORT)
    g.stop()
    with pytest.raises(broker_health.broker_failure, match="runtime error: signed integer overflow"):
        broker_health.check()


def test_a_leak_report_and_non_zero_exit_at_shutdown_fail(fake):
    g = fake(on_term=LSAN_REPORT, term_code=23)
    broker_health.check()  # healthy while running
    assert g.stop() == 23
    with pytest.raises(broker_health.broker_failure) as info:
        broker_health.check()
    assert "exited with 23" in str(info.value)
    assert "ERROR: LeakSanitizer: detected memory leaks" in str(info.value)


def test_a_signal_the_test_did_not_send_fails(fake):
    g = fake(then="(sleep 0.3; kill -SEGV $$) &")
    harness.wait_until(lambda: g.proc.poll() is not None, timeout_s=10, what="the fake's crash")
    with pytest.raises(broker_health.broker_failure, match=r"killed by SIGSEGV \(signals the test sent: none\)"):
        broker_health.check()


def test_a_crash_the_harness_never_reaped_still_fails(fake):
    g = fake(then="(sleep 0.3; kill -ABRT $$) &")
    harness.wait_until(lambda: g.proc.poll() is not None, timeout_s=10, what="the fake's crash")
    g.proc = None  # as if the test lost track of it; the watch still holds the process
    with pytest.raises(broker_health.broker_failure, match="killed by SIGABRT"):
        broker_health.check()


def test_a_sigkill_the_harness_sent_passes(fake):
    g = fake()
    g.kill()
    g.start()
    g.kill_and_restart()
    assert g.stop() == 0
    broker_health.check()


def test_a_sigterm_that_is_ignored_fails(fake):
    g = fake(on_term="ignoring SIGTERM", ignore_term=True)
    assert g.stop(timeout_s=1) == -signal.SIGKILL
    with pytest.raises(broker_health.broker_failure, match="ignored SIGTERM for 1s"):
        broker_health.check()


def test_a_sigstop_and_sigkill_sent_through_the_watch_pass(tmp_path, monkeypatch):
    """The cluster harness's path: pause_node/kill_node tell the watch before signalling."""
    monkeypatch.setattr(broker_health, "_registry", [])
    log = tmp_path / "node.log"
    with open(log, "wb") as out:
        p = subprocess.Popen(["sleep", "30"], stdout=out, stderr=out, start_new_session=True)
    w = broker_health.watch("node 1", log)
    w.started(p)
    w.sending(signal.SIGSTOP)
    p.send_signal(signal.SIGSTOP)
    w.sending(signal.SIGKILL)
    p.kill()
    w.reaped(p.wait())
    broker_health.check()
    # The same death without the harness having sent it fails.
    with open(log, "ab") as out:
        p = subprocess.Popen(["sleep", "30"], stdout=out, stderr=out, start_new_session=True)
    w.started(p)
    p.kill()
    p.wait()
    with pytest.raises(broker_health.broker_failure, match="node 1 .* killed by SIGKILL"):
        broker_health.check()


def test_a_jvm_sigterm_exit_143_is_clean_only_where_declared(tmp_path, monkeypatch):
    monkeypatch.setattr(broker_health, "_registry", [])
    for clean, fails in (((0, 143), False), ((0,), True)):
        p = subprocess.Popen(["sh", "-c", "exit 143"])
        w = broker_health.watch("kafka node 1", tmp_path / "absent.log", clean_codes=clean)
        w.started(p)
        w.reaped(p.wait())
        if fails:
            with pytest.raises(broker_health.broker_failure, match="exited with 143"):
                broker_health.check()
        else:
            broker_health.check()


def test_run_gregor_once_fails_on_a_sanitizer_report(tmp_path, monkeypatch):
    script = tmp_path / "fake-cli"
    script.write_text(f"#!/bin/bash\ncat >&2 <<'EOS'\n{UBSAN_REPORT}\nEOS\nexit 2\n")
    script.chmod(0o755)
    monkeypatch.setenv("GREGOR_BIN", str(script))
    with pytest.raises(broker_health.broker_failure, match="runtime error"):
        harness.run_gregor_once(["serve", "--set", "bad=1"])


def test_ordinary_log_lines_are_not_reports():
    text = (b"[info] runtime error budget: 0\n"
            b"[warn] client sent an ERROR: nothing\n"
            b"AddressSanitizer is not on\n")
    assert broker_health.sanitizer_reports(text) == []
    assert len(broker_health.sanitizer_reports((ASAN_REPORT + "\n" + UBSAN_REPORT).encode())) == 2


def test_expected_skips_match_by_node_id_or_reason():
    entries = [("test_a.py::test_x*", "why"), ("reason:cluster_long:*", "why")]
    assert conftest.skip_is_expected("test_a.py::test_x[1]", "anything", entries)
    assert conftest.skip_is_expected("test_b.py::t", "cluster_long: long fault runs only", entries)
    assert not conftest.skip_is_expected("test_b.py::t", "Go toolchain not installed", entries)
    # The shipped list parses, and each entry is justified.
    shipped = conftest.load_expected_skips()
    assert shipped and all(why for _, why in shipped)


# ---- the wiring: the conftest's fixtures and hooks, run on probe modules in a pytest of their own

SUITE_DIR = harness.REPO_ROOT / "tests" / "integration"
PROBE_CONFTEST = f"""
import importlib.util, sys
sys.path.insert(0, {str(SUITE_DIR)!r})
spec = importlib.util.spec_from_file_location("suite_conftest", {str(SUITE_DIR / "conftest.py")!r})
suite = importlib.util.module_from_spec(spec)
spec.loader.exec_module(suite)
# The suite's hooks and its autouse health checks (this probe brings its own broker fixture).
globals().update({{k: v for k, v in vars(suite).items() if k.startswith(("pytest_", "_brokers_stay"))}})
"""

PROBE_MODULE = """
import pytest, harness

@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    # A module's own broker that prints a leak report and exits 23 on SIGTERM (as LeakSanitizer does).
    d = tmp_path_factory.mktemp("fake")
    script = d / "fake-gregor"
    script.write_text("#!/bin/bash\\n"
                      "trap 'echo ==1==ERROR: LeakSanitizer: detected memory leaks; exit 23' TERM\\n"
                      "echo FAKE-READY\\n"
                      "while true; do sleep 0.05 & wait $!; done\\n")
    script.chmod(0o755)
    g = harness.gregor_process(d / "g", binary=script)
    real = harness.kafka_wire.broker_answers
    harness.kafka_wire.broker_answers = lambda *a, **k: "FAKE-READY" in g.stderr_tail()
    try:
        g.start()
    finally:
        harness.kafka_wire.broker_answers = real
    yield g
    g.stop()


def test_passes_while_its_broker_runs(broker):
    assert broker.running()
"""


def _run_probe(tmp_path, module: str, **env) -> subprocess.CompletedProcess:
    import os
    import sys
    (tmp_path / "conftest.py").write_text(PROBE_CONFTEST)
    (tmp_path / "test_probe.py").write_text(module)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), str(tmp_path / "test_probe.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_a_module_brokers_leak_report_at_shutdown_fails_the_run(tmp_path):
    run = _run_probe(tmp_path, PROBE_MODULE)
    assert run.returncode == 1, run.stdout
    assert "1 passed, 1 error" in run.stdout, run.stdout
    assert "ERROR at teardown of test_passes_while_its_broker_runs" in run.stdout, run.stdout
    assert "exited with 23" in run.stdout and "ERROR: LeakSanitizer" in run.stdout, run.stdout


def test_an_unlisted_skip_fails_a_strict_run_and_a_listed_one_does_not(tmp_path):
    module = ("import pytest\n"
              "def test_skipped():\n    pytest.skip('nobody listed this')\n"
              "@pytest.mark.skip(reason='cluster_long: listed in expected_skips.txt')\n"
              "def test_listed():\n    pass\n")
    strict = _run_probe(tmp_path, module, GREGOR_STRICT_SKIPS="1")
    assert strict.returncode == 1, strict.stdout
    assert "test_probe.py::test_skipped: nobody listed this" in strict.stdout, strict.stdout
    assert "1 unexpected skip(s)" in strict.stdout, strict.stdout
    lenient = _run_probe(tmp_path, module, GREGOR_STRICT_SKIPS="0")
    assert lenient.returncode == 0, lenient.stdout
    assert "SKIPPED [1] test_probe.py:3: nobody listed this" in lenient.stdout, lenient.stdout
