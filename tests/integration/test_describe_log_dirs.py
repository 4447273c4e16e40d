"""Proves DescribeLogDirs (key 35) is served as Apache Kafka 4.x serves it on one broker: Kafka's
`kafka-log-dirs.sh` (LogDirsCommand, Admin.describeLogDirs) lists the log directory with every
replica, sizes grow with what is produced, and hand-built v1 (oldest) and v4 (volume sizes)
requests see Kafka's rules: null topics = every replica, named partitions the broker has none of are
left out, OffsetLag 0 on a leader, IsFutureKey false; a forged array count closes the connection.
Runs unchanged against a real Kafka (KAFKA_BOOTSTRAP)."""
from __future__ import annotations

import json
import struct

import pytest

import clients
import harness
import kafka_wire as kw

API_DESCRIBE_LOG_DIRS = 35
LOG_DIRS_TOOL = "org.apache.kafka.tools.LogDirsCommand"


def broker_ids(bootstrap: str) -> list[int]:
    return sorted(clients.admin(bootstrap).list_topics(timeout=20).brokers)


def log_dirs_tool(classpath: str, bootstrap: str, *args: str) -> dict:
    """The JSON kafka-log-dirs.sh --describe prints (its last line), as a dict."""
    out = harness.ok(harness.run_java_tool(classpath, LOG_DIRS_TOOL, "--bootstrap-server", bootstrap,
                                           "--describe", *args))
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, out
    return json.loads(lines[-1])


def replicas_of(described: dict) -> dict[int, dict[str, dict]]:
    """{broker: {"topic-partition": {size, offsetLag, isFuture, logDir}}} from the tool's JSON."""
    out: dict[int, dict[str, dict]] = {}
    for b in described["brokers"]:
        seen = out.setdefault(b["broker"], {})
        for d in b["logDirs"]:
            assert d["error"] is None, b
            assert d["logDir"].startswith("/"), d
            for p in d["partitions"]:
                assert p["partition"] not in seen, f"{p['partition']} listed twice on broker {b['broker']}"
                seen[p["partition"]] = {**p, "logDir": d["logDir"]}
    return out


# ---- hand-built requests: v1 (classic encoding) and v4 (flexible, volume sizes)

def request_v1(corr: int, topics: dict[str, list[int]] | None) -> bytes:
    if topics is None:
        body = struct.pack(">i", -1)
    else:
        body = struct.pack(">i", len(topics))
        for name, parts in topics.items():
            body += kw.encode_string(name) + struct.pack(">i", len(parts))
            body += b"".join(struct.pack(">i", p) for p in parts)
    return kw.request(API_DESCRIBE_LOG_DIRS, 1, corr, body)


def request_v4(corr: int, topics: dict[str, list[int]] | None) -> bytes:
    if topics is None:
        body = b"\x00"
    else:
        body = kw.encode_uvarint(len(topics) + 1)
        for name, parts in topics.items():
            body += kw.encode_compact_string(name) + kw.encode_uvarint(len(parts) + 1)
            body += b"".join(struct.pack(">i", p) for p in parts) + b"\x00"
    body += b"\x00"
    return kw.request(API_DESCRIBE_LOG_DIRS, 4, corr, body, flexible=True)


def _compact_string(r: kw.reader) -> str:
    n = r.uvarint() - 1
    raw = r.data[r.pos:r.pos + n]
    r.pos += n
    return raw.decode()


def parse_response(body: bytes, version: int, corr: int) -> dict:
    """{"error": int|None, "dirs": [{error, dir, total, usable, replicas: {(topic, p): (size, lag, future)}}]}"""
    flexible = version >= 2
    r = kw.reader(body)
    assert r.take(">i") == corr
    if flexible:
        r.skip_tagged_fields()  # response header v1
    r.take(">i")  # throttle
    top_error = r.take(">h") if version >= 3 else None
    count = lambda: r.uvarint() - 1 if flexible else r.take(">i")  # noqa: E731
    string = (lambda: _compact_string(r)) if flexible else r.string
    dirs = []
    for _ in range(count()):
        d = {"error": r.take(">h"), "dir": string(), "replicas": {}}
        for _ in range(count()):
            name = string()
            for _ in range(count()):
                index, size, lag, future = r.take(">iqqb")
                d["replicas"][(name, index)] = (size, lag, bool(future))
                if flexible:
                    r.skip_tagged_fields()
            if flexible:
                r.skip_tagged_fields()
        if version >= 4:
            d["total"], d["usable"] = r.take(">qq")
        if flexible:
            r.skip_tagged_fields()
        dirs.append(d)
    if flexible:
        r.skip_tagged_fields()
    assert r.pos == len(body), f"{len(body) - r.pos} bytes left over"
    return {"error": top_error, "dirs": dirs}


@pytest.fixture(scope="module")
def topic(broker) -> str:
    name = harness.unique_topic("logdirs")
    clients.create_topic(broker.bootstrap, name, 2)
    return name


def test_api_versions_advertise_describe_log_dirs_v1_to_at_least_v4(bootstrap):
    _, error, apis = kw.parse_api_versions(kw.round_trip(bootstrap, kw.api_versions_request(1, 3)), 3)
    assert error == 0
    low, high = apis[API_DESCRIBE_LOG_DIRS]
    assert low <= 1 and high >= 4, (low, high)


def test_log_dirs_tool_lists_every_replica_and_sizes_grow_with_produce(bootstrap, kafka_classpath, topic):
    (broker,) = broker_ids(bootstrap)
    args = ("--broker-list", str(broker), "--topic-list", topic)
    before = replicas_of(log_dirs_tool(kafka_classpath, bootstrap, *args))
    assert set(before) == {broker}
    assert set(before[broker]) == {f"{topic}-0", f"{topic}-1"}, before
    for p in before[broker].values():
        assert p["size"] >= 0 and p["offsetLag"] == 0 and p["isFuture"] is False, p

    payload = b"x" * 200
    clients.produce_all(bootstrap, topic, [{"value": payload, "partition": 0}] * 50)
    after = replicas_of(log_dirs_tool(kafka_classpath, bootstrap, *args))[broker]
    grown = after[f"{topic}-0"]["size"] - before[broker][f"{topic}-0"]["size"]
    print(f"{topic}-0 grew by {grown} bytes for {50 * len(payload)} bytes of values")
    assert grown >= 50 * len(payload), (before, after)
    assert after[f"{topic}-1"]["size"] == before[broker][f"{topic}-1"]["size"], after
    assert all(p["offsetLag"] == 0 for p in after.values()), after

    # No --topic-list: every replica of the broker (null Topics), ours among them.
    everything = replicas_of(log_dirs_tool(kafka_classpath, bootstrap, "--broker-list", str(broker)))[broker]
    assert {f"{topic}-0", f"{topic}-1"} <= set(everything), everything
    assert everything[f"{topic}-0"]["size"] >= after[f"{topic}-0"]["size"]


@pytest.mark.parametrize("version", [1, 4])
def test_named_partitions_only_and_unknown_ones_left_out(bootstrap, topic, version):
    build = request_v1 if version == 1 else request_v4
    wanted = {topic: [1, 7], "no-such-topic-logdirs": [0]}
    resp = parse_response(kw.round_trip(bootstrap, build(5, wanted)), version, 5)
    assert resp["error"] in (None, 0)
    assert len(resp["dirs"]) >= 1
    replicas = {}
    for d in resp["dirs"]:
        assert d["error"] == 0 and d["dir"].startswith("/"), d
        replicas.update(d["replicas"])
    assert set(replicas) == {(topic, 1)}, replicas
    size, lag, future = replicas[(topic, 1)]
    assert size >= 0 and lag == 0 and future is False


def test_v4_reports_the_volume_and_null_topics_mean_every_replica(bootstrap, topic):
    resp = parse_response(kw.round_trip(bootstrap, request_v4(6, None)), 4, 6)
    assert resp["error"] == 0
    dirs_with_topic = [d for d in resp["dirs"] if (topic, 0) in d["replicas"]]
    assert len(dirs_with_topic) == 1, resp
    d = dirs_with_topic[0]
    assert (topic, 1) in d["replicas"]
    assert d["total"] > 0 and 0 <= d["usable"] <= d["total"], d


def test_empty_topic_list_describes_no_replica(bootstrap, topic):
    resp = parse_response(kw.round_trip(bootstrap, request_v1(7, {})), 1, 7)
    assert all(d["replicas"] == {} for d in resp["dirs"]), resp


def test_forged_topic_count_closes_the_connection(bootstrap):
    frame = kw.request(API_DESCRIBE_LOG_DIRS, 1, 8, struct.pack(">i", 0x7FFFFFF0))
    with kw.connect(bootstrap) as sock:
        sock.sendall(frame)
        assert kw.wait_closed(sock), "the broker kept the connection after a forged array count"
