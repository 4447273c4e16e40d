"""Offset commits in a cluster are replicated before they are acknowledged (issue #12 item 3).

Kafka writes a group's offset commit to its `__consumer_offsets` partition with acks=all: the
OffsetCommit is answered once the partition's high watermark covers the write, and OffsetFetch shows
only committed offsets. A commit the in-sync replicas do not acknowledge within
`offsets.commit.timeout.ms` is answered COORDINATOR_NOT_AVAILABLE (Kafka maps REQUEST_TIMED_OUT so)
and stays invisible until the ISR has it.

Raw OffsetCommit v2 / OffsetFetch v1 / FindCoordinator v1 against a 3-node cluster (also passes with
GREGOR_CLUSTER_IMPL=kafka)."""
from __future__ import annotations

import struct

import pytest

import cluster_harness as harness
import kafka_wire

pytestmark = [pytest.mark.cluster]

API_FIND_COORDINATOR = 10
API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16

GROUP = "replicated-commits"
TOPIC = "commit-target"
COMMIT_TIMEOUT_MS = 2000


def java_hash(s: str) -> int:
    h = 0
    for ch in s:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition(group: str, partitions: int) -> int:
    h = java_hash(group)
    return (0 if h == -(1 << 31) else abs(h)) % partitions  # Kafka's Utils.abs(hashCode) % partitions


def find_coordinator(bootstrap: str, group: str) -> tuple[int, int]:
    """FindCoordinator v1: (error_code, node_id)."""
    body = kafka_wire.encode_string(group) + struct.pack(">b", 0)
    r = harness._exchange(bootstrap, API_FIND_COORDINATOR, 1, body, False, 10.0)
    r.take(">i")  # throttle
    err = r.take(">h")
    r.string()  # error message
    node_id = r.take(">i")
    return err, node_id


def offset_commit(bootstrap: str, group: str, topic: str, offset: int, timeout_s: float = 30.0) -> int:
    """A "simple" OffsetCommit v2 (generation -1, no member) of one partition; its error code."""
    body = (kafka_wire.encode_string(group) + struct.pack(">i", -1) + kafka_wire.encode_string("")
            + struct.pack(">q", -1) + struct.pack(">i", 1) + kafka_wire.encode_string(topic)
            + struct.pack(">i", 1) + struct.pack(">iq", 0, offset) + kafka_wire.encode_string(""))
    r = harness._exchange(bootstrap, API_OFFSET_COMMIT, 2, body, False, timeout_s)
    assert harness._array_count(r) == 1
    assert r.string() == topic
    assert harness._array_count(r) == 1
    index, err = r.take(">ih")
    assert index == 0
    return err


def offset_fetch(bootstrap: str, group: str, topic: str) -> tuple[int, int]:
    """OffsetFetch v1 of one partition: (committed offset, error code)."""
    body = (kafka_wire.encode_string(group) + struct.pack(">i", 1) + kafka_wire.encode_string(topic)
            + struct.pack(">ii", 1, 0))
    r = harness._exchange(bootstrap, API_OFFSET_FETCH, 1, body, False, 10.0)
    assert harness._array_count(r) == 1
    assert r.string() == topic
    assert harness._array_count(r) == 1
    index, committed = r.take(">iq")
    r.string()  # metadata
    err = r.take(">h")
    assert index == 0
    return committed, err


def test_an_offset_commit_is_answered_and_visible_only_once_the_isr_has_it(cluster_factory):
    cl = cluster_factory(nodes=3, extra_config={
        "offsets.topic.replication.factor": "3",
        "offsets.topic.num.partitions": "5",
        "offsets.commit.timeout.ms": str(COMMIT_TIMEOUT_MS),
        # The paused follower stays in the ISR (and its broker unfenced) for the whole test, so the
        # high watermark of the offsets partition cannot pass the commit until it resumes.
        "replica.lag.time.max.ms": "600000",
        "broker.session.timeout.ms": "600000",
    })
    bootstrap = cl.nodes[1].bootstrap  # raw requests go to one broker
    created = harness.create_topics(bootstrap, [TOPIC], partitions=1, replication_factor=3)
    assert created[TOPIC][0] == 0, created

    def coordinator():
        err, node_id = find_coordinator(bootstrap, GROUP)
        return node_id if err == 0 else None
    coord = harness.wait_for(coordinator, 120, "a coordinator for the group")
    part = offsets_partition(GROUP, 5)

    seen = []

    def offsets_partition_in_sync():
        md = harness.metadata(cl.nodes[coord].bootstrap, ["__consumer_offsets"])
        t = md.topics.get("__consumer_offsets")
        seen[:] = [t]
        if not t or t.error_code != 0 or len(t.partitions) != 5:
            return None
        p = t.partitions[part]
        return p if p.leader == coord and len(p.replicas) == 3 and sorted(p.isr) == sorted(p.replicas) else None
    try:
        p = harness.wait_for(offsets_partition_in_sync, 120, f"__consumer_offsets-{part} led by {coord} with 3 in sync")
    except AssertionError as e:
        raise AssertionError(f"{e}; last metadata: {seen}") from None
    coord_bootstrap = cl.nodes[coord].bootstrap

    def committed(offset):
        return lambda: offset_commit(coord_bootstrap, GROUP, TOPIC, offset) == 0
    harness.wait_for(committed(5), 60, "a first commit with every replica running")
    assert offset_fetch(coord_bootstrap, GROUP, TOPIC) == (5, 0)

    follower = next(r for r in p.replicas if r != coord)
    cl.pause_node(follower)
    try:
        err = offset_commit(coord_bootstrap, GROUP, TOPIC, 10)
        assert err == COORDINATOR_NOT_AVAILABLE, f"commit with a paused in-sync follower answered {err}"
        assert offset_fetch(coord_bootstrap, GROUP, TOPIC) == (5, 0), "an unreplicated commit is visible"
    finally:
        cl.cont_node(follower)
    # The follower catches up: the write it was missing commits and becomes visible, and new
    # commits are answered again.
    harness.wait_for(lambda: offset_fetch(coord_bootstrap, GROUP, TOPIC) == (10, 0), 120,
                     "the timed-out commit becoming visible once replicated")
    harness.wait_for(committed(11), 60, "a commit after the follower resumed")
    assert offset_fetch(coord_bootstrap, GROUP, TOPIC) == (11, 0)
