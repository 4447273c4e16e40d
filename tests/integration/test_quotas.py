"""Client quotas and connection limits, Kafka's model: kafka-configs.sh sets producer_byte_rate for a
client id (AlterClientQuotas, stored as ClientQuotaRecord), --describe shows it
(DescribeClientQuotas), a producer over it is throttled to about that rate while another client id
goes far faster, and removing it lifts the throttle; AlterClientQuotas refuses bad entities, keys and
values with Kafka's errors; max.connections.per.ip.overrides closes a connection over the limit.

A one-node cluster (cluster_harness) on loopback, so GREGOR_CLUSTER_IMPL=kafka runs the same file
against Apache Kafka 4.3.1. The connection-limit test connects from 127.0.0.2 (the node's own
connections come from 127.0.0.1), the address the per-IP override names.
"""
from __future__ import annotations

import os
import socket
import struct
import time
import urllib.request
import uuid

import pytest
from kafka import KafkaProducer

import cluster_harness as ch
import harness
import kafka_wire as kw

pytestmark = [pytest.mark.cluster]

CONFIG_COMMAND = "kafka.admin.ConfigCommand"  # kafka-configs.sh
CLIENT_ADDRESS = "127.0.0.2"
PER_IP_LIMIT = 2
QUOTA_BYTES_PER_S = 32 * 1024
RECORD_BYTES = 16 * 1024


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    saved = os.environ.get(ch.NET_ENV)
    os.environ[ch.NET_ENV] = "loopback"  # the node on 127.0.0.1, so that 127.0.0.2 is a client of its own
    try:
        yield from ch.module_cluster(tmp_path_factory.mktemp("quotas"), nodes=1,
                                     extra_config={"max.connections.per.ip.overrides":
                                                   f"{CLIENT_ADDRESS}:{PER_IP_LIMIT}"})
    finally:
        if saved is None:
            os.environ.pop(ch.NET_ENV, None)
        else:
            os.environ[ch.NET_ENV] = saved


@pytest.fixture
def bootstrap(node) -> str:
    node.mark_logs()
    return node.bootstrap()


def configs(classpath: str, bootstrap: str, *args: str) -> str:
    return harness.ok(harness.run_java_tool(classpath, CONFIG_COMMAND, "--bootstrap-server", bootstrap, *args))


def produced_bytes_per_s(bootstrap: str, topic: str, client_id: str, seconds: float) -> float:
    """Bytes per second a kafka-python producer gets acknowledged (acks=1) when it sends as fast as
    it can for `seconds`. A small buffer makes send() block once the broker holds it back."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, acks=1, linger_ms=5,
                             batch_size=64 * 1024, buffer_memory=256 * 1024, max_block_ms=60000,
                             request_timeout_ms=60000)
    value = os.urandom(RECORD_BYTES)
    acked = [0]
    start = time.monotonic()
    end = start + seconds

    def on_ack(_):
        if time.monotonic() <= end:
            acked[0] += RECORD_BYTES

    try:
        producer.send(topic, value).get(timeout=60)  # connected, metadata known: the clock starts now
        start = time.monotonic()
        end = start + seconds
        while time.monotonic() < end:
            producer.send(topic, value).add_callback(on_ack)
    finally:
        producer.close(timeout=0)
    return acked[0] / seconds


def test_producer_byte_rate_throttles_a_client_id_until_removed(bootstrap, kafka_classpath):
    topic = harness.unique_topic("quota")
    throttled = f"throttled-{uuid.uuid4().hex[:8]}"
    configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "clients",
            "--entity-name", throttled, "--add-config", f"producer_byte_rate={QUOTA_BYTES_PER_S}")
    described = configs(kafka_classpath, bootstrap, "--describe", "--entity-type", "clients", "--entity-name",
                        throttled)
    assert f"producer_byte_rate={QUOTA_BYTES_PER_S}" in described, described

    limited = produced_bytes_per_s(bootstrap, topic, throttled, 10)
    free = produced_bytes_per_s(bootstrap, topic, f"free-{uuid.uuid4().hex[:8]}", 4)
    print(f"\nquota {QUOTA_BYTES_PER_S} B/s: throttled client {limited:.0f} B/s, unthrottled {free:.0f} B/s")
    assert limited < 2 * QUOTA_BYTES_PER_S, f"throttled producer at {limited:.0f} B/s, quota {QUOTA_BYTES_PER_S}"
    assert limited > 0.25 * QUOTA_BYTES_PER_S, f"throttled producer starved at {limited:.0f} B/s"
    assert free > 5 * QUOTA_BYTES_PER_S, f"unthrottled producer only at {free:.0f} B/s"

    configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "clients", "--entity-name", throttled,
            "--delete-config", "producer_byte_rate")
    described = configs(kafka_classpath, bootstrap, "--describe", "--entity-type", "clients", "--entity-name",
                        throttled)
    assert "producer_byte_rate" not in described, described
    lifted = produced_bytes_per_s(bootstrap, topic, throttled, 4)
    print(f"after removal: {lifted:.0f} B/s")
    assert lifted > 5 * QUOTA_BYTES_PER_S, f"still throttled after removal: {lifted:.0f} B/s"


def test_consumer_byte_rate_throttles_a_consumer(bootstrap, kafka_classpath):
    """Fetch: the response bytes count; over the quota the consumer gets empty answers until its
    rate is back under it, so over ten seconds it reads about the quota per second."""
    from kafka import KafkaConsumer
    topic = harness.unique_topic("fetch-quota")
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, batch_size=64 * 1024)
    value = os.urandom(RECORD_BYTES)
    total_records = (40 * QUOTA_BYTES_PER_S) // RECORD_BYTES  # far more than 8 s of the quota
    try:
        for _ in range(total_records):
            producer.send(topic, value)
        producer.flush(60)
    finally:
        producer.close()
    client = f"slow-reader-{uuid.uuid4().hex[:8]}"
    configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "clients", "--entity-name", client,
            "--add-config", f"consumer_byte_rate={QUOTA_BYTES_PER_S}")
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, client_id=client, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=1000)
    # One Fetch may take up to the quota's whole window (quota * 10 s, Kafka's cap), after which
    # the consumer is muted until its rate is back under the quota: count from the first poll.
    try:
        read = 0
        start = time.monotonic()
        end = start + 10
        while time.monotonic() < end:
            for records in consumer.poll(timeout_ms=200).values():
                read += sum(len(r.value) for r in records)
    finally:
        consumer.close()
        configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "clients", "--entity-name", client,
                "--delete-config", "consumer_byte_rate")
    rate = read / 10
    print(f"\nconsumer quota {QUOTA_BYTES_PER_S} B/s: read {rate:.0f} B/s")
    assert 0 < rate < 2.5 * QUOTA_BYTES_PER_S, f"consumer read {rate:.0f} B/s under a {QUOTA_BYTES_PER_S} B/s quota"


def test_user_and_default_quotas_are_described(bootstrap, kafka_classpath):
    user = f"quota-user-{uuid.uuid4().hex[:8]}"
    configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "users", "--entity-name", user,
            "--add-config", "producer_byte_rate=1024,consumer_byte_rate=2048")
    configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "users", "--entity-default",
            "--entity-type", "clients", "--entity-default", "--add-config", "request_percentage=150")
    described = configs(kafka_classpath, bootstrap, "--describe", "--entity-type", "users", "--entity-name", user)
    assert "producer_byte_rate=1024" in described and "consumer_byte_rate=2048" in described, described
    defaults = configs(kafka_classpath, bootstrap, "--describe", "--entity-type", "users", "--entity-default",
                       "--entity-type", "clients", "--entity-default")
    assert "request_percentage=150" in defaults, defaults
    configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "users", "--entity-name", user,
            "--delete-config", "producer_byte_rate,consumer_byte_rate")
    configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "users", "--entity-default",
            "--entity-type", "clients", "--entity-default", "--delete-config", "request_percentage")
    described = configs(kafka_classpath, bootstrap, "--describe", "--entity-type", "users", "--entity-name", user)
    assert "byte_rate" not in described, described


# ---- AlterClientQuotas on the wire (v0): Kafka's refusals, per entity ----

def alter_client_quotas_v0(entries: list[tuple[list[tuple[str, str | None]], list[tuple[str, float, bool]]]],
                           validate_only: bool = False) -> bytes:
    body = struct.pack(">i", len(entries))
    for entity, ops in entries:
        body += struct.pack(">i", len(entity))
        for entity_type, name in entity:
            body += kw.encode_string(entity_type) + kw.encode_string(name)
        body += struct.pack(">i", len(ops))
        for key, value, remove in ops:
            body += kw.encode_string(key) + struct.pack(">d?", value, remove)
    body += struct.pack(">?", validate_only)
    return kw.request(49, 0, 7, body)


def parse_alter_client_quotas_v0(body: bytes) -> list[tuple[int, str | None, dict[str, str | None]]]:
    pos = 8  # correlation id, throttle time

    def string() -> str | None:
        nonlocal pos
        (n,) = struct.unpack_from(">h", body, pos)
        pos += 2
        if n < 0:
            return None
        s = body[pos:pos + n].decode()
        pos += n
        return s

    (count,) = struct.unpack_from(">i", body, pos)
    pos += 4
    out = []
    for _ in range(count):
        (code,) = struct.unpack_from(">h", body, pos)
        pos += 2
        message = string()
        (n,) = struct.unpack_from(">i", body, pos)
        pos += 4
        entity = {}
        for _ in range(n):
            t = string()
            entity[t] = string()
        out.append((code, message, entity))
    return out


INVALID_REQUEST = 42


@pytest.mark.parametrize("entity,ops,message", [
    ([("client-id", "c")], [("producer_byte_rate", 0.0, False)], "Quota producer_byte_rate must be greater than 0"),
    ([("client-id", "c")], [("producer_byte_rate", 1.5, False)], "producer_byte_rate cannot be a fractional value."),
    ([("client-id", "c")], [("no_such_quota", 1.0, False)], "Invalid configuration key no_such_quota"),
    ([("client-id", "")], [("producer_byte_rate", 1.0, False)], "Empty client-id not supported"),
    ([("group", "g")], [("producer_byte_rate", 1.0, False)], "Unhandled client quota entity type: group"),
    ([("ip", "10.1.2.3")], [("producer_byte_rate", 1.0, False)], "Invalid configuration key producer_byte_rate"),
    ([("client-id", "c")], [("producer_byte_rate", 1.0, False), ("producer_byte_rate", 2.0, False)],
     "Ignoring duplicate entity ClientQuotaEntity(entries={client-id=c})"),
])
def test_alter_client_quotas_refusals_match_kafka(bootstrap, entity, ops, message):
    body = kw.round_trip(bootstrap, alter_client_quotas_v0([(entity, ops)], validate_only=True))
    assert body is not None, "no AlterClientQuotas answer"
    results = parse_alter_client_quotas_v0(body)
    assert len(results) == 1, results
    code, got, _ = results[0]
    assert (code, got) == (INVALID_REQUEST, message)


def test_validate_only_changes_nothing_and_a_default_ip_rate_is_accepted(bootstrap, kafka_classpath):
    body = kw.round_trip(bootstrap, alter_client_quotas_v0(
        [([("ip", None)], [("connection_creation_rate", 100.0, False)]),
         ([("client-id", "validate-only")], [("producer_byte_rate", 1000.0, False)])], validate_only=True))
    results = parse_alter_client_quotas_v0(body)
    assert sorted((code, message) for code, message, _ in results) == [(0, None), (0, None)], results
    described = configs(kafka_classpath, bootstrap, "--describe", "--entity-type", "clients", "--entity-name",
                        "validate-only")
    assert "producer_byte_rate" not in described, described


# ---- connection limits ----

def client_connection(bootstrap: str) -> socket.socket:
    host, port = bootstrap.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(10)
    s.bind((CLIENT_ADDRESS, 0))
    s.connect((host, int(port)))
    return s


def answered(s: socket.socket) -> bool:
    try:
        s.sendall(kw.api_versions_request(1, 0))
        return kw.read_response(s) is not None
    except OSError:
        return False


def test_max_connections_per_ip_override_closes_the_connection_over_the_limit(bootstrap):
    held = [client_connection(bootstrap) for _ in range(PER_IP_LIMIT)]
    try:
        assert all(answered(s) for s in held), "a connection within the per-IP limit was not served"
        extra = client_connection(bootstrap)
        with extra:
            assert kw.wait_closed(extra), "a connection over max.connections.per.ip.overrides stayed open"
        # Once one closes, the address may connect again (the broker notices the close first).
        held.pop().close()
        deadline = time.monotonic() + 15
        ok = False
        while not ok and time.monotonic() < deadline:
            s = client_connection(bootstrap)
            ok = answered(s)
            if ok:
                held.append(s)
            else:
                s.close()
                time.sleep(0.2)
        assert ok, "no connection accepted again after one of the address's connections closed"
    finally:
        for s in held:
            s.close()


@pytest.mark.gregor_only
def test_throttles_are_in_the_metrics(node, bootstrap, kafka_classpath):
    if node.impl_name != "gregor":
        pytest.skip("Kafka has no /metrics of ours")
    topic = harness.unique_topic("quota-metrics")
    client = f"metered-{uuid.uuid4().hex[:8]}"
    configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "clients", "--entity-name", client,
            "--add-config", "producer_byte_rate=4096")
    try:
        produced_bytes_per_s(bootstrap, topic, client, 3)
        n = node.nodes[1]
        with urllib.request.urlopen(f"http://{n.host}:{n.http_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        lines = [l for l in text.splitlines() if f'client_id="{client}"' in l]
        throttled = [l for l in lines if l.startswith("gregor_quota_throttle_time_ms_total{") and 'type="produce"' in l]
        assert throttled and float(throttled[0].rsplit(" ", 1)[1]) > 0, "\n".join(lines) or "no quota metrics"
        limit = [l for l in lines if l.startswith("gregor_quota_byte_rate_limit{")]
        assert limit and float(limit[0].rsplit(" ", 1)[1]) == 4096, "\n".join(lines)
    finally:
        configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "clients", "--entity-name", client,
                "--delete-config", "producer_byte_rate")
