"""Proves the operator metrics added on top of test_ops.py: every API's error codes are counted per
code in /metrics (top level and per partition), consumer group lag is the high watermark minus the
committed offset, and /health answers 503 "starting" while a broker recovers its logs, then 200."""
from __future__ import annotations

import select
import signal
import struct
import subprocess
import time

import pytest

import clients
import harness
import kafka_wire
from confluent_kafka import TopicPartition
from test_ops import http_get, metrics

API_PRODUCE = 0
API_FETCH = 1


def produce_v3_empty(correlation_id: int, topic: str, partition: int) -> bytes:
    """Produce v3, acks=1, one partition with an empty record set."""
    body = kafka_wire.encode_string(None) + struct.pack(">hi", 1, 5000)
    body += struct.pack(">i", 1) + kafka_wire.encode_string(topic)
    body += struct.pack(">i", 1) + struct.pack(">ii", partition, 0)
    return kafka_wire.request(API_PRODUCE, 3, correlation_id, body)


def fetch_v4(correlation_id: int, topic: str, partitions: list[tuple[int, int]]) -> bytes:
    """Fetch v4, no wait, one topic, (partition, fetch offset) pairs."""
    body = struct.pack(">iiiib", -1, 0, 0, 1 << 20, 0)
    body += struct.pack(">i", 1) + kafka_wire.encode_string(topic) + struct.pack(">i", len(partitions))
    for p, off in partitions:
        body += struct.pack(">iqi", p, off, 1 << 20)
    return kafka_wire.request(API_FETCH, 4, correlation_id, body)


def errors(m: dict[str, float], api: str, error: str) -> float:
    return m.get(f'gregor_request_errors_total{{api="{api}",error="{error}"}}', 0.0)


@pytest.mark.gregor_only
def test_error_codes_are_counted_per_api_and_code_at_every_level(gregor_factory):
    g = gregor_factory({"auto.create.topics.enable": "false"})
    topic = harness.unique_topic("errs")
    clients.create_topic(g.bootstrap, topic, partitions=1)
    clients.produce_all(g.bootstrap, topic, [{"value": b"x%d" % i} for i in range(3)])
    before = metrics(g)

    # Produce: a missing topic, then an empty record set to an existing partition.
    assert kafka_wire.round_trip(g.bootstrap, produce_v3_empty(1, "no-such-topic-here", 0))
    assert kafka_wire.round_trip(g.bootstrap, produce_v3_empty(2, topic, 0))
    # Fetch: one response with a bad partition, an offset past the end and a good partition.
    assert kafka_wire.round_trip(g.bootstrap, fetch_v4(3, topic, [(7, 0), (0, 1000), (0, 0)]))
    # Metadata for a missing topic (auto-create off): a per-topic error.
    assert kafka_wire.round_trip(g.bootstrap, kafka_wire.metadata_request_v1(4, ["no-such-topic-md"]))

    after = metrics(g)
    delta = lambda api, err: errors(after, api, err) - errors(before, api, err)  # noqa: E731
    assert delta("Produce", "UNKNOWN_TOPIC_OR_PARTITION") == 1
    assert delta("Produce", "INVALID_RECORD") == 1
    assert delta("Fetch", "UNKNOWN_TOPIC_OR_PARTITION") == 1
    assert delta("Fetch", "OFFSET_OUT_OF_RANGE") == 1
    assert delta("Metadata", "UNKNOWN_TOPIC_OR_PARTITION") == 1
    # Successful partitions and requests count no error.
    assert not any(k.startswith("gregor_request_errors_total") and 'error="NONE"' in k for k in after)
    assert errors(after, "ApiVersions", "UNSUPPORTED_VERSION") == 0


@pytest.mark.gregor_only
def test_consumer_group_lag_is_high_watermark_minus_committed_offset(gregor_factory):
    g = gregor_factory()
    topic = harness.unique_topic("lag")
    group = harness.unique_topic("lag-group")
    clients.create_topic(g.bootstrap, topic, partitions=2)
    clients.produce_all(g.bootstrap, topic, [{"value": b"v%d" % i, "partition": 0} for i in range(10)])
    clients.produce_all(g.bootstrap, topic, [{"value": b"w%d" % i, "partition": 1} for i in range(3)])
    c = clients.consumer(g.bootstrap, **{"group.id": group})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 3)], asynchronous=False)
    finally:
        c.close()
    m = metrics(g)
    p0 = f'{{group="{group}",topic="{topic}",partition="0"}}'
    p1 = f'{{group="{group}",topic="{topic}",partition="1"}}'
    assert m["gregor_consumer_group_lag" + p0] == 6
    assert m["gregor_consumer_group_committed_offset" + p0] == 4
    assert m["gregor_consumer_group_lag" + p1] == 0
    assert m[f'gregor_consumer_group_lag_sum{{group="{group}"}}'] == 6
    # More records move the lag; a new commit brings it back down.
    clients.produce_all(g.bootstrap, topic, [{"value": b"y", "partition": 1}] * 5)
    m = metrics(g)
    assert m["gregor_consumer_group_lag" + p1] == 5
    assert m[f'gregor_consumer_group_lag_sum{{group="{group}"}}'] == 11


def _health(port: int) -> tuple[int, str] | None:
    try:
        return http_get(port, "/health")
    except OSError:
        return None  # not listening yet


@pytest.mark.gregor_only
def test_health_is_503_starting_while_logs_recover_then_200(gregor_factory):
    # Many partitions and no recovery-point checkpoint (the state after a crash before the first
    # checkpoint): start-up opens and scans every partition's log, which takes a while.
    g = gregor_factory()
    topic = harness.unique_topic("recover")
    clients.create_topic(g.bootstrap, topic, partitions=PARTITIONS)
    clients.produce_all(g.bootstrap, topic, [{"value": b"r%d" % i, "partition": 0} for i in range(RECORDS)])
    assert g.stop() == 0
    for f in g.log_dir.rglob("recovery-point-offset-checkpoint"):
        f.unlink()

    seen: list[tuple[int, str]] = []
    with open(g.stderr_path, "ab") as err:
        g.proc = subprocess.Popen(g.command(), stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                  cwd=g.work_dir, start_new_session=True)
    g.health.started(g.proc)  # checked like every harness start (broker_health)
    deadline = time.monotonic() + 120
    while True:
        assert time.monotonic() < deadline, f"broker did not start; stderr:\n{g.stderr_tail()}"
        assert g.proc.poll() is None, f"broker exited; stderr:\n{g.stderr_tail()}"
        h = _health(g.http_port)
        if h is not None:
            seen.append(h)
            if h[0] == 200:
                break
        time.sleep(0.002)
    starting = [h for h in seen if h[0] == 503]
    assert starting, f"never saw 503 while starting; answers: {seen[:5]}"
    assert all(h == (503, "starting\n") for h in starting), seen
    assert seen[-1] == (200, "serving\n")
    assert "recovering after an unclean shutdown" in g.stderr_path.read_text(errors="replace")
    # 200 only once Kafka clients are served, with the data intact.
    assert kafka_wire.broker_answers(g.bootstrap)
    got = clients.consume_all(g.bootstrap, topic, partitions=[0], expected=RECORDS)
    assert sorted(m.value() for m in got) == sorted(b"r%d" % i for i in range(RECORDS))


PARTITIONS = 400
RECORDS = 20


@pytest.mark.gregor_only
def test_health_is_503_stopping_while_a_long_poll_drains(gregor_factory):
    # A Fetch long poll on an empty partition is an in-flight request: SIGTERM waits for it (up to
    # its max wait), and meanwhile /health must say 503 stopping, not 200.
    g = gregor_factory()
    topic = harness.unique_topic("drain")
    clients.create_topic(g.bootstrap, topic, partitions=1)
    assert _health(g.http_port) == (200, "serving\n")
    max_wait_ms = 4000
    name = topic.encode()
    body = struct.pack(">iiiib", -1, max_wait_ms, 1, 1 << 20, 0)  # Fetch v4 header fields
    body += struct.pack(">i", 1) + struct.pack(">h", len(name)) + name
    body += struct.pack(">i", 1) + struct.pack(">iqi", 0, 0, 1 << 20)
    sock = kafka_wire.connect(g.bootstrap)
    try:
        frames_before = metrics(g)["gregor_network_frames_in_total"]
        sock.sendall(kafka_wire.request(1, 4, 7, body))

        def parked():
            # The broker has read the fetch (its frame counted) and has not answered it.
            if metrics(g)["gregor_network_frames_in_total"] < frames_before + 1:
                return False
            readable, _, _ = select.select([sock], [], [], 0)
            assert not readable, "the fetch on an empty partition was answered before its max wait"
            return True

        harness.wait_until(parked, timeout_s=3, interval_s=0.02, what="the fetch read and parked")
        sent_at = time.monotonic()
        g.proc.send_signal(signal.SIGTERM)
        seen = []
        while time.monotonic() - sent_at < 2.0 and g.proc.poll() is None:
            h = _health(g.http_port)
            if h is not None:
                seen.append(h)
            time.sleep(0.01)
        assert (503, "stopping\n") in seen, f"answers while draining: {seen[:5]}"
        # The signal reaches the broker asynchronously, so a probe sent right after kill() may still
        # be answered 200; once it has said "stopping" it must never say "serving" again.
        after = seen[seen.index((503, "stopping\n")):]
        assert (200, "serving\n") not in after, seen
        # The parked fetch is still answered (empty) before the broker exits 0.
        resp = kafka_wire.read_response(sock)
        assert resp is not None and struct.unpack(">i", resp[:4])[0] == 7
    finally:
        sock.close()
    assert g.proc.wait(timeout=30) == 0
