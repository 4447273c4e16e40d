"""Proves DescribeTopicPartitions (key 75, KIP-966) is served as Apache Kafka 4.x serves it: the Java
AdminClient's describeTopics (kafka-topics.sh --describe) gets the same answer paged two partitions
at a time as in one response, and hand-built requests see Kafka's paging rules (topics sorted by
name, the limit, NextCursor, a cursor restarting mid-topic, errors per topic). Runs unchanged
against a real Kafka (KAFKA_BOOTSTRAP)."""
from __future__ import annotations

import re
import struct
import uuid

import pytest

import clients
import harness
import kafka_wire as kw

API_DESCRIBE_TOPIC_PARTITIONS = 75
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
INVALID_REQUEST = 42
# With no authorizer Kafka reports every operation a topic supports: READ, WRITE, CREATE, DELETE,
# ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS (AclOperation codes 3-8, 10, 11).
TOPIC_OPERATIONS_ALL = sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))
TOPIC_TOOL = "org.apache.kafka.tools.TopicCommand"


# ---- hand-built DescribeTopicPartitions v0 (flexible: compact strings and arrays, tagged fields)

def dtp_request(corr: int, topics: list[str], limit: int = 2000,
                cursor: tuple[str, int] | None = None) -> bytes:
    body = kw.encode_uvarint(len(topics) + 1)
    for name in topics:
        body += kw.encode_compact_string(name) + b"\x00"
    body += struct.pack(">i", limit)
    if cursor is None:
        body += b"\xff"  # null struct
    else:
        body += b"\x01" + kw.encode_compact_string(cursor[0]) + struct.pack(">i", cursor[1]) + b"\x00"
    body += b"\x00"
    return kw.request(API_DESCRIBE_TOPIC_PARTITIONS, 0, corr, body, flexible=True)


def _compact_string(r: kw.reader) -> str | None:
    n = r.uvarint() - 1
    if n < 0:
        return None
    raw = r.data[r.pos:r.pos + n]
    r.pos += n
    return raw.decode()


def _int32_array(r: kw.reader) -> list[int] | None:
    n = r.uvarint() - 1
    return None if n < 0 else [r.take(">i") for _ in range(n)]


def parse_dtp_response(body: bytes, corr: int) -> dict:
    """{"topics": [{name, error, id, internal, ops, partitions: [{...}]}], "cursor": (name, p) | None}"""
    r = kw.reader(body)
    assert r.take(">i") == corr
    r.skip_tagged_fields()  # response header v1
    r.take(">i")  # throttle_time_ms
    topics = []
    for _ in range(r.uvarint() - 1):
        t = {"error": r.take(">h"), "name": _compact_string(r), "id": uuid.UUID(bytes=r.take(">16s")),
             "internal": r.take(">?"), "partitions": []}
        for _ in range(r.uvarint() - 1):
            p = {"error": r.take(">h"), "index": r.take(">i"), "leader": r.take(">i"), "epoch": r.take(">i"),
                 "replicas": _int32_array(r), "isr": _int32_array(r), "elr": _int32_array(r),
                 "last_known_elr": _int32_array(r), "offline": _int32_array(r)}
            r.skip_tagged_fields()
            t["partitions"].append(p)
        t["ops"] = r.take(">i")
        r.skip_tagged_fields()
        topics.append(t)
    cursor = None
    if r.take(">b") >= 0:  # nullable struct: -1 = null, 1 = present
        cursor = (_compact_string(r), r.take(">i"))
        r.skip_tagged_fields()
    r.skip_tagged_fields()
    assert r.pos == len(body), "trailing bytes after the response"
    return {"topics": topics, "cursor": cursor}


def describe(bootstrap: str, topics: list[str], limit: int = 2000,
             cursor: tuple[str, int] | None = None) -> dict:
    body = kw.round_trip(bootstrap, dtp_request(7, topics, limit, cursor))
    assert body is not None, "the broker closed the connection"
    return parse_dtp_response(body, 7)


def pages(resp: dict) -> list[tuple[str, list[int]]]:
    """The response as [(topic, [partition indexes])]."""
    return [(t["name"], [p["index"] for p in t["partitions"]]) for t in resp["topics"]]


@pytest.fixture(scope="module")
def three_topics(broker) -> list[str]:
    """Topics <prefix>-a, -b, -c with 3, 2 and 1 partitions (sorted as listed)."""
    prefix = harness.unique_topic("dtp")
    names = [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    for name, partitions in zip(names, (3, 2, 1)):
        clients.create_topic(broker.bootstrap, name, partitions)
    return names


def test_api_versions_advertise_describe_topic_partitions_v0(bootstrap):
    body = kw.round_trip(bootstrap, kw.api_versions_request(1, 3))
    _, error, apis = kw.parse_api_versions(body, 3)
    assert error == 0
    assert apis.get(API_DESCRIBE_TOPIC_PARTITIONS, (0, -1))[0] == 0
    assert apis[API_DESCRIBE_TOPIC_PARTITIONS][1] >= 0


def test_named_topics_come_back_sorted_with_partitions_and_per_topic_errors(bootstrap, three_topics):
    a, b, c = three_topics
    missing = a[:-2] + "-missing"
    invalid = "no such/topic"
    resp = describe(bootstrap, [c, invalid, a, missing, b, a])
    assert [t["name"] for t in resp["topics"]] == sorted({a, b, c, missing, invalid})
    assert resp["cursor"] is None
    by_name = {t["name"]: t for t in resp["topics"]}

    for name, count in zip(three_topics, (3, 2, 1)):
        t = by_name[name]
        assert t["error"] == 0 and t["id"].int != 0 and not t["internal"]
        assert t["ops"] == TOPIC_OPERATIONS_ALL
        assert [p["index"] for p in t["partitions"]] == list(range(count))
        for p in t["partitions"]:
            assert p["error"] == 0
            assert p["leader"] in p["replicas"] and p["epoch"] >= 0
            assert len(p["replicas"]) == 1 and p["isr"] == p["replicas"]
            assert p["elr"] == [] and p["last_known_elr"] == [] and p["offline"] == []
    assert len({by_name[n]["id"] for n in three_topics}) == 3

    assert by_name[missing]["error"] == UNKNOWN_TOPIC_OR_PARTITION
    assert by_name[invalid]["error"] == INVALID_TOPIC_EXCEPTION
    for name in (missing, invalid):
        assert by_name[name]["id"].int == 0 and by_name[name]["partitions"] == []


def test_the_partition_limit_pages_through_topics_with_next_cursor(bootstrap, three_topics):
    a, b, c = three_topics
    first = describe(bootstrap, three_topics, limit=2)
    assert pages(first) == [(a, [0, 1])] and first["cursor"] == (a, 2)
    # The client names every topic it still wants; the cursor restarts its topic mid-way and the
    # others from partition 0.
    second = describe(bootstrap, three_topics, limit=2, cursor=first["cursor"])
    assert pages(second) == [(a, [2]), (b, [0])] and second["cursor"] == (b, 1)
    third = describe(bootstrap, three_topics, limit=2, cursor=second["cursor"])
    assert pages(third) == [(b, [1]), (c, [0])] and third["cursor"] is None


def test_a_limit_used_up_exactly_points_the_cursor_at_the_next_topic(bootstrap, three_topics):
    a, b, c = three_topics
    resp = describe(bootstrap, three_topics, limit=3)
    assert pages(resp) == [(a, [0, 1, 2])] and resp["cursor"] == (b, 0)
    # Limits below 1 are served as 1.
    resp = describe(bootstrap, three_topics, limit=0)
    assert pages(resp) == [(a, [0])] and resp["cursor"] == (a, 1)


def test_unknown_topics_take_none_of_the_limit(bootstrap, three_topics):
    a, b, _ = three_topics
    missing = a + "-missing"  # sorts between -a and -b
    resp = describe(bootstrap, [a, missing, b], limit=4)
    assert pages(resp) == [(a, [0, 1, 2]), (missing, []), (b, [0])] and resp["cursor"] == (b, 1)
    assert resp["topics"][1]["error"] == UNKNOWN_TOPIC_OR_PARTITION


def test_all_topics_from_a_cursor_start_at_the_cursor(bootstrap, three_topics):
    _, b, c = three_topics
    resp = describe(bootstrap, [], limit=2, cursor=(b, 1))
    assert pages(resp)[:2] == [(b, [1]), (c, [0])]
    assert len(resp["topics"]) == 2
    # Whatever else the broker holds sorts after c or is not there at all.
    assert resp["cursor"] is None or (resp["cursor"][0] > c and resp["cursor"][1] == 0)
    assert all(t["error"] == 0 for t in resp["topics"])


def test_a_cursor_past_the_last_partition_gives_the_topic_without_partitions(bootstrap, three_topics):
    a, b, _ = three_topics
    resp = describe(bootstrap, [a, b], cursor=(a, 10))
    assert pages(resp) == [(a, []), (b, [0, 1])] and resp["cursor"] is None
    assert resp["topics"][0]["error"] == 0


def test_bad_cursors_are_invalid_requests_for_every_named_topic(bootstrap, three_topics):
    a, b, c = three_topics
    # The cursor's topic must be one of the named topics.
    resp = describe(bootstrap, [b, a], cursor=(c, 0))
    assert [(t["name"], t["error"], t["partitions"]) for t in resp["topics"]] == [
        (b, INVALID_REQUEST, []), (a, INVALID_REQUEST, [])]
    assert resp["cursor"] is None
    # A negative partition index is refused too.
    resp = describe(bootstrap, [a], cursor=(a, -1))
    assert [(t["name"], t["error"]) for t in resp["topics"]] == [(a, INVALID_REQUEST)]


# ---- the Java AdminClient through kafka-topics.sh

_PARTITION_LINE = re.compile(r"Topic: (\S+)\s+Partition: (\d+)\s+Leader: (\S+)\s+Replicas: (\S+)\s+Isr: (\S+)")


def _describe_cli(kafka_classpath: str, bootstrap: str, pattern: str, *extra: str) -> str:
    return harness.ok(harness.run_java_tool(kafka_classpath, TOPIC_TOOL, "--bootstrap-server", bootstrap,
                                            "--describe", "--topic", pattern, *extra))


@pytest.mark.java
@pytest.mark.timeout(300)
def test_kafka_topics_describe_pages_through_every_partition(bootstrap, kafka_classpath):
    prefix = harness.unique_topic("dtpcli")
    layout = {f"{prefix}-x": 5, f"{prefix}-y": 1, f"{prefix}-z": 3}
    for name, partitions in layout.items():
        clients.create_topic(bootstrap, name, partitions)

    whole = _describe_cli(kafka_classpath, bootstrap, f"{prefix}-.*")
    paged = _describe_cli(kafka_classpath, bootstrap, f"{prefix}-.*", "--partition-size-limit-per-response", "2")
    assert paged == whole, "two partitions per response must describe the same as one response"

    seen: dict[str, list[int]] = {}
    for topic, partition, leader, replicas, isr in _PARTITION_LINE.findall(paged):
        assert leader != "none" and leader in replicas.split(","), (topic, partition, leader, replicas)
        assert isr == replicas
        seen.setdefault(topic, []).append(int(partition))
    assert seen == {name: list(range(n)) for name, n in layout.items()}, paged
    for name, n in layout.items():
        assert re.search(rf"Topic: {re.escape(name)}\s+TopicId: \S+\s+PartitionCount: {n}\s", paged), paged
