"""Kafka Streams with processing.guarantee=exactly_once_v2 (issue #13): a word count
(tests/java WordCountApp, from the kafka-streams Maven artifact) runs as its own JVM, is SIGKILLed
twice while it processes and restarted, and its output's final count per word is exactly the
number of times the word occurs in the input: no update lost, none applied twice."""
from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

import clients
import harness

pytestmark = [pytest.mark.java, pytest.mark.timeout(600)]

JAVA_PROJECT = harness.REPO_ROOT / "tests" / "java"
VOCABULARY = [f"word{i}" for i in range(25)]
LINES = 3000
PARTITIONS = 3


def _classpath(tmp_path) -> str:
    if shutil.which("mvn") is None:
        pytest.fail("mvn not installed")
    out = tmp_path / "cp.txt"
    cmd = ["mvn", "-B", "-q", "-f", str(JAVA_PROJECT / "pom.xml"), "test-compile", "dependency:build-classpath",
           f"-Dmdep.outputFile={out}"]
    proc = subprocess.run(["mvn", "-o"] + cmd[1:], capture_output=True, text=True, timeout=280)
    if proc.returncode != 0:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return f"{JAVA_PROJECT / 'target' / 'test-classes'}:{out.read_text().strip()}"


def _line(i: int) -> str:
    return " ".join(VOCABULARY[(i * 7 + j * 3) % len(VOCABULARY)] for j in range(6))


class _app:
    def __init__(self, cp: str, bootstrap: str, app_id: str, src: str, dst: str, state_dir):
        self.cmd = ["java", "-Xmx384m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", cp,
                    "io.gregor.itest.WordCountApp", bootstrap, app_id, src, dst, str(state_dir)]
        self.proc: subprocess.Popen | None = None
        self.running = threading.Event()
        self.log: list[str] = []

    def start(self):
        self.running.clear()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def pump(proc):
            for line in proc.stdout:
                self.log.append(line.rstrip())
                if line.strip() == "RUNNING":
                    self.running.set()
        threading.Thread(target=pump, args=(self.proc,), daemon=True).start()
        harness.wait_until(lambda: self.running.is_set() or self.proc.poll() is not None, timeout_s=180,
                           what="the Streams application RUNNING")
        assert self.running.is_set(), "the Streams application exited:\n" + "\n".join(self.log[-60:])

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)


class _counts:
    """The latest committed count per word in the output topic (read_committed)."""

    def __init__(self, bootstrap: str, topic: str):
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "itest-streams-check",
                           "enable.auto.commit": False, "isolation.level": "read_committed", "log_level": 3})
        self.c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        self.latest: dict[str, int] = {}
        self.updates = 0

    def poll(self) -> dict[str, int]:
        for m in self.c.consume(2000, timeout=0.5):
            if m.error() is None:
                self.latest[m.key().decode()] = int(m.value().decode())
                self.updates += 1
        return self.latest

    def close(self):
        self.c.close()


def test_kafka_streams_exactly_once_word_count_is_exact_after_sigkills(bootstrap, tmp_path):
    cp = _classpath(tmp_path)
    src = harness.unique_topic("wc-in")
    dst = harness.unique_topic("wc-out")
    clients.create_topic(bootstrap, src, partitions=PARTITIONS)
    clients.create_topic(bootstrap, dst, partitions=PARTITIONS)
    expected = collections.Counter(w for i in range(LINES) for w in _line(i).split())
    half = LINES // 2
    clients.produce_all(bootstrap, src, [{"key": str(i).encode(), "value": _line(i).encode()} for i in range(half)])

    app_id = harness.unique_topic("wc-app")
    app = _app(cp, bootstrap, app_id, src, dst, tmp_path / "state")
    counts = _counts(bootstrap, dst)
    try:
        app.start()
        harness.wait_until(lambda: counts.poll() and counts.updates >= 500, timeout_s=180,
                           what="some counts committed")
        app.kill()
        print(f"\nSIGKILL after {counts.updates} committed updates")
        clients.produce_all(bootstrap, src, [{"key": str(i).encode(), "value": _line(i).encode()}
                                             for i in range(half, LINES)])
        app.start()
        seen = counts.updates
        harness.wait_until(lambda: counts.poll() is not None and counts.updates >= seen + 500, timeout_s=180,
                           what="more counts committed after the restart")
        app.kill()
        print(f"SIGKILL after {counts.updates} committed updates")
        app.start()

        def exact():
            latest = counts.poll()
            return latest == dict(expected)
        try:
            harness.wait_until(exact, timeout_s=240, interval_s=0, what="the exact final counts")
        except Exception:
            diff = {w: (counts.latest.get(w), n) for w, n in expected.items() if counts.latest.get(w) != n}
            raise AssertionError(f"counts (got, want) that differ: {diff}\n" + "\n".join(app.log[-40:]))
        # Settled, not passing through: the application committed its whole input, and the output
        # read up to its stable end still holds exactly the expected counts.
        group = Consumer({"bootstrap.servers": bootstrap, "group.id": app_id, "enable.auto.commit": False,
                          "log_level": 3})
        try:
            def all_consumed():
                got = group.committed([TopicPartition(src, p) for p in range(PARTITIONS)], timeout=10)
                return sum(max(tp.offset, 0) for tp in got) == LINES
            harness.wait_until(all_consumed, timeout_s=120, what="the whole input committed")
        finally:
            group.close()
        ends = {p: counts.c.get_watermark_offsets(TopicPartition(dst, p), timeout=10, cached=False)[1]
                for p in range(PARTITIONS)}

        def at_end():
            counts.poll()
            pos = counts.c.position([TopicPartition(dst, p) for p in range(PARTITIONS)])
            return all(tp.offset >= ends[tp.partition] for tp in pos)
        harness.wait_until(at_end, timeout_s=120, interval_s=0, what="the output read to its stable end")
        assert counts.latest == dict(expected)
    finally:
        app.kill()
        counts.close()
