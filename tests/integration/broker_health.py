"""Whether the brokers a test started stayed healthy: the check that makes every integration test fail
when a broker it ran crashed, exited non-zero, died of a signal the test did not send, or printed a
sanitizer report (ASan, UBSan, LSan) into its log, at any time, shutdown included.

Owned here: `watch` (one per broker process: harness.gregor_process and cluster_harness.node each
hold one), the registry of watches, and `check()`. The harnesses tell their watch what they do to
the process: `started(popen)` on each launch, `sending(sig)` before every signal they send (so a
SIGKILL or SIGSTOP a test asked for is not a failure), `reaped(code)` when they collect the exit,
`stop_timed_out(s)` when SIGTERM was ignored. The conftest's autouse fixtures call `check()` after
every test and at the end of every module (after the module's brokers stopped), which raises
`broker_failure` listing every problem found since the previous check. A process the harness
forgot about (a test that sent SIGTERM itself) is still polled through the watch's own reference.

Invariants: each problem is reported once (the log is scanned from where the previous check
stopped; an exit is judged once); exit code 0 is always clean; a negative code (death by signal)
is clean only if the harness sent that signal since the launch; `clean_codes` adds codes an
implementation uses for a clean SIGTERM (a JVM exits 143).
"""
from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

# What the sanitizers print first: ASan/LSan "==PID==ERROR: AddressSanitizer: ..." /
# "ERROR: LeakSanitizer: detected memory leaks", UBSan "file.cc:12:5: runtime error: ...",
# TSan "WARNING: ThreadSanitizer:".
SANITIZER_PATTERN = re.compile(
    rb"ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer|"
    rb"ERROR: MemorySanitizer|[^\s:]+:\d+:\d+: runtime error: |^\s*runtime error: ",
    re.MULTILINE)
REPORT_LINES = 12  # lines of a report quoted in the failure


class broker_failure(AssertionError):
    """A broker the test ran was unhealthy (exit, signal or sanitizer report)."""


def signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def describe_exit(code: int) -> str:
    return f"killed by {signal_name(-code)}" if code < 0 else f"exited with {code}"


def sanitizer_reports(data: bytes, max_lines: int = REPORT_LINES) -> list[str]:
    """The sanitizer reports in data: for each, its first max_lines lines."""
    reports = []
    for m in SANITIZER_PATTERN.finditer(data):
        start = data.rfind(b"\n", 0, m.start()) + 1
        lines = data[start:].split(b"\n")[:max_lines]
        reports.append(b"\n".join(lines).decode(errors="replace"))
    return reports


_registry: list["watch"] = []


class watch:
    """Health of one broker process (relaunched any number of times) writing to log_path."""

    def __init__(self, name: str, log_path: Path, clean_codes: tuple[int, ...] = (0,),
                 strict_stop: bool = True):
        self.name = name
        self.log_path = Path(log_path)
        self.clean_codes = clean_codes
        self.strict_stop = strict_stop   # a SIGTERM ignored until the stop timeout is a problem
        self.popen: subprocess.Popen | None = None
        self.sent: set[int] = set()
        self.judged = True               # the current popen's exit was judged (or none yet)
        self.scan_pos = 0                # log bytes already scanned for sanitizer reports
        self.pending: list[str] = []     # problems not yet reported by check()

    # ---- called by the harness
    def started(self, popen: subprocess.Popen) -> None:
        """A new launch. The previous process, if the harness never reaped it, is judged first."""
        self.poll()
        self.popen = popen
        self.sent = set()
        self.judged = False
        if self not in _registry:
            _registry.append(self)

    def sending(self, sig: int) -> None:
        self.sent.add(int(sig))

    def reaped(self, code: int | None) -> None:
        if self.popen is None or self.judged or code is None:
            return
        self.judged = True
        if code in self.clean_codes or code == 0:
            return
        if code < 0 and -code in self.sent:
            return
        how = describe_exit(code)
        if code < 0:
            sent = ", ".join(sorted(signal_name(s) for s in self.sent)) or "none"
            how += f" (signals the test sent: {sent})"
        self.pending.append(f"{self.name} (pid {self.popen.pid}) {how}")

    def stop_timed_out(self, seconds: float) -> None:
        if self.strict_stop:
            self.pending.append(f"{self.name} (pid {self.popen.pid if self.popen else '?'}) "
                                f"ignored SIGTERM for {seconds:g}s and was SIGKILLed")

    # ---- called by check()
    def poll(self) -> None:
        """Judges the exit of a process that ended without the harness reaping it."""
        if self.popen is not None and not self.judged:
            code = self.popen.poll()
            if code is not None:
                self.reaped(code)

    def scan(self) -> None:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.scan_pos)
                data = f.read()
        except OSError:
            return
        # Scan only whole lines; a report still being written is read by the next check.
        end = data.rfind(b"\n") + 1
        if self.popen is not None and self.popen.poll() is not None:
            end = len(data)
        for report in sanitizer_reports(data[:end]):
            self.pending.append(f"{self.name} printed a sanitizer report ({self.log_path}):\n{report}")
        self.scan_pos += end

    def take_problems(self) -> list[str]:
        self.poll()
        self.scan()
        problems, self.pending = self.pending, []
        return problems

    def finished(self) -> bool:
        return self.popen is None or (self.judged and self.popen.poll() is not None)


def check(what: str = "") -> None:
    """Raises broker_failure naming every problem of every watched broker since the last check.
    Watches of processes that have ended (and were scanned) leave the registry."""
    problems = []
    for w in list(_registry):
        problems += w.take_problems()
        if w.finished():
            _registry.remove(w)
    if problems:
        raise broker_failure(f"unhealthy broker{' ' + what if what else ''}:\n" + "\n".join(problems))


def check_output(name: str, text: str) -> None:
    """For a short-lived gregor command whose output the caller captured (run_gregor_once)."""
    reports = sanitizer_reports(text.encode())
    if reports:
        raise broker_failure(f"{name} printed a sanitizer report:\n" + "\n".join(reports))
