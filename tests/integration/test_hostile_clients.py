"""Hostile clients at scale: thousands of idle connections, slow-loris senders, a frame claiming 2 GiB and
clients that never read their responses, each while a well-behaved confluent-kafka producer keeps
producing. Each case asserts the limit that protects the broker and prints a row: case, limit held,
reason the broker gave, the producer's p50/p99 produce latency during the case.

GREGOR_HOSTILE_CONNECTIONS sets the idle-connection count (default 2000; `make hostile` runs 10000).
The idle-connection and 2 GiB cases also run against Apache Kafka (KAFKA_BOOTSTRAP; the broker's RSS is
found through the process that listens on the port); the slow-loris and never-reading cases are
gregor_only, see their docstrings."""
from __future__ import annotations

import os
import resource
import select
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

import clients
import harness
import kafka_wire

IDLE_CONNECTIONS = int(os.environ.get("GREGOR_HOSTILE_CONNECTIONS", "2000"))
# Gregor's bound on the broker's resident memory per idle connection (Kafka's is printed, not asserted:
# a JVM's RSS follows its heap sizing and collections, not the connections; nor is an ASan build's).
IDLE_CONNECTION_RSS_BYTES_MAX = 8 * 1024

ROWS: list[tuple[str, str, str, str]] = []


def report(case: str, limit: str, reason: str, latency: str) -> None:
    ROWS.append((case, limit, reason, latency))
    print(f"\nHOSTILE | {case} | {limit} | {reason} | {latency}", flush=True)


@pytest.fixture(scope="module", autouse=True)
def _print_table():
    yield
    if ROWS:
        print("\n| case | limit held | error / reason | well-behaved producer p50 / p99 |")
        print("|---|---|---|---|")
        for row in ROWS:
            print("| " + " | ".join(row) + " |")


@pytest.fixture(scope="module", autouse=True)
def _many_file_descriptors():
    """This process holds one descriptor per connection: raise its soft limit to the hard one
    (brokers the suite starts inherit it; Gregor also raises its own at start, as the JVM does)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# ---- the broker's process and memory

def listening_pid(port: int) -> int:
    """The process listening on 127.0.0.1:port (for a broker the suite did not start)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return int(pid)
        except OSError:
            continue
    raise AssertionError(f"no process listens on port {port}")


def broker_pid(broker) -> int:
    if broker.is_gregor:
        return broker.proc.pid
    return listening_pid(int(broker.bootstrap.rsplit(":", 1)[1]))


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def sanitized(pid: int) -> bool:
    """True for a broker built with AddressSanitizer, whose redzones and quarantine make its RSS
    say nothing about the broker's own memory."""
    return "libasan" in Path(f"/proc/{pid}/maps").read_text()


def log_count(broker, text: str) -> int:
    return broker.stderr_path.read_text(errors="replace").count(text) if broker.is_gregor else 0


# ---- the well-behaved client

class steady_producer:
    """A confluent-kafka producer sending one small message every 10 ms from its own thread; each
    delivery's latency (produce() to delivery report) is kept with its completion time."""

    def __init__(self, bootstrap: str, topic: str):
        self.topic = topic
        self.producer = clients.producer(bootstrap, acks="1", linger_ms=0, message_timeout_ms=30000)
        self.done: list[tuple[float, float]] = []  # (completed at, latency s)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            sent = time.monotonic()

            def on_delivery(err, _msg, sent=sent):
                now = time.monotonic()
                if err is not None:
                    self.errors.append(str(err))
                else:
                    self.done.append((now, now - sent))

            self.producer.produce(self.topic, value=f"m{n}".encode(), on_delivery=on_delivery)
            n += 1
            # A message every 10 ms; poll() serves each delivery report as it arrives.
            next_at = sent + 0.01
            while not self._stop.is_set() and (left := next_at - time.monotonic()) > 0:
                self.producer.poll(left)
        self.producer.flush(30)

    def mark(self) -> float:
        return time.monotonic()

    def window(self, since: float) -> list[float]:
        return sorted(lat for at, lat in self.done if at >= since)

    def check_window(self, since: float, what: str) -> str:
        """Asserts the producer kept delivering since `since` without errors; its p50/p99 as text."""
        harness.wait_until(lambda: len(self.window(since)) >= 20, timeout_s=30,
                           what=f"the well-behaved producer to deliver 20 messages during {what}")
        assert not self.errors, f"well-behaved producer failed during {what}: {self.errors[:3]}"
        lat = self.window(since)
        p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return f"{p50 * 1000:.1f} / {p99 * 1000:.1f} ms ({len(lat)} msgs)"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(60)


@pytest.fixture
def well_behaved(request):
    made = []

    def make(bootstrap: str) -> steady_producer:
        topic = harness.unique_topic("hostile")
        clients.create_topic(bootstrap, topic)
        p = steady_producer(bootstrap, topic)
        made.append(p)
        # Cases measure the producer's steady state, not its start (metadata, first connection).
        harness.wait_until(lambda: len(p.done) >= 10, timeout_s=30, what="the producer's first deliveries")
        return p

    yield make
    for p in made:
        p.close()


# ---- the cases

def open_idle_connection(bootstrap: str, correlation_id: int) -> socket.socket:
    sock = kafka_wire.connect(bootstrap)
    sock.sendall(kafka_wire.api_versions_request(correlation_id, 0))
    body = kafka_wire.read_response(sock)
    assert body is not None, f"connection {correlation_id} closed before answering ApiVersions"
    assert struct.unpack_from(">i", body)[0] == correlation_id
    return sock


def test_idle_connections_cost_little_memory(broker, well_behaved):
    pid = broker_pid(broker)
    good = well_behaved(broker.bootstrap)
    # Warm up the broker's allocator and connection table before the baseline.
    for s in [open_idle_connection(broker.bootstrap, i) for i in range(200)]:
        s.close()
    since = good.mark()
    before = rss_bytes(pid)
    t0 = time.monotonic()
    socks = [open_idle_connection(broker.bootstrap, i) for i in range(IDLE_CONNECTIONS)]
    opened_s = time.monotonic() - t0
    after = rss_bytes(pid)
    per_connection = (after - before) / IDLE_CONNECTIONS
    try:
        latency = good.check_window(since, f"{IDLE_CONNECTIONS} idle connections")
        # The idle connections are still served.
        for i, s in enumerate(socks[:: max(1, IDLE_CONNECTIONS // 50)]):
            s.sendall(kafka_wire.api_versions_request(100000 + i, 0))
            body = kafka_wire.read_response(s)
            assert body is not None and struct.unpack_from(">i", body)[0] == 100000 + i
    finally:
        for s in socks:
            s.close()
    impl = "gregor" if broker.is_gregor else "kafka"
    asserted = broker.is_gregor and not sanitized(pid)
    report(f"{IDLE_CONNECTIONS} idle connections ({impl})",
           f"RSS +{(after - before) / 2**20:.1f} MiB = {per_connection / 1024:.2f} KiB per connection"
           + (f" (bound {IDLE_CONNECTION_RSS_BYTES_MAX // 1024} KiB)" if asserted else " (not asserted)"),
           f"none (all opened in {opened_s:.1f} s and answered)", latency)
    if asserted:
        assert per_connection <= IDLE_CONNECTION_RSS_BYTES_MAX, \
            f"{per_connection:.0f} bytes of RSS per idle connection"


def test_frame_claiming_2_gib_is_refused_before_allocating(broker, well_behaved):
    pid = broker_pid(broker)
    good = well_behaved(broker.bootstrap)
    since = good.mark()
    before = rss_bytes(pid)
    socks = []
    for _ in range(20):
        s = kafka_wire.connect(broker.bootstrap)
        s.sendall(struct.pack(">I", 0x7FFFFFFF) + b"\x00\x12\x00\x00" + b"\x00" * 64)
        socks.append(s)
    try:
        for s in socks:
            assert kafka_wire.wait_closed(s, timeout_s=10), "a 2 GiB frame size did not close the connection"
    finally:
        for s in socks:
            s.close()
    growth = rss_bytes(pid) - before
    latency = good.check_window(since, "2 GiB frame claims")
    reason = "connection closed"
    if broker.is_gregor:
        text = "frame size 2147483647 exceeds socket.request.max.bytes"
        harness.wait_until(lambda: log_count(broker, text) >= 20, timeout_s=10, what="the refusals in the log")
        reason = f"logged '{text} 104857600'"
    report("20 frames claiming 2 GiB", f"RSS +{growth / 2**20:.1f} MiB (nothing allocated)", reason, latency)
    assert growth < 32 * 2**20


@pytest.mark.gregor_only
def test_slow_loris_is_closed_by_the_partial_request_timeout(gregor_factory, well_behaved):
    """Gregor only: Kafka has no partial-request timeout (a byte a second keeps a Kafka connection
    active, so only connections.max.idle.ms of silence closes it); Gregor bounds a started request by
    socket.partial.request.timeout.ms."""
    timeout_ms = 2000
    broker = gregor_factory({"socket.partial.request.timeout.ms": str(timeout_ms)})
    good = well_behaved(broker.bootstrap)
    since = good.mark()
    frame = kafka_wire.api_versions_request(1, 0)
    count = 100
    socks = [kafka_wire.connect(broker.bootstrap) for _ in range(count)]
    first_byte_at: dict[int, float] = {}
    closed_after: dict[int, float] = {}
    sent = 0
    deadline = time.monotonic() + timeout_ms / 1000 + 20
    while len(closed_after) < count and time.monotonic() < deadline:
        tick = time.monotonic()
        for i, s in enumerate(socks):
            if i in closed_after or sent >= len(frame) - 1:
                continue
            try:
                s.send(frame[sent:sent + 1])
                first_byte_at.setdefault(i, tick)
            except OSError:
                closed_after[i] = time.monotonic() - first_byte_at[i]
        sent += 1
        # One byte a second per connection; meanwhile notice closes (EOF or reset).
        while time.monotonic() < tick + 1.0:
            poller = select.poll()
            by_fd = {s.fileno(): i for i, s in enumerate(socks) if i not in closed_after}
            for fd in by_fd:
                poller.register(fd, select.POLLIN)
            for fd, _ in poller.poll(max(0.0, tick + 1.0 - time.monotonic()) * 1000):
                i = by_fd[fd]
                s = socks[i]
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                assert data == b"", "the broker answered a frame that was never completed"
                closed_after[i] = time.monotonic() - first_byte_at[i]
    for s in socks:
        s.close()
    assert len(closed_after) == count, f"{count - len(closed_after)} slow-loris connections still open"
    assert min(closed_after.values()) >= timeout_ms / 1000 - 0.1
    text = f"frame not completed within {timeout_ms} ms (partial frame timeout)"
    harness.wait_until(lambda: log_count(broker, text) >= count, timeout_s=10, what="the closes in the log")
    latency = good.check_window(since, "slow-loris")
    report(f"{count} slow-loris clients (1 byte/s)",
           f"all closed {min(closed_after.values()):.1f}-{max(closed_after.values()):.1f} s after their first byte",
           f"logged '{text}'", latency)


def produce_bulk(bootstrap: str, topic: str, total_bytes: int) -> None:
    p = clients.producer(bootstrap, linger_ms=50, batch_size=1 << 20)
    value = b"x" * 4096
    for _ in range(total_bytes // len(value)):
        while True:
            try:
                p.produce(topic, value=value)
                break
            except BufferError:
                p.poll(0.1)
    assert p.flush(60) == 0


@pytest.mark.gregor_only
def test_clients_that_never_read_are_bounded_then_closed(gregor_factory, well_behaved):
    """Gregor only: the stall is closed by Gregor's write-stall rule (connections.max.idle.ms without
    write progress) and the memory bound is Gregor's (inflight_per_connection_max requests and
    unwritten_response_bytes_max of responses per connection); Kafka reads one request at a time per
    connection and closes such a connection as idle after the same connections.max.idle.ms."""
    stall_ms = 3000
    broker = gregor_factory({"connections.max.idle.ms": str(stall_ms)})
    pid = broker.proc.pid
    topic = harness.unique_topic("big")
    clients.create_topic(broker.bootstrap, topic)
    response_bytes = 1 << 20
    produce_bulk(broker.bootstrap, topic, response_bytes)
    good = well_behaved(broker.bootstrap)
    since = good.mark()
    before = rss_bytes(pid)
    count, requests = 3, 300
    stream = b"".join(
        kafka_wire.fetch_request_v11(i, {topic: {0: 0}}, partition_max_bytes=response_bytes) if i % 2 == 0
        else kafka_wire.metadata_request_v1(i) for i in range(requests))
    socks, sent = [], []  # sent: bytes of `stream` each socket took
    for _ in range(count):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", broker.port))
        s.setblocking(False)
        socks.append(s)
        sent.append(0)
    text = f"no write progress for {stall_ms} ms (client not reading responses)"
    peak = before
    deadline = time.monotonic() + 60
    # Push requests while the broker takes them (it stops reading when its bounds are reached); never
    # read; sample the broker's memory until the write-stall rule closed every connection.
    while log_count(broker, text) < count and time.monotonic() < deadline:
        for i, s in enumerate(socks):
            if sent[i] < len(stream):
                try:
                    sent[i] += s.send(stream[sent[i]:])
                except (BlockingIOError, OSError):
                    pass
        peak = max(peak, rss_bytes(pid))
        time.sleep(0.05)  # sampling period of the memory curve
    for s in socks:
        s.close()
    assert log_count(broker, text) >= count, "the write-stall rule did not close the never-reading clients"
    growth = peak - before
    # Per connection: inflight_per_connection_max (32) requests and their responses, of which
    # unwritten_response_bytes_max (16 MiB) stop further reading; everything sent would be 150 MiB each.
    bound = count * (32 * response_bytes + (16 << 20))
    latency = good.check_window(since, "never-reading clients")
    if sanitized(pid):
        bound *= 2  # ASan's redzones and quarantine of freed responses
    asked = count * (requests // 2) * response_bytes
    report(f"{count} clients never reading ({requests} Fetch+Metadata each, ~1 MiB Fetch responses)",
           f"peak RSS +{growth / 2**20:.0f} MiB (bound {bound / 2**20:.0f} MiB; "
           f"the responses asked for: {asked / 2**20:.0f} MiB)",
           f"closed, logged '{text}'", latency)
    assert growth <= bound
