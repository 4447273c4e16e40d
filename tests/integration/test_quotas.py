"""Client quotas and connection limits, Kafka's model: kafka-configs.sh sets producer_byte_rate for a
client id (AlterClientQuotas, stored as ClientQuotaRecord), --describe shows it
(DescribeClientQuotas), a producer over it is throttled to about that rate while another client id
goes far faster, and removing it lifts the throttle; AlterClientQuotas refuses bad entities, keys and
values with Kafka's errors; max.connections.per.ip.overrides closes a connection over the limit.
request_percentage (KIP-124) throttles a client id whose requests take more io-thread time than its
share; controller_mutation_rate (KIP-599) refuses the topics of CreateTopics v6+ / CreatePartitions
v3+ / DeleteTopics v5+ once the client id's token bucket is empty (THROTTLING_QUOTA_EXCEEDED) and only
throttles older versions; an ips entity's connection_creation_rate (KIP-612) closes, unserved, the
connections from that address over the rate.

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
from kafka_wire import compact_array, compact_string_or_null, create_topics_v6, flexible_response_head, parse_create_topics_v6

pytestmark = [pytest.mark.cluster]

CONFIG_COMMAND = "kafka.admin.ConfigCommand"  # kafka-configs.sh
CLIENT_ADDRESS = "127.0.0.2"
RATE_LIMITED_ADDRESS = "127.0.0.3"  # connection_creation_rate (127.0.0.2 has a connection count limit)
FREE_ADDRESS = "127.0.0.4"
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


# ---- request_percentage (KIP-124) ----

def metadata_v4_no_topics(correlation_id: int, client_id: str) -> bytes:
    """Metadata v4 asking for no topic: cheap, and its answer carries throttle_time_ms."""
    body = struct.pack(">i?", 0, False)
    return kw.request(kw.API_METADATA, 4, correlation_id, body, client_id=client_id)


def metadata_throttle_ms(sock: socket.socket, correlation_id: int, client_id: str) -> int:
    sock.sendall(metadata_v4_no_topics(correlation_id, client_id))
    body = kw.read_response(sock)
    assert body is not None, "connection closed"
    corr, throttle_ms = struct.unpack_from(">ii", body)
    assert corr == correlation_id
    return throttle_ms


def first_throttle(bootstrap: str, client_id: str, requests_max: int, seconds_max: float) -> tuple[int, int]:
    """Sends Metadata requests back to back on one connection until an answer is throttled:
    (requests answered, its throttle_time_ms), or (requests_max, 0)."""
    with kw.connect(bootstrap) as sock:
        deadline = time.monotonic() + seconds_max
        for i in range(1, requests_max + 1):
            t = metadata_throttle_ms(sock, i, client_id)
            if t > 0 or time.monotonic() > deadline:
                return i, t
    return requests_max, 0


def test_request_percentage_throttles_a_client_id_and_mutes_its_connection(bootstrap, kafka_classpath):
    """A request quota of 0.01 % of one io thread: a few hundred Metadata requests use more than
    that over the 10 s window, so an answer comes back with throttle_time_ms, at most one quota
    window (Kafka's bound), and the connection is muted for it: the next answer waits. Another
    client id, without a quota, is never throttled; removing the quota lifts the throttle."""
    client = f"busy-{uuid.uuid4().hex[:8]}"
    configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "clients", "--entity-name", client,
            "--add-config", "request_percentage=0.01")
    try:
        described = configs(kafka_classpath, bootstrap, "--describe", "--entity-type", "clients",
                            "--entity-name", client)
        assert "request_percentage=0.01" in described, described
        with kw.connect(bootstrap) as sock:
            # The first throttle is small (the rate just crossed the quota); a client that keeps
            # sending takes the rate further over, up to a throttle long enough to observe.
            throttle_ms = 0
            deadline = time.monotonic() + 30
            n = first = 0
            while throttle_ms < 200 and time.monotonic() < deadline:
                n += 1
                throttle_ms = metadata_throttle_ms(sock, n, client)
                assert throttle_ms <= 1000, f"throttle {throttle_ms} ms beyond one quota window"
                if throttle_ms > 0 and not first:
                    first = n
            print(f"\nrequest_percentage=0.01: first throttled after {first} requests, {throttle_ms} ms after {n}")
            assert first > 0, f"{n} requests in 30 s never throttled under request_percentage=0.01"
            assert throttle_ms >= 200, f"throttles stayed below 200 ms over {n} requests"
            # Muted for the throttle time: the next request is read (and answered) only after it.
            start = time.monotonic()
            metadata_throttle_ms(sock, n + 1, client)
            waited_ms = (time.monotonic() - start) * 1000
            print(f"next answer after {waited_ms:.0f} ms")
            assert waited_ms >= 0.5 * throttle_ms, f"answered after {waited_ms:.0f} ms, throttled for {throttle_ms}"
        free_n, free_throttle = first_throttle(bootstrap, f"free-{uuid.uuid4().hex[:8]}", first + 50, 30)
        assert free_throttle == 0, f"a client id without a request quota throttled after {free_n} requests"
    finally:
        configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "clients", "--entity-name", client,
                "--delete-config", "request_percentage")
    # Lifted: wait for an unthrottled answer, then many in a row stay unthrottled.
    deadline = time.monotonic() + 15
    lifted = False
    while not lifted and time.monotonic() < deadline:
        with kw.connect(bootstrap) as sock:
            lifted = metadata_throttle_ms(sock, 1, client) == 0
    assert lifted, "still throttled after request_percentage was removed"
    n, t = first_throttle(bootstrap, client, 300, 30)
    assert t == 0, f"throttled for {t} ms after {n} requests once the quota was removed"


# ---- controller_mutation_rate (KIP-599) ----

THROTTLING_QUOTA_EXCEEDED = 89
THROTTLING_MESSAGE = None  # Kafka's ApiError drops the error's default message
MUTATION_RATE = 1  # partitions per second: a bucket of 11 (controller.quota.window.num 11 x 1 s)


def create_topics_v4(correlation_id: int, client_id: str, topics: list[tuple[str, int]]) -> bytes:
    frame = kw.create_topics_request_v4(correlation_id, [(name, n, 1) for name, n in topics])
    size, = struct.unpack_from(">i", frame)
    payload = frame[4:]
    key, version, corr = struct.unpack_from(">hhi", payload)
    return kw.request(key, version, corr, payload[8 + 2 + len("gregor-itest"):], client_id=client_id)


def create_partitions_v3(correlation_id: int, client_id: str, topic: str, count: int) -> bytes:
    body = compact_array([kw.encode_compact_string(topic) + struct.pack(">i", count) + b"\x00" + b"\x00"])
    body += struct.pack(">i?", 30000, False) + b"\x00"
    return kw.request(37, 3, correlation_id, body, client_id=client_id, flexible=True)


def parse_create_partitions_v3(body: bytes) -> tuple[int, dict[str, tuple[int, str | None]]]:
    r, throttle_ms = flexible_response_head(body)
    out = {}
    for _ in range(r.uvarint() - 1):
        name = compact_string_or_null(r)
        error = r.take(">h")
        out[name] = (error, compact_string_or_null(r))
        r.skip_tagged_fields()
    return throttle_ms, out


def delete_topics(correlation_id: int, client_id: str, version: int, names: list[str]) -> bytes:
    """DeleteTopics v4 or v5 (flexible, topic names)."""
    body = compact_array([kw.encode_compact_string(n) for n in names]) + struct.pack(">i", 30000) + b"\x00"
    return kw.request(20, version, correlation_id, body, client_id=client_id, flexible=True)


def parse_delete_topics(body: bytes, version: int) -> tuple[int, dict[str, int]]:
    r, throttle_ms = flexible_response_head(body)
    out = {}
    for _ in range(r.uvarint() - 1):
        name = compact_string_or_null(r)
        error = r.take(">h")
        if version >= 5:
            compact_string_or_null(r)
        r.skip_tagged_fields()
        out[name] = error
    return throttle_ms, out


def test_controller_mutation_rate_strict_and_permissive(bootstrap, kafka_classpath):
    """controller_mutation_rate=1 for a client id: a bucket of 11 partitions. One CreateTopics v6
    asks for 10 + 5 + 1 partitions: the first two topics are accepted (the one crossing zero
    included), the third gets THROTTLING_QUOTA_EXCEEDED and the answer about 4 s of throttle.
    While the bucket is below zero, CreatePartitions v3 and DeleteTopics v5 are refused the same
    way; CreateTopics v4 and DeleteTopics v4 (permissive) are carried out and throttled. Another
    client id is not limited; once the bucket refills, the client may create again."""
    client = f"admin-{uuid.uuid4().hex[:8]}"
    configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "clients", "--entity-name", client,
            "--add-config", f"controller_mutation_rate={MUTATION_RATE}")
    try:
        described = configs(kafka_classpath, bootstrap, "--describe", "--entity-type", "clients",
                            "--entity-name", client)
        assert f"controller_mutation_rate={MUTATION_RATE}" in described, described
        a, b, c, d, e, f = (harness.unique_topic(x) for x in "abcdef")
        body = kw.round_trip(bootstrap, create_topics_v6(1, client, [(a, 10), (b, 5), (c, 1)]))
        throttle_ms, results = parse_create_topics_v6(body)
        print(f"\nCreateTopics v6 10+5+1 partitions at {MUTATION_RATE}/s: {results}, throttle {throttle_ms} ms")
        assert results[a][0] == 0 and results[b][0] == 0, results
        assert results[c] == (THROTTLING_QUOTA_EXCEEDED, THROTTLING_MESSAGE), results
        assert 2000 < throttle_ms <= 4500, f"throttle {throttle_ms} ms for a bucket at about -4 refilling at 1/s"
        started = time.monotonic()

        body = kw.round_trip(bootstrap, create_partitions_v3(2, client, a, 12))
        throttle_ms, results = parse_create_partitions_v3(body)
        assert results[a] == (THROTTLING_QUOTA_EXCEEDED, THROTTLING_MESSAGE), results
        assert throttle_ms > 0

        body = kw.round_trip(bootstrap, delete_topics(3, client, 5, [b]))
        throttle_ms, deleted = parse_delete_topics(body, 5)
        assert deleted == {b: THROTTLING_QUOTA_EXCEEDED}, deleted
        assert throttle_ms > 0

        # Older versions: permissive, carried out and throttled.
        body = kw.round_trip(bootstrap, create_topics_v4(4, client, [(d, 1)]))
        throttle_ms = struct.unpack_from(">i", body, 4)[0]
        assert kw.parse_create_topics_v4(body)[d][0] == 0, kw.parse_create_topics_v4(body)
        assert throttle_ms > 0, "a permissive CreateTopics over the quota was not throttled"
        body = kw.round_trip(bootstrap, delete_topics(5, client, 4, [d]))
        throttle_ms, deleted = parse_delete_topics(body, 4)
        assert deleted == {d: 0}, deleted
        assert throttle_ms > 0

        # Another client id has no quota.
        body = kw.round_trip(bootstrap, create_topics_v6(6, f"other-{uuid.uuid4().hex[:8]}", [(e, 20)]))
        throttle_ms, results = parse_create_topics_v6(body)
        assert results[e][0] == 0 and throttle_ms == 0, (results, throttle_ms)

        # The bucket refills at 1/s: refused until then (a refusal takes nothing), then accepted.
        n = 0
        while True:
            n += 1
            body = kw.round_trip(bootstrap, create_topics_v6(6 + n, client, [(f, 1)]))
            _, results = parse_create_topics_v6(body)
            if results[f][0] == 0:
                break
            assert results[f][0] == THROTTLING_QUOTA_EXCEEDED, results
            assert time.monotonic() - started < 30, "the mutation quota never refilled"
            time.sleep(0.25)  # polling interval of the refill condition
        waited = time.monotonic() - started
        print(f"accepted again after {waited:.1f} s")
        assert waited > 2, f"accepted again after {waited:.1f} s, the bucket was about 4 s below zero"
    finally:
        configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "clients", "--entity-name", client,
                "--delete-config", "controller_mutation_rate")


# ---- ip connection_creation_rate (KIP-612) ----

def connection_from(bootstrap: str, address: str) -> socket.socket:
    host, port = bootstrap.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(10)
    s.bind((address, 0))
    s.connect((host, int(port)))
    return s


def served_once(bootstrap: str, address: str) -> bool:
    """A new connection from `address` gets an ApiVersions answer (False: closed unanswered)."""
    with connection_from(bootstrap, address) as s:
        return answered(s)


IP_RATE = 5


def test_ip_connection_creation_rate_closes_connections_over_the_rate(bootstrap, kafka_classpath):
    """connection_creation_rate=5 for 127.0.0.3: connections opened one after another are served
    until the address's rate passes 5/s (Kafka's Rate counts a first burst over ten seconds, so
    about 50), then a connection is closed unanswered; over the next seconds about 5 a second are
    served. Another address is not limited, and deleting the quota lifts the limit."""
    configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "ips", "--entity-name", RATE_LIMITED_ADDRESS,
            "--add-config", f"connection_creation_rate={IP_RATE}")
    try:
        described = configs(kafka_classpath, bootstrap, "--describe", "--entity-type", "ips", "--entity-name",
                            RATE_LIMITED_ADDRESS)
        assert f"connection_creation_rate={IP_RATE}" in described, described
        served = 0
        refused = False
        while served < IP_RATE * 11 * 3 and not refused:
            if served_once(bootstrap, RATE_LIMITED_ADDRESS):
                served += 1
            else:
                refused = True
        print(f"\nconnection_creation_rate={IP_RATE}: {served} connections served before the first refusal")
        assert refused, f"{served} connections from {RATE_LIMITED_ADDRESS} served, none refused"
        assert IP_RATE <= served <= IP_RATE * 11 + 5, served
        assert served_once(bootstrap, FREE_ADDRESS), "an address without a quota was refused"
        # Over the next seconds the address gets about its rate.
        start = time.monotonic()
        later = 0
        while time.monotonic() - start < 4:
            later += served_once(bootstrap, RATE_LIMITED_ADDRESS)
        rate = later / (time.monotonic() - start)
        print(f"then {rate:.1f} connections/s served")
        assert rate < 2.5 * IP_RATE, f"{rate:.1f} connections/s served at a {IP_RATE}/s quota"
    finally:
        configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "ips", "--entity-name", RATE_LIMITED_ADDRESS,
                "--delete-config", "connection_creation_rate")
    deadline = time.monotonic() + 15
    ok = False
    while not ok and time.monotonic() < deadline:
        ok = served_once(bootstrap, RATE_LIMITED_ADDRESS)
    assert ok, "connections still refused after the quota was deleted"
    assert all(served_once(bootstrap, RATE_LIMITED_ADDRESS) for _ in range(IP_RATE * 11 * 2)), \
        "connections refused once the quota was deleted"


DEFAULT_RATED_ADDRESS = "127.0.0.5"
NODE_ADDRESS = "127.0.0.1"  # the node's own connections and the tools'


def test_default_ip_connection_creation_rate_applies_to_addresses_without_their_own(bootstrap, kafka_classpath):
    """The default ips entity limits every address without an ips entity of its own: 127.0.0.5
    is refused after about ten seconds' worth of its rate, while 127.0.0.1, named with a far
    higher rate first (the tools and the node's own connections come from it), is not."""
    configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "ips", "--entity-name", NODE_ADDRESS,
            "--add-config", "connection_creation_rate=100000")
    try:
        configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "ips", "--entity-default",
                "--add-config", f"connection_creation_rate={IP_RATE}")
        try:
            described = configs(kafka_classpath, bootstrap, "--describe", "--entity-type", "ips", "--entity-default")
            assert f"connection_creation_rate={IP_RATE}" in described, described
            served = 0
            while served < IP_RATE * 11 * 3 and served_once(bootstrap, DEFAULT_RATED_ADDRESS):
                served += 1
            print(f"\ndefault connection_creation_rate={IP_RATE}: {served} served before the first refusal")
            assert served < IP_RATE * 11 * 3, f"{served} connections from {DEFAULT_RATED_ADDRESS}, none refused"
            assert IP_RATE <= served <= IP_RATE * 11 + 5, served
            assert all(served_once(bootstrap, NODE_ADDRESS) for _ in range(IP_RATE * 11 * 2)), \
                f"{NODE_ADDRESS}, with its own far higher rate, was refused"
        finally:
            configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "ips", "--entity-default",
                    "--delete-config", "connection_creation_rate")
    finally:
        configs(kafka_classpath, bootstrap, "--alter", "--entity-type", "ips", "--entity-name", NODE_ADDRESS,
                "--delete-config", "connection_creation_rate")
