"""Proves the empty group id is served like Apache Kafka 4.x serves it: OffsetCommit and OffsetFetch
accept "" (Kafka keeps it for backwards compatibility: a "simple" commit with generation -1 is
stored and fetched back), while JoinGroup with "" gets INVALID_GROUP_ID. Runs unchanged against
a real Kafka (KAFKA_BOOTSTRAP), with hand-built frames so no client library filters the id."""
from __future__ import annotations

import struct

import clients
import harness
import kafka_wire as kw

API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
API_FIND_COORDINATOR = 10
API_JOIN_GROUP = 11
COORDINATOR_NOT_AVAILABLE = 15
COORDINATOR_LOAD_IN_PROGRESS = 14
INVALID_GROUP_ID = 24


def offset_commit_v2(corr: int, group: str, topic: str, partition: int, offset: int) -> bytes:
    body = (kw.encode_string(group) + struct.pack(">i", -1) + kw.encode_string("") + struct.pack(">q", -1)
            + struct.pack(">i", 1) + kw.encode_string(topic) + struct.pack(">i", 1)
            + struct.pack(">iq", partition, offset) + kw.encode_string("meta"))
    return kw.request(API_OFFSET_COMMIT, 2, corr, body)


def parse_offset_commit_v2(body: bytes) -> dict[tuple[str, int], int]:
    r = kw.reader(body)
    r.take(">i")
    out = {}
    for _ in range(r.take(">i")):
        name = r.string()
        for _ in range(r.take(">i")):
            p, err = r.take(">ih")
            out[(name, p)] = err
    return out


def offset_fetch_v1(corr: int, group: str, topic: str, partition: int) -> bytes:
    body = (kw.encode_string(group) + struct.pack(">i", 1) + kw.encode_string(topic)
            + struct.pack(">ii", 1, partition))
    return kw.request(API_OFFSET_FETCH, 1, corr, body)


def parse_offset_fetch_v1(body: bytes) -> dict[tuple[str, int], tuple[int, str, int]]:
    r = kw.reader(body)
    r.take(">i")
    out = {}
    for _ in range(r.take(">i")):
        name = r.string()
        for _ in range(r.take(">i")):
            p, off = r.take(">iq")
            meta = r.string()
            err = r.take(">h")
            out[(name, p)] = (off, meta, err)
    return out


def find_coordinator_v0(corr: int, key: str) -> bytes:
    return kw.request(API_FIND_COORDINATOR, 0, corr, kw.encode_string(key))


def join_group_v1(corr: int, group: str) -> bytes:
    body = (kw.encode_string(group) + struct.pack(">ii", 10000, 30000) + kw.encode_string("")
            + kw.encode_string("consumer") + struct.pack(">i", 1) + kw.encode_string("range")
            + struct.pack(">i", 0))
    return kw.request(API_JOIN_GROUP, 1, corr, body)


def wait_for_coordinator(bootstrap: str) -> None:
    """The offsets topic exists and is loaded (FindCoordinator creates it on both brokers)."""
    def ready():
        body = kw.round_trip(bootstrap, find_coordinator_v0(1, "any-group"))
        return body is not None and kw.reader(body[4:]).take(">h") == 0
    harness.wait_until(ready, timeout_s=60, interval_s=0.5, what="a group coordinator")


def test_empty_group_id_commits_and_fetches_offsets_like_kafka(bootstrap):
    topic = harness.unique_topic("emptygid")
    clients.create_topic(bootstrap, topic, partitions=1)
    wait_for_coordinator(bootstrap)
    errors = {}

    def committed():
        errors.update(parse_offset_commit_v2(kw.round_trip(bootstrap, offset_commit_v2(2, "", topic, 0, 42))))
        return errors.get((topic, 0)) not in (COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS)
    harness.wait_until(committed, timeout_s=30, interval_s=0.5, what="the commit to reach a coordinator")
    assert errors == {(topic, 0): 0}
    fetched = parse_offset_fetch_v1(kw.round_trip(bootstrap, offset_fetch_v1(3, "", topic, 0)))
    assert fetched == {(topic, 0): (42, "meta", 0)}


def test_empty_group_id_cannot_join(bootstrap):
    wait_for_coordinator(bootstrap)
    body = kw.round_trip(bootstrap, join_group_v1(4, ""))
    r = kw.reader(body)
    r.take(">i")
    assert r.take(">h") == INVALID_GROUP_ID
