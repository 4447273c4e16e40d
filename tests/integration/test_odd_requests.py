"""Valid-but-odd requests against the live broker (issue 15, item 2): random requests generated from
Kafka's own message schemas (schema_codec, odd_generator) for every API and version the broker
advertises in ApiVersions, with extreme but legal values, sent over several connections for a
bounded time. Each request is answered (a response with its correlation id) or its connection is
closed with a reason in the broker's log; the broker never dies nor prints a sanitizer report
(broker_health), its RSS stays under RSS_BYTES_MAX, and a well-behaved client (kafka-python) produces
and consumes afterwards.

Knobs: GREGOR_ODD_SECONDS (default 45; `make odd-load ODD_SECONDS=N` for long runs),
GREGOR_ODD_CONNECTIONS (default 4), GREGOR_ODD_SEED (printed by every run; replays the same requests:
each one is a function of the seed, its connection and its index, see odd_generator.py).
"""
from __future__ import annotations

import base64
import collections
import os
import random
import re
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

import harness
from harness import rss_bytes, sanitized
import kafka_wire
import odd_generator
import schema_codec

ODD_SECONDS = float(os.environ.get("GREGOR_ODD_SECONDS", "45"))
CONNECTIONS = int(os.environ.get("GREGOR_ODD_CONNECTIONS", "4"))
RESPONSE_TIMEOUT_S = 30.0  # waits in the generated requests are at most 1.5 s (odd_generator.WAIT_FIELD)
CLOSE_LOG_TIMEOUT_S = 5.0
# Gregor's resident memory under the load: requests of up to ~3 MiB on a few connections, at most
# 32 topics and a dozen groups made by the requests. Not asserted for an ASan build (redzones and
# quarantine, see test_hostile_clients.sanitized).
RSS_BYTES_MAX = 512 * 1024 * 1024
API_PRODUCE = 0


# ---- the codec against hand-built frames (no broker)

def test_schema_codec_encodes_like_the_hand_built_frames():
    """The encoder writes the bytes kafka_wire's hand-built frames have (classic and flexible)."""
    schemas = schema_codec.schema_set()
    api_versions = schemas.request(18)
    body = {"ClientSoftwareName": "gregor-itest", "ClientSoftwareVersion": "1.0"}
    assert schema_codec.encode_request(api_versions, 3, 7, body, client_id="gregor-itest") == \
        kafka_wire.api_versions_request(7, 3)
    assert schema_codec.encode_request(api_versions, 0, 7, {}, client_id="gregor-itest") == \
        kafka_wire.api_versions_request(7, 0)
    metadata = schemas.request(3)
    assert schema_codec.encode_request(metadata, 1, 9, {"Topics": None}, client_id="gregor-itest") == \
        kafka_wire.metadata_request_v1(9)
    assert schema_codec.encode_request(metadata, 4, 9, {"Topics": [{"Name": "a"}, {"Name": "b"}],
                                                        "AllowAutoTopicCreation": False},
                                       client_id="gregor-itest") == \
        kafka_wire.metadata_request_v4(9, ["a", "b"], False)
    batch = kafka_wire.record_batch(kafka_wire.encode_record(0, b"k", b"v"), 1, timestamp_ms=5)
    produce = {"TransactionalId": None, "Acks": -1, "TimeoutMs": 1000,
               "TopicData": [{"Name": "t", "PartitionData": [{"Index": 0, "Records": batch}]}]}
    assert schema_codec.encode_request(schemas.request(0), 7, 3, produce, client_id="gregor-itest") == \
        kafka_wire.produce_request_v7(3, {"t": {0: batch}}, acks=-1, timeout_ms=1000)
    # Flexible: compact lengths, tagged fields (a known one, and unknown ones in tag order).
    fetch = schemas.request(1)
    known_tagged = [f for f in fetch.fields if f.name == "ClusterId"][0]
    assert known_tagged.tag == 0 and known_tagged.is_tagged(12) and known_tagged.is_nullable(12)
    frame = schema_codec.encode_request(
        schemas.request(3), 9, 1, {"Topics": [], "AllowAutoTopicCreation": True,
                                   "IncludeClusterAuthorizedOperations": False,
                                   "IncludeTopicAuthorizedOperations": False,
                                   schema_codec.UNKNOWN_TAGS: [(300, b"\x01\x02"), (5, b"")]},
        client_id=None, header_tags=[(1, b"z")])
    assert frame[4:] == (struct.pack(">hhih", 3, 9, 1, -1) + b"\x01\x01\x01z" + b"\x01\x01\x00\x00"
                         + b"\x02\x05\x00\xac\x02\x02\x01\x02")


# ---- specific cases the load found

@pytest.mark.parametrize("version", [0, 1, 2])
def test_sasl_authenticate_on_a_plaintext_listener_is_answered_and_the_connection_kept(bootstrap, version):
    """Kafka answers ILLEGAL_SASL_STATE on a listener without SASL and serves the next request on the
    same connection; Gregor closed it after the answer (found by the odd load: every burst after a
    SaslAuthenticate was lost)."""
    schemas = schema_codec.schema_set()
    frame = schema_codec.encode_request(schemas.request(36), version, 5, {"AuthBytes": b""})
    with kafka_wire.connect(bootstrap) as sock:
        sock.sendall(frame + kafka_wire.api_versions_request(6, 0))
        body = kafka_wire.read_response(sock)
        assert body is not None, "no SaslAuthenticate answer"
        corr, pos = schema_codec.decode_response_header(body, 36, version, schemas.request(36).is_flexible(version))
        assert corr == 5
        assert struct.unpack_from(">h", body, pos)[0] == 34  # ILLEGAL_SASL_STATE
        body = kafka_wire.read_response(sock)
        assert body is not None, "the connection was closed after the SaslAuthenticate answer"
        assert kafka_wire.parse_api_versions(body, 0)[:2] == (6, 0)


# ---- the broker's log: why it closed a connection

class close_log:
    """Reads Gregor's stderr for `closed connection N from 127.0.0.1:PORT on L: REASON` lines."""

    LINE = re.compile(r"closed connection \d+ from 127\.0\.0\.1:(\d+) on [^:]*: (.*)")

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.pos = 0
        self.partial = b""
        self.closes: list[tuple[int, int, str]] = []  # (log position, port, reason)

    def position(self) -> int:
        with self.lock:
            self._scan()
            return self.pos

    def _scan(self) -> None:
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            m = self.LINE.search(line.decode(errors="replace"))
            if m:
                self.closes.append((self.pos, int(m.group(1)), m.group(2)))

    def reason(self, port: int, since: int, timeout_s: float = CLOSE_LOG_TIMEOUT_S) -> str | None:
        deadline = time.monotonic() + timeout_s
        while True:
            with self.lock:
                self._scan()
                for pos, p, why in self.closes:
                    if p == port and pos > since:
                        return why
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)


# ---- the load

def served_versions(bootstrap: str) -> dict[int, tuple[int, int]]:
    with kafka_wire.connect(bootstrap) as sock:
        sock.sendall(kafka_wire.api_versions_request(1, 3))
        corr, err, apis = kafka_wire.parse_api_versions(kafka_wire.read_response(sock), 3)
    assert corr == 1 and err == 0
    return apis


class odd_load:
    """CONNECTIONS threads, each on its own connection (a new one after every close), sending bursts
    of 1-3 pipelined generated requests and reading the answers in order."""

    def __init__(self, broker, seed: int, targets: list[tuple[int, int]], schemas: schema_codec.schema_set):
        self.broker = broker
        self.seed = seed
        self.targets = targets
        self.schemas = schemas
        self.log = close_log(broker.stderr_path)
        self.lock = threading.Lock()
        self.sent = collections.Counter()  # (api, version) -> requests sent
        self.answered = collections.Counter()
        self.unanswered_acks0 = collections.Counter()  # acks=0 Produce: no response expected
        self.closes = collections.Counter()  # (api, version, reason) -> count
        self.failures: list[str] = []
        self.bytes_sent = 0
        self.frame_bytes_max = 0
        self.rss_peak = 0
        self.stop = threading.Event()

    def fail(self, text: str) -> None:
        with self.lock:
            self.failures.append(text)
        self.stop.set()

    def replay(self, stream: int, index: int, api: int, version: int) -> str:
        return (f"replay: python3 tests/integration/odd_generator.py --seed {self.seed} --stream {stream} "
                f"--index {index} --api {api} --version {version} --send HOST:PORT")

    def topic_ids(self) -> list[bytes]:
        """The ids of the topics the requests made (each partition directory's partition.metadata),
        so that requests by topic id (Fetch v13+, Produce v13, Metadata v10+...) meet real topics."""
        ids = set()
        internal_too = os.environ.get("GREGOR_ODD_INTERNAL_TOPICS") == "1"  # see odd_generator.topic_name_pool
        for meta in list(self.broker.log_dir.glob("*/partition.metadata"))[:200]:
            if meta.parent.name.startswith("__") and not internal_too:
                continue
            try:
                for line in meta.read_text().splitlines():
                    if line.startswith("topic_id:"):
                        text = line.split(":", 1)[1].strip()
                        ids.add(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            except (OSError, ValueError):
                continue
        return sorted(i for i in ids if len(i) == 16)

    def run(self, seconds: float) -> None:
        threads = [threading.Thread(target=self.worker, args=(c, seconds), daemon=True) for c in range(CONNECTIONS)]
        sampler = threading.Thread(target=self.sample_rss, daemon=True)
        sampler.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + RESPONSE_TIMEOUT_S * 3 + 30)
            if t.is_alive():
                self.fail("a load thread did not finish (a response never came nor the connection closed)")
        self.stop.set()
        sampler.join(5)

    def sample_rss(self) -> None:
        pid = self.broker.proc.pid
        while not self.stop.is_set():
            try:
                self.rss_peak = max(self.rss_peak, rss_bytes(pid))
            except OSError:
                self.fail("the broker process disappeared")
                return
            if self.broker.proc.poll() is not None:
                self.fail(f"the broker exited with {self.broker.proc.returncode} under the load")
                return
            time.sleep(0.2)

    def worker(self, stream: int, seconds: float) -> None:
        gen = odd_generator.generator(self.seed, self.schemas)
        pick = random.Random(f"{self.seed}/{stream}/pick")
        deadline = time.monotonic() + seconds
        index = 0
        correlation_id = 0
        sock = None
        while time.monotonic() < deadline and not self.stop.is_set():
            if sock is None:
                since = self.log.position()
                sock = kafka_wire.connect(self.broker.bootstrap, timeout_s=RESPONSE_TIMEOUT_S)
                port = sock.getsockname()[1]
                last_answered = ""
            if index % 50 == 0:
                gen.known_topic_ids = self.topic_ids()
            burst = []
            for _ in range(pick.choice([1, 1, 1, 2, 3])):
                api, version = pick.choice(self.targets)
                index += 1
                correlation_id = (correlation_id + 1) & 0x7FFFFFFF
                req = gen.request(stream, index, api, version)
                msg = self.schemas.request(api)
                try:
                    frame = schema_codec.encode_request(msg, version, correlation_id, req["body"],
                                                        client_id=req["client_id"], header_tags=req["header_tags"])
                except schema_codec.encode_error as exc:
                    self.fail(f"generator bug: {self.schemas.names[api]} v{version}: {exc}; "
                              f"{self.replay(stream, index, api, version)}")
                    return
                expects = not (api == API_PRODUCE and req["body"].get("Acks") == 0)
                burst.append((api, version, correlation_id, index, expects, frame))
            try:
                for api, version, _, _, _, frame in burst:
                    with self.lock:
                        self.sent[(api, version)] += 1
                        self.bytes_sent += len(frame)
                        self.frame_bytes_max = max(self.frame_bytes_max, len(frame))
                sock.sendall(b"".join(b[5] for b in burst))
            except OSError:
                pass  # a close: seen when reading the first answer
            closed_by = None
            for api, version, corr, idx, expects, _ in burst:
                if not expects:
                    with self.lock:
                        self.unanswered_acks0[(api, version)] += 1
                    continue
                try:
                    body = kafka_wire.read_response(sock)
                except socket.timeout:
                    self.fail(f"no answer to {self.schemas.names[api]} v{version} (correlation id {corr}) "
                              f"within {RESPONSE_TIMEOUT_S}s; {self.replay(stream, idx, api, version)}")
                    return
                except (ConnectionResetError, BrokenPipeError):
                    body = None
                if body is None:
                    closed_by = (api, version, idx)
                    break
                got, _ = schema_codec.decode_response_header(body, api, version,
                                                             self.schemas.request(api).is_flexible(version))
                if got != corr:
                    self.fail(f"{self.schemas.names[api]} v{version}: answer with correlation id {got}, "
                              f"expected {corr}; {self.replay(stream, idx, api, version)}")
                    return
                with self.lock:
                    self.answered[(api, version)] += 1
                last_answered = f" (after an answer to {self.schemas.names[api]} v{version})"
            if closed_by is not None:
                sock.close()
                sock = None
                api, version, idx = closed_by
                why = self.log.reason(port, since)
                if why is None:
                    self.fail(f"the broker closed the connection after {self.schemas.names[api]} v{version} "
                              f"without a `closed connection` line naming a reason; "
                              f"{self.replay(stream, idx, api, version)}")
                    return
                with self.lock:
                    self.closes[(api, version, normalise(why) + last_answered)] += 1
        if sock is not None:
            sock.close()


def normalise(reason: str) -> str:
    """A close reason without its numbers and addresses (to count reasons)."""
    return re.sub(r"\d+", "N", reason)[:160]


def round_trip_with_kafka_python(bootstrap: str) -> None:
    topic = harness.unique_topic("odd-after")
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=20000, max_block_ms=30000)
    try:
        metas = [producer.send(topic, key=b"k%d" % i, value=b"v%d" % i).get(timeout=30) for i in range(20)]
    finally:
        producer.close()
    assert [m.offset for m in metas] == list(range(20))
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=1000, request_timeout_ms=30000)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        records, deadline = [], time.monotonic() + 30
        while len(records) < 20 and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    assert [(r.key, r.value) for r in records] == [(b"k%d" % i, b"v%d" % i) for i in range(20)]
    # A consumer group: the coordinator survived the odd JoinGroups, OffsetCommits and the rest.
    group = harness.unique_topic("odd-group")
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=1000, request_timeout_ms=30000,
                             session_timeout_ms=10000)
    try:
        records, deadline = [], time.monotonic() + 60
        while len(records) < 20 and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        assert len(records) == 20, f"the group consumer read {len(records)} of 20 records"
        consumer.commit()
        assert consumer.committed(TopicPartition(topic, 0)) == 20
    finally:
        consumer.close()


@pytest.mark.gregor_only  # reads Gregor's log for the reason of each close
@pytest.mark.timeout(ODD_SECONDS + 240)
def test_valid_but_odd_requests_are_answered_or_closed_with_a_reason(broker):
    seed = int(os.environ.get("GREGOR_ODD_SEED", str(random.SystemRandom().getrandbits(32))))
    print(f"\nodd requests: seed {seed} (GREGOR_ODD_SEED={seed} replays it), {ODD_SECONDS:.0f} s, "
          f"{CONNECTIONS} connections", flush=True)
    schemas = schema_codec.schema_set()
    served = served_versions(broker.bootstrap)
    targets = [(api, v) for api, (lo, hi) in sorted(served.items()) for v in range(lo, hi + 1)]
    not_in_schemas = [api for api in served if api not in schemas.requests]
    assert not not_in_schemas, f"the broker advertises APIs Kafka's schemas lack: {not_in_schemas}"
    load = odd_load(broker, seed, targets, schemas)
    started = time.monotonic()
    load.run(ODD_SECONDS)
    duration = time.monotonic() - started
    sanitizer_build = sanitized(broker.proc.pid) if broker.running() else False

    print(f"\n| api | version | sent | answered | acks=0 | closed |")
    print("|---|---|---|---|---|---|")
    closed_by_target = collections.Counter()
    for (api, version, _), n in load.closes.items():
        closed_by_target[(api, version)] += n
    for api, version in targets:
        print(f"| {schemas.names[api]} ({api}) | {version} | {load.sent[(api, version)]} | "
              f"{load.answered[(api, version)]} | {load.unanswered_acks0[(api, version)]} | "
              f"{closed_by_target[(api, version)]} |")
    print("\nclose reasons:")
    for (api, version, why), n in sorted(load.closes.items(), key=lambda kv: -kv[1]):
        print(f"  {n:6d}  {schemas.names[api]} v{version}: {why}")
    total = sum(load.sent.values())
    print(f"\n{total} requests ({load.bytes_sent / 1e6:.1f} MB, largest frame {load.frame_bytes_max} bytes) "
          f"in {duration:.1f} s, {sum(load.answered.values())} answered, {sum(load.closes.values())} closes; "
          f"broker RSS peak {load.rss_peak / 2**20:.0f} MiB (bound {RSS_BYTES_MAX / 2**20:.0f} MiB"
          f"{', not asserted: ASan build' if sanitizer_build else ''}); seed {seed}", flush=True)

    assert not load.failures, "\n".join(load.failures[:10])
    assert broker.running(), "the broker died under the load"
    assert all(load.sent[t] > 0 for t in targets) or ODD_SECONDS < 30, \
        f"never sent: {[t for t in targets if load.sent[t] == 0]}"
    if not sanitizer_build:
        assert load.rss_peak < RSS_BYTES_MAX, f"RSS peak {load.rss_peak} over {RSS_BYTES_MAX}"
    round_trip_with_kafka_python(broker.bootstrap)
