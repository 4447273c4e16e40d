"""Process control and small helpers shared by the integration tests.

`gregor_process` owns one `gregor serve` child: its port, log dir and stderr file survive restarts,
so tests can stop (SIGTERM) or kill (SIGKILL) it and start it again on the same data. The conftest
fixtures create these; tests only call start/stop/kill/restart. `external_broker` stands in when
KAFKA_BOOTSTRAP points the suite at a broker it does not control.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import broker_health
import kafka_wire

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / "tests" / "tools"

# Fast groups: no initial rebalance delay, short sessions, few offsets partitions.
FAST_GROUP_SETS = {
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
    "offsets.topic.num.partitions": "5",
}


def kafka_classpath() -> str:
    """Apache Kafka's tool classpath from Maven (tests/tools/kafka-classpath.sh, cached in ~/.m2)."""
    proc = subprocess.run([str(TOOLS_DIR / "kafka-classpath.sh")], capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def java_tool_cmd(classpath: str, main_class: str, *args: str) -> list[str]:
    """A Kafka CLI tool (its main class) in a small, quiet client JVM."""
    return ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
            f"-Dlog4j.configuration=file:{TOOLS_DIR / 'log4j.properties'}",
            f"-Dlog4j2.configurationFile={TOOLS_DIR / 'log4j2.properties'}",
            "-cp", classpath, main_class, *args]


def run_java_tool(classpath: str, main_class: str, *args: str, stdin: str | None = None,
                  timeout_s: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(java_tool_cmd(classpath, main_class, *args), input=stdin, capture_output=True,
                          text=True, timeout=timeout_s)


def ok(proc: subprocess.CompletedProcess) -> str:
    """The tool's stdout, after asserting it exited 0 (the assertion shows both streams)."""
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout
DEFAULT_READY_TIMEOUT_S = 30.0
DEFAULT_STOP_TIMEOUT_S = 15.0


def unique_topic(prefix: str = "t") -> str:
    return f"itest-{prefix}-{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gregor_binary() -> Path:
    return Path(os.environ.get("GREGOR_BIN", REPO_ROOT / "build" / "bin" / "gregor"))


def external_bootstrap() -> str | None:
    return os.environ.get("KAFKA_BOOTSTRAP") or None


def rss_bytes(pid: int) -> int:
    """A process's resident memory (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def sanitized(pid: int) -> bool:
    """True for a process built with AddressSanitizer, whose redzones and quarantine make its RSS
    say nothing about the program's own memory."""
    return "libasan" in Path(f"/proc/{pid}/maps").read_text()


def tail(path: Path, max_bytes: int = 20000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-max_bytes:].decode(errors="replace")


class external_broker:
    """A broker the suite does not start or stop (KAFKA_BOOTSTRAP)."""

    is_gregor = False

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.stderr_path: Path | None = None

    def stderr_tail(self) -> str:
        return ""


class gregor_process:
    """One `gregor serve` process bound to 127.0.0.1:port with log.dirs=log_dir."""

    is_gregor = True

    def __init__(self, work_dir: Path, extra_sets: dict[str, str] | None = None,
                 port: int | None = None, binary: Path | None = None):
        self.work_dir = Path(work_dir)
        self.log_dir = self.work_dir / "data"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = self.work_dir / "gregor.stderr"
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.http_port = free_port()  # HTTP admin listener (/metrics, /health)
        self.binary = Path(binary or gregor_binary())
        self.extra_sets = dict(extra_sets or {})
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        # Exit codes, signals and sanitizer reports, checked after every test (broker_health).
        self.health = broker_health.watch(f"gregor {self.bootstrap}", self.stderr_path)

    def command(self) -> list[str]:
        sets = {
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "log.dirs": str(self.log_dir),
            "node.id": "1",
            "http.listeners": f"http://127.0.0.1:{self.http_port}",
        }
        # GREGOR_TEST_SETS="name=value ..." applies to every broker of the run (e.g. the whole
        # suite on O_DIRECT segments: GREGOR_TEST_SETS=log.direct.io=true); a test's own sets win.
        for item in os.environ.get("GREGOR_TEST_SETS", "").split():
            name, _, value = item.partition("=")
            sets[name] = value
        sets.update(self.extra_sets)
        cmd = [str(self.binary), "serve"]
        for name, value in sets.items():
            cmd += ["--set", f"{name}={value}"]
        return cmd

    def start(self, ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S) -> "gregor_process":
        if not self.binary.exists():
            raise RuntimeError(f"gregor binary not found at {self.binary} (build it or set GREGOR_BIN)")
        self.starts += 1
        with open(self.stderr_path, "ab") as err:
            err.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
            err.flush()
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=err,
                                         stderr=err, cwd=self.work_dir, start_new_session=True)
        self.health.started(self.proc)
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                self.health.reaped(code)
                raise RuntimeError(f"gregor exited with {code} during start; stderr:\n{self.stderr_tail()}")
            if kafka_wire.broker_answers(self.bootstrap, timeout_s=2.0):
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"gregor did not answer ApiVersions+Metadata on {self.bootstrap} within "
                           f"{ready_timeout_s}s; stderr:\n{self.stderr_tail()}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, wait, then SIGKILL. Returns the exit code (None if it was not running)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.health.sending(signal.SIGTERM)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.health.stop_timed_out(timeout_s)
                self.kill()
                return -signal.SIGKILL
        code = self.proc.returncode
        self.health.reaped(code)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL to the whole process group (the broker and anything it started)."""
        if self.proc is not None:
            self.health.sending(signal.SIGKILL)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.health.reaped(self.proc.wait())
        self.proc = None

    def restart(self) -> "gregor_process":
        self.stop()
        return self.start()

    def kill_and_restart(self) -> "gregor_process":
        self.kill()
        return self.start()

    def stderr_tail(self) -> str:
        return tail(self.stderr_path)


def run_gregor_once(args: list[str], timeout_s: float = 20.0) -> subprocess.CompletedProcess:
    """Runs the gregor binary with args to completion (for config error checks); fails the test
    when it printed a sanitizer report or died of a signal (a non-zero exit is the caller's to judge)."""
    proc = subprocess.run([str(gregor_binary())] + args, capture_output=True, text=True,
                          timeout=timeout_s, stdin=subprocess.DEVNULL)
    broker_health.check_output(f"gregor {' '.join(args)}", proc.stdout + proc.stderr)
    if proc.returncode < 0:
        raise broker_health.broker_failure(f"gregor {' '.join(args)} {broker_health.describe_exit(proc.returncode)}")
    return proc


def wait_until(predicate, timeout_s: float = 15.0, interval_s: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        time.sleep(interval_s)
    raise AssertionError(f"timed out waiting for {what}" + (f": {last_error!r}" if last_error else ""))


def wait_older_than(acked_at: float, ms: float, what: str = "time-based rule") -> None:
    """Waits until more than ms have passed on this host's clock since acked_at (time.time() taken
    when the broker acknowledged an append). For the broker's time-based rules (segment.ms counts
    from a segment's first append, on the broker's clock, the same clock as ours): the append
    happened before its acknowledgement, so once this returns the rule holds on the broker too.
    The caller then checks the rule's effect (e.g. with segment_bases), which makes the wait honest."""
    wait_until(lambda: (time.time() - acked_at) * 1000 > ms, timeout_s=max(15.0, ms / 1000 * 3),
               interval_s=min(0.05, ms / 4000), what=f"{what}: {ms}ms after the append")


def segment_bases(log_dir: Path, topic: str, partition: int = 0) -> list[int]:
    """Base offsets of the partition's segments (its *.log files), ascending."""
    return sorted(int(f.stem) for f in (Path(log_dir) / f"{topic}-{partition}").glob("*.log"))


def build_go_program(name: str, out_dir: Path) -> Path:
    """Builds tests/go/<name> (a franz-go program) into out_dir; skips the test without Go."""
    import shutil
    import pytest
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if go is None:
        pytest.skip("Go toolchain not installed")
    binary = Path(out_dir) / name
    build = subprocess.run([go, "build", "-o", str(binary), "."], cwd=REPO_ROOT / "tests" / "go" / name,
                           capture_output=True, text=True, timeout=240)
    assert build.returncode == 0, f"go build of {name} failed:\n{build.stderr}"
    return binary


def build_franz_idempotence(out_dir: Path) -> Path:
    """Builds tests/go/franz_idempotence (franz-go) into out_dir; skips the test without Go."""
    return build_go_program("franz_idempotence", out_dir)
