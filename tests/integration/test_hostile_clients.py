"""Hostile clients at scale: thousands of idle connections, slow-loris senders, a frame claiming 2 GiB,
clients that never read their responses, and requests no client library sends (raw frames from
kafka_wire.py): a Produce to 10,000 partitions, Metadata for 100,000 made-up topics, CreateTopics asking
for a million partitions, compression bombs (garbage, and valid batches inflating to 256 MiB), hundreds of fetches with max_bytes 2^31-1; each while a
well-behaved confluent-kafka producer keeps producing. Each case asserts the limit that protects the
broker and prints a row: case, limit held, reason the broker gave, the producer's p50/p99 produce
latency during the case.

Sizes: GREGOR_HOSTILE_CONNECTIONS sets the idle-connection count (default 2000; `make hostile` runs
10000); GREGOR_HOSTILE_METADATA_TOPICS (default 100000), GREGOR_HOSTILE_BOMB_MIB (what a bomb inflates
to, default 1024), GREGOR_HOSTILE_VALID_BOMB_MIB (what a valid batch inflates to, default 256), GREGOR_HOSTILE_FETCHERS (default 200) and GREGOR_HOSTILE_FETCH_TOPIC_MIB (default 4)
the others. Every case but the slow-loris and never-reading ones also runs against Apache Kafka
(KAFKA_BOOTSTRAP; the broker's RSS is found through the process that listens on the port, printed
there, asserted on Gregor only); those two are gregor_only, see their docstrings."""
from __future__ import annotations

import collections
import os
import resource
import select
import socket
import struct
import threading
import time

import pytest

import clients
import harness
from harness import rss_bytes, sanitized
import differential
import kafka_wire
import schema_codec

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


# ---- requests clients cannot send: huge fan-out, made-up names, partition floods, bombs, big fetches

KAFKA_UNKNOWN_TOPIC_OR_PARTITION = 3
KAFKA_INVALID_RECORD = 87
KAFKA_POLICY_VIOLATION = 44
# Kafka's per-request partition limit (ReplicationControlManager.validateTotalNumberOfPartitions).
EXCESSIVE_PARTITIONS = "Excessively large number of partitions per request."

METADATA_TOPICS = int(os.environ.get("GREGOR_HOSTILE_METADATA_TOPICS", "100000"))
BOMB_MIB = int(os.environ.get("GREGOR_HOSTILE_BOMB_MIB", "1024"))
FETCHERS = int(os.environ.get("GREGOR_HOSTILE_FETCHERS", "200"))
FETCH_TOPIC_MIB = int(os.environ.get("GREGOR_HOSTILE_FETCH_TOPIC_MIB", "4"))


class rss_peak:
    """Samples the broker's RSS every 20 ms from a thread while the block runs: .before, .peak."""

    def __init__(self, pid: int):
        self.pid = pid
        self.before = self.peak = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> "rss_peak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))

    @property
    def growth(self) -> int:
        return self.peak - self.before


def rss_limit(broker, pid: int, growth: int, bound: int) -> str:
    """The row's text for a peak RSS growth, asserted against `bound` on a Gregor release build (a JVM's
    RSS follows its heap, an ASan build's its redzones: printed, not asserted)."""
    asserted = broker.is_gregor and not sanitized(pid)
    if asserted:
        assert growth <= bound, f"peak RSS grew by {growth / 2**20:.0f} MiB (bound {bound / 2**20:.0f} MiB)"
    return (f"peak RSS +{growth / 2**20:.0f} MiB"
            + (f" (bound {bound / 2**20:.0f} MiB)" if asserted else " (not asserted)"))


def wire_round_trip(bootstrap: str, frame: bytes, timeout_s: float = 120.0) -> bytes:
    body = kafka_wire.round_trip(bootstrap, frame, timeout_s=timeout_s)
    assert body is not None, "the broker closed the connection instead of answering"
    return body


def topics_known(bootstrap: str, names: list[str]) -> dict[str, tuple[int, int]]:
    """Metadata v4 without auto-creation for `names`: {name: (error, partition count)}."""
    return kafka_wire.parse_metadata_v4_topics(
        wire_round_trip(bootstrap, kafka_wire.metadata_request_v4(7, names, allow_auto_topic_creation=False)))


def small_batch() -> bytes:
    return kafka_wire.record_batch(kafka_wire.encode_record(0, b"k", b"v"), 1)


def impl(broker) -> str:
    return "gregor" if broker.is_gregor else "kafka"


def test_produce_to_10000_partitions_in_one_request(broker, well_behaved):
    """10,000 partitions of a 3-partition topic, then 10,000 unknown topics, each in one Produce v7:
    every partition is answered (the 3 that exist accept, the others UNKNOWN_TOPIC_OR_PARTITION, as
    Kafka answers; Produce never auto-creates), within a memory bound, while the producer carries on."""
    pid = broker_pid(broker)
    topic = harness.unique_topic("fanout")
    clients.create_topic(broker.bootstrap, topic, partitions=3)
    good = well_behaved(broker.bootstrap)
    since = good.mark()
    batch = small_batch()
    count = 10000
    unknown = [f"{harness.unique_topic('nosuch')}-{i}" for i in range(count)]
    with rss_peak(pid) as rss:
        known_answer = kafka_wire.parse_produce_v7(wire_round_trip(
            broker.bootstrap, kafka_wire.produce_request_v7(1, {topic: {p: batch for p in range(count)}})))
        unknown_answer = kafka_wire.parse_produce_v7(wire_round_trip(
            broker.bootstrap, kafka_wire.produce_request_v7(2, {t: {0: batch} for t in unknown})))
    assert len(known_answer) == count
    for p in range(count):
        expected = 0 if p < 3 else KAFKA_UNKNOWN_TOPIC_OR_PARTITION
        assert known_answer[(topic, p)][0] == expected, f"partition {p}: {known_answer[(topic, p)]}"
    assert sorted(known_answer[(topic, p)][1] for p in range(3)) == [0, 0, 0]
    assert len(unknown_answer) == count
    assert {e for e, _ in unknown_answer.values()} == {KAFKA_UNKNOWN_TOPIC_OR_PARTITION}
    assert {t for t, _ in unknown_answer} == set(unknown)
    # Nothing was created by the produce.
    assert {e for e, _ in topics_known(broker.bootstrap, unknown[:: count // 100]).values()} == \
        {KAFKA_UNKNOWN_TOPIC_OR_PARTITION}
    latency = good.check_window(since, "10,000-partition produces")
    limit = rss_limit(broker, pid, rss.growth, 64 << 20)
    report(f"Produce to 10,000 partitions of a 3-partition topic, then to 10,000 unknown topics ({impl(broker)})",
           limit, "3 accepted, 9,997 + 10,000 UNKNOWN_TOPIC_OR_PARTITION", latency)


def test_metadata_for_100000_made_up_topics(broker, well_behaved):
    """Metadata v4 for 100,000 made-up names (GREGOR_HOSTILE_METADATA_TOPICS), without and then with
    auto-creation (the suite's brokers, Kafka's too, run with auto.create.topics.enable=true). Without:
    each is UNKNOWN_TOPIC_OR_PARTITION. With: Kafka 4.3 answers UNKNOWN_TOPIC_OR_PARTITION for every
    topic it is auto-creating and sends the names to its controller as one CreateTopics request, which
    its per-request limit (10,000 partitions) refuses whole ("Auto topic creation failed ...
    POLICY_VIOLATION" logged per name): none is created. A later small auto-creation, queued behind it,
    is created: the barrier after which the flood's names are checked absent."""
    pid = broker_pid(broker)
    good = well_behaved(broker.bootstrap)
    since = good.mark()
    prefix = harness.unique_topic("madeup")
    names = [f"{prefix}-{i}" for i in range(METADATA_TOPICS)]
    with rss_peak(pid) as rss:
        off = kafka_wire.parse_metadata_v4_topics(wire_round_trip(
            broker.bootstrap, kafka_wire.metadata_request_v4(1, names, allow_auto_topic_creation=False)))
        on = kafka_wire.parse_metadata_v4_topics(wire_round_trip(
            broker.bootstrap, kafka_wire.metadata_request_v4(2, names, allow_auto_topic_creation=True)))
    assert len(off) == METADATA_TOPICS and {e for e, _ in off.values()} == {KAFKA_UNKNOWN_TOPIC_OR_PARTITION}
    assert len(on) == METADATA_TOPICS
    assert {e for e, _ in on.values()} == {KAFKA_UNKNOWN_TOPIC_OR_PARTITION}, \
        f"auto-creation answers: {collections.Counter(e for e, _ in on.values())}"
    barrier = harness.unique_topic("after-flood")

    def barrier_created() -> bool:
        answer = kafka_wire.parse_metadata_v4_topics(wire_round_trip(
            broker.bootstrap, kafka_wire.metadata_request_v4(3, [barrier], allow_auto_topic_creation=True)))
        return answer[barrier][0] == 0

    harness.wait_until(barrier_created, timeout_s=60, what="a small auto-creation after the flood")
    sample = names[:: max(1, METADATA_TOPICS // 1000)]
    assert {e for e, _ in topics_known(broker.bootstrap, sample).values()} == {KAFKA_UNKNOWN_TOPIC_OR_PARTITION}, \
        "the flood of made-up names created topics"
    latency = good.check_window(since, "Metadata for made-up topics")
    limit = rss_limit(broker, pid, rss.growth, 128 << 20)
    report(f"Metadata for {METADATA_TOPICS:,} made-up topics, auto-creation off then on ({impl(broker)})",
           f"{limit}; none created",
           "UNKNOWN_TOPIC_OR_PARTITION each, auto-creation on or off (on: over 10,000 partitions "
           "per request, refused whole)", latency)


def test_create_topics_asking_for_a_million_partitions(broker, well_behaved):
    """CreateTopics v4 asking for 1,000,000 partitions (replication factor default and 1), for 2,000
    topics of 10 partitions at once, and for 5,000 + 5,001: over Kafka's 10,000 partitions per request,
    each refused whole: every topic POLICY_VIOLATION 'Excessively large number of partitions per
    request.', nothing created."""
    pid = broker_pid(broker)
    good = well_behaved(broker.bootstrap)
    since = good.mark()
    base = harness.unique_topic("million")
    requests = [
        [(f"{base}-rfdefault", 1_000_000, -1)],
        [(f"{base}-rf1", 1_000_000, 1)],
        [(f"{base}-many-{i}", 10, 1) for i in range(2000)],
        [(f"{base}-edge-a", 5000, 1), (f"{base}-edge-b", 5001, 1)],
    ]
    names = [name for topics in requests for name, _, _ in topics]
    with rss_peak(pid) as rss:
        answers = [kafka_wire.parse_create_topics_v4(wire_round_trip(
            broker.bootstrap, kafka_wire.create_topics_request_v4(i, topics))) for i, topics in enumerate(requests)]
    for topics, answer in zip(requests, answers):
        assert sorted(answer) == sorted(name for name, _, _ in topics)
        assert set(answer.values()) == {(KAFKA_POLICY_VIOLATION, EXCESSIVE_PARTITIONS)}, \
            f"{len(topics)} topics answered {set(answer.values())}"
    assert {e for e, _ in topics_known(broker.bootstrap, names).values()} == {KAFKA_UNKNOWN_TOPIC_OR_PARTITION}
    latency = good.check_window(since, "CreateTopics floods")
    limit = rss_limit(broker, pid, rss.growth, 32 << 20)
    report(f"CreateTopics: 1,000,000 partitions (rf default, rf 1), 2,000 topics x 10, 5,000 + 5,001 "
           f"({impl(broker)})", f"{limit}; none created",
           f"POLICY_VIOLATION '{EXCESSIVE_PARTITIONS}' for every topic", latency)


_BOMBS: dict[int, bytes] = {}


def bomb_section(codec: int) -> bytes:
    """BOMB_MIB MiB of zero bytes compressed with `codec` (gzip: ~1 MiB per GiB, deflate's limit;
    zstd: ~32 KiB per GiB): a records section that parses as garbage only once inflated."""
    if codec not in _BOMBS:
        import zlib
        import zstandard
        comp = (zlib.compressobj(9, zlib.DEFLATED, 31) if codec == kafka_wire.CODEC_GZIP
                else zstandard.ZstdCompressor(level=19).compressobj())
        chunk = bytes(1 << 20)
        _BOMBS[codec] = b"".join([comp.compress(chunk) for _ in range(BOMB_MIB)] + [comp.flush()])
    return _BOMBS[codec]


def test_compression_bombs_are_refused_without_inflating(broker, well_behaved):
    """A batch whose small compressed records section (gzip and zstd) inflates to BOMB_MIB MiB of zeros
    (GREGOR_HOSTILE_BOMB_MIB, default 1 GiB), produced to a compacted topic (whose keys the broker must
    read) and to a normal one (max.message.bytes 8 MiB so the gzip bomb is not refused for its size):
    refused with INVALID_RECORD, as Kafka 4.3 refuses it (it inflates record by record and the first
    record is malformed), without the broker inflating it (RSS bound: Gregor streams the section
    through a 1 MiB window and stops at the first record)."""
    pid = broker_pid(broker)
    good = well_behaved(broker.bootstrap)
    compacted, normal = harness.unique_topic("bomb-compact"), harness.unique_topic("bomb")
    clients.create_topic(broker.bootstrap, compacted, config={"cleanup.policy": "compact", "max.message.bytes": str(8 << 20)})
    clients.create_topic(broker.bootstrap, normal, config={"max.message.bytes": str(8 << 20)})
    bombs = {name: kafka_wire.record_batch(bomb_section(codec), 1, codec)
             for name, codec in (("gzip", kafka_wire.CODEC_GZIP), ("zstd", kafka_wire.CODEC_ZSTD))}
    since = good.mark()
    answers = {}
    with rss_peak(pid) as rss:
        for topic in (compacted, normal):
            for name, batch in bombs.items():
                answer = kafka_wire.parse_produce_v7(wire_round_trip(
                    broker.bootstrap, kafka_wire.produce_request_v7(len(answers), {topic: {0: batch}})))
                answers[(topic, name)] = answer[(topic, 0)][0]
    assert set(answers.values()) == {KAFKA_INVALID_RECORD}, answers
    # The topics still take records and hold none of the bomb.
    for topic in (compacted, normal):
        answer = kafka_wire.parse_produce_v7(wire_round_trip(
            broker.bootstrap, kafka_wire.produce_request_v7(9, {topic: {0: small_batch()}})))
        assert answer[(topic, 0)] == (0, 0), answer
    latency = good.check_window(since, "compression bombs")
    # Gregor walks a compressed section as a stream through a 1 MiB window and refuses it at its
    # first malformed record (record_batch.cc), so these bombs cost that window and the zstd window
    # their frames declare, never the bomb's size.
    limit = rss_limit(broker, pid, rss.growth, 64 << 20)
    sizes = ", ".join(f"{name} {len(b) / 1024:.0f} KiB" for name, b in bombs.items())
    report(f"Compression bombs ({sizes} inflating to {BOMB_MIB} MiB) to a compacted and a normal topic "
           f"({impl(broker)})", limit, "INVALID_RECORD each, nothing stored", latency)


VALID_BOMB_MIB = int(os.environ.get("GREGOR_HOSTILE_VALID_BOMB_MIB", "256"))


def valid_bomb_section(codec: int, records: int) -> bytes:
    """`records` well-formed records, each with a key and a 1 MiB zero-filled value, compressed with
    `codec` piece by piece (gzip ~1 KiB, zstd a few bytes per MiB): a valid section that inflates to
    `records` MiB."""
    import zlib
    import zstandard
    comp = (zlib.compressobj(6, zlib.DEFLATED, 31) if codec == kafka_wire.CODEC_GZIP
            else zstandard.ZstdCompressor(level=3).compressobj())
    value = bytes(1 << 20)
    parts = []
    for i in range(records):
        key = f"k{i}".encode()
        fields = (b"\x00" + kafka_wire.encode_varint(0) + kafka_wire.encode_varint(i)
                  + kafka_wire.encode_varint(len(key)) + key + kafka_wire.encode_varint(len(value)))
        body_len = len(fields) + len(value) + 1
        parts.append(comp.compress(kafka_wire.encode_varint(body_len) + fields))
        parts.append(comp.compress(value))
        parts.append(comp.compress(kafka_wire.encode_varint(0)))  # no headers
    parts.append(comp.flush())
    return b"".join(parts)


def test_a_valid_batch_inflating_far_past_64_mib_is_stored_and_consumed(broker, well_behaved):
    """A well-formed batch (gzip and zstd) of VALID_BOMB_MIB records of 1 MiB of zeros each
    (GREGOR_HOSTILE_VALID_BOMB_MIB, default 256: the batch is a few hundred KiB, its records section
    inflates to 256 MiB) is accepted and stored as produced, as Kafka 4.3 accepts it (LogValidator
    iterates a compressed batch through a decompression stream and has no inflated-size limit), and
    can be fetched back whole: one batch at offsets 0..n-1 (offsets are counted, values are not
    inflated by the test). The broker's RSS stays bounded (Gregor validates through a 1 MiB window)
    and a well-behaved producer keeps being served."""
    pid = broker_pid(broker)
    good = well_behaved(broker.bootstrap)
    n = VALID_BOMB_MIB
    batches = {name: kafka_wire.record_batch(valid_bomb_section(codec, n), n, codec)
               for name, codec in (("gzip", kafka_wire.CODEC_GZIP), ("zstd", kafka_wire.CODEC_ZSTD))}
    topics = {name: harness.unique_topic(f"valid-bomb-{name}") for name in batches}
    for name, topic in topics.items():
        assert len(batches[name]) < 1000000, f"{name} batch of {len(batches[name])} bytes"
        clients.create_topic(broker.bootstrap, topic)
    since = good.mark()
    answers, fetched = {}, {}
    with rss_peak(pid) as rss:
        for i, (name, batch) in enumerate(batches.items()):
            answer = kafka_wire.parse_produce_v7(wire_round_trip(
                broker.bootstrap, kafka_wire.produce_request_v7(i, {topics[name]: {0: batch}})))
            answers[name] = answer[(topics[name], 0)]
        for i, (name, topic) in enumerate(topics.items()):
            body = wire_round_trip(broker.bootstrap, kafka_wire.fetch_request_v11(
                100 + i, {topic: {0: 0}}, partition_max_bytes=4 << 20, max_bytes=4 << 20))
            answer = kafka_wire.parse_fetch_v11(body)
            part = answer["partitions"][(topic, 0)]
            fetched[name] = (answer["error_code"], part["error_code"], part["high_watermark"], part["batches"])
    assert answers == {name: (0, 0) for name in batches}, answers  # (error, base offset)
    assert fetched == {name: (0, 0, n, [(0, n)]) for name in batches}, fetched
    latency = good.check_window(since, "valid batches inflating past 64 MiB")
    limit = rss_limit(broker, pid, rss.growth, 64 << 20)
    sizes = ", ".join(f"{name} {len(b) / 1024:.0f} KiB" for name, b in batches.items())
    report(f"Valid batches ({sizes}) inflating to {n} MiB ({impl(broker)})", limit,
           f"none: stored, fetched back as one batch of {n} records", latency)


def test_fetches_with_huge_max_bytes_from_hundreds_of_consumers(broker, well_behaved):
    """FETCHERS sockets (GREGOR_HOSTILE_FETCHERS, default 200) each send a Fetch v11 with max_bytes and
    partition_max_bytes 2^31-1 from offset 0 of a topic holding FETCH_TOPIC_MIB MiB, all before any
    response is read, then fetch on from where their answers ended until each has read the whole log
    (a consumer's loop). Every fetch is answered; the broker's memory stays bounded (Gregor: consumer
    records held until written are bounded broker-wide by 2 x fetch.max.bytes, fetch_memory.h; Kafka
    sends them from its files)."""
    pid = broker_pid(broker)
    topic = harness.unique_topic("bigfetch")
    clients.create_topic(broker.bootstrap, topic)
    produce_bulk(broker.bootstrap, topic, FETCH_TOPIC_MIB << 20)
    records = (FETCH_TOPIC_MIB << 20) // 4096
    good = well_behaved(broker.bootstrap)
    since = good.mark()
    huge = 2**31 - 1
    socks = [kafka_wire.connect(broker.bootstrap, timeout_s=120) for _ in range(FETCHERS)]
    next_offset = [0] * FETCHERS
    answers = rounds = largest = 0
    deadline = time.monotonic() + 120
    try:
        with rss_peak(pid) as rss:
            while min(next_offset) < records:
                assert time.monotonic() < deadline, f"consumers at offsets {sorted(set(next_offset))} of {records}"
                rounds += 1
                pending = [i for i in range(FETCHERS) if next_offset[i] < records]
                for i in pending:
                    socks[i].sendall(kafka_wire.fetch_request_v11(
                        rounds, {topic: {0: next_offset[i]}}, max_bytes=huge, partition_max_bytes=huge))
                for i in pending:
                    body = kafka_wire.read_response(socks[i])
                    assert body is not None, "a fetch was answered by a close"
                    largest = max(largest, len(body))
                    answer = kafka_wire.parse_fetch_v11(body)
                    part = answer["partitions"][(topic, 0)]
                    assert answer["error_code"] == 0 and part["error_code"] == 0, answer
                    assert part["high_watermark"] == records
                    answers += 1
                    if part["batches"]:
                        base, count = part["batches"][-1]
                        assert part["batches"][0][0] <= next_offset[i] < base + count
                        next_offset[i] = base + count
    finally:
        for s in socks:
            s.close()
    latency = good.check_window(since, "huge fetches")
    # A broker materializing every response at once would hold FETCHERS x the log.
    naive = FETCHERS * (FETCH_TOPIC_MIB << 20)
    limit = rss_limit(broker, pid, rss.growth, 192 << 20)
    report(f"{FETCHERS} consumers fetching max_bytes 2^31-1 of a {FETCH_TOPIC_MIB} MiB log at once ({impl(broker)})",
           f"{limit}; {naive / 2**20:.0f} MiB read in all",
           f"none: {answers} answers in {rounds} rounds, largest {largest / 2**20:.1f} MiB", latency)


# Patterns a regex engine can choke on: a long pattern (libstdc++'s std::regex recursed once per term
# and overflowed the broker's stack: test_odd_requests under ASan), deep nesting, and the classic
# exponential-backtracking shapes; each with a long text where the API matches one.
HOSTILE_PATTERNS = {  # each within a protocol string's 32,767 bytes (Kafka closes the connection past it)
    "30,000-character literal": "a" * 30_000,
    "15,000 nested groups": "(" * 15_000 + ")" * 15_000,
    "15,000 alternatives": "a|" * 15_000 + "b",
    "(x+x+)+y": "(x+x+)+y",
    "(a|aa)+$ on a long name": "(a|aa)+$",
}


def test_hostile_regular_expressions_are_answered(broker, well_behaved):
    """ConsumerGroupHeartbeat's SubscribedTopicRegex (KIP-848) and ListTransactions'
    TransactionalIdPattern (v2) with hostile patterns, matched against a 249-character topic name
    and a long transactional id: every request is answered (an error code, INVALID_REGULAR_EXPRESSION
    where the engine refuses the pattern), the broker keeps serving, the producer carries on."""
    schemas = schema_codec.schema_set()
    conn = differential.connection(impl(broker), broker.bootstrap, schemas)
    served = differential.api_versions(conn)
    topic = ("a" * 200 + harness.unique_topic("r"))[:249]
    clients.create_topic(broker.bootstrap, topic, partitions=1)
    txn_id = "x" * 5000 + harness.unique_topic("txn")
    p = clients.producer(broker.bootstrap, **{"transactional.id": txn_id})
    p.init_transactions(60)
    p.begin_transaction()
    p.produce(topic, b"v")
    p.commit_transaction(60)
    good = well_behaved(broker.bootstrap)
    since = good.mark()
    codes: dict[str, list[int]] = collections.defaultdict(list)
    cgh = 68
    if cgh in served and served[cgh][1] >= 1:
        for i, (name, pattern) in enumerate(HOSTILE_PATTERNS.items()):
            group = harness.unique_topic("regex-group")
            deadline = time.monotonic() + 120
            while True:  # until the group's coordinator is loaded (FindCoordinator creates __consumer_offsets)
                found = conn.request(10, 4, {"KeyType": 0, "CoordinatorKeys": [group]})
                assert isinstance(found, dict), f"FindCoordinator: {found}"
                resp = conn.request(cgh, 1, {
                    "GroupId": group, "MemberId": f"hostile-member-{i:08d}-xxxx",
                    "MemberEpoch": 0, "InstanceId": None, "RackId": None, "RebalanceTimeoutMs": 30000,
                    "SubscribedTopicNames": [], "SubscribedTopicRegex": pattern, "ServerAssignor": None,
                    "TopicPartitions": []})
                assert isinstance(resp, dict), f"ConsumerGroupHeartbeat with {name}: {resp}"
                if resp["ErrorCode"] not in (14, 15, 16) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)  # pacing of the retry; the loop waits on the error code
            codes["ConsumerGroupHeartbeat"].append(resp["ErrorCode"])
    lt = 66
    if lt in served and served[lt][1] >= 2:
        for name, pattern in HOSTILE_PATTERNS.items():
            resp = conn.request(lt, 2, {"StateFilters": [], "ProducerIdFilters": [], "DurationFilter": -1,
                                        "TransactionalIdPattern": pattern})
            assert isinstance(resp, dict), f"ListTransactions with {name}: {resp}"
            codes["ListTransactions"].append(resp["ErrorCode"])
        # A pattern that matches only the long id finds it: the engine matched, not just refused.
        resp = conn.request(lt, 2, {"StateFilters": [], "ProducerIdFilters": [], "DurationFilter": -1,
                                    "TransactionalIdPattern": "x+" + txn_id[5000:]})
        assert isinstance(resp, dict) and resp["ErrorCode"] == 0, resp
        assert [t["TransactionalId"] for t in resp["TransactionStates"]] == [txn_id]
    conn.close()
    assert codes, "the broker serves neither ConsumerGroupHeartbeat v1 nor ListTransactions v2"
    assert topics_known(broker.bootstrap, [topic]) == {topic: (0, 1)}
    if broker.is_gregor:
        assert broker.running()
    latency = good.check_window(since, "hostile regular expressions")
    report(f"Hostile regular expressions ({', '.join(HOSTILE_PATTERNS)}) ({impl(broker)})",
           "every request answered, broker up",
           "; ".join(f"{api}: error codes {c}" for api, c in codes.items()), latency)
