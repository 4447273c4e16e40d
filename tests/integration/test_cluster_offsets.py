"""Offset commits in a cluster are replicated before they are acknowledged (issue #12 item 3).

Kafka writes a group's offset commit to its `__consumer_offsets` partition with acks=all: the
OffsetCommit is answered once the partition's high watermark covers the write, and OffsetFetch shows
only committed offsets. A commit the in-sync replicas do not acknowledge within
`offsets.commit.timeout.ms` is answered COORDINATOR_NOT_AVAILABLE (Kafka maps REQUEST_TIMED_OUT so)
and stays invisible until the ISR has it.

The group's own state follows the same rule: a SyncGroup that stores the leader's assignment is
answered only once the offsets partition commits it, and COORDINATOR_NOT_AVAILABLE when it does not
within `offsets.commit.timeout.ms` (Kafka's coordinator runtime answers a write only after its
records commit, and maps REQUEST_TIMED_OUT so).

Raw OffsetCommit v2 / OffsetFetch v1 / FindCoordinator v1 / JoinGroup v3 / SyncGroup v1 against a
3-node cluster (also passes with GREGOR_CLUSTER_IMPL=kafka)."""
from __future__ import annotations

import struct

import pytest

import cluster_harness as harness
import kafka_wire

pytestmark = [pytest.mark.cluster]

API_FIND_COORDINATOR = 10
API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
API_JOIN_GROUP = 11
API_SYNC_GROUP = 14
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


def encode_bytes(b: bytes) -> bytes:
    return struct.pack(">i", len(b)) + b


def subscription(topic: str) -> bytes:
    """ConsumerProtocolSubscription v0: version, topics, user data (Kafka's coordinator parses it)."""
    return struct.pack(">hi", 0, 1) + kafka_wire.encode_string(topic) + struct.pack(">i", -1)


def assignment(topic: str, partitions: list[int]) -> bytes:
    """ConsumerProtocolAssignment v0: version, [topic, [partition]], user data."""
    return (struct.pack(">hi", 0, 1) + kafka_wire.encode_string(topic) + struct.pack(">i", len(partitions))
            + b"".join(struct.pack(">i", x) for x in partitions) + struct.pack(">i", -1))


def join_group(bootstrap: str, group: str, member_id: str = "") -> tuple[int, int, str, str]:
    """JoinGroup v3 with one "range" consumer protocol: (error, generation, leader, member id)."""
    body = (kafka_wire.encode_string(group) + struct.pack(">ii", 30000, 30000) + kafka_wire.encode_string(member_id)
            + kafka_wire.encode_string("consumer") + struct.pack(">i", 1) + kafka_wire.encode_string("range")
            + encode_bytes(subscription(TOPIC)))
    r = harness._exchange(bootstrap, API_JOIN_GROUP, 3, body, False, 60.0)
    r.take(">i")  # throttle
    err, generation = r.take(">hi")
    r.string()  # protocol name
    leader = r.string()
    member = r.string()
    return err, generation, leader, member


def sync_group(bootstrap: str, group: str, generation: int, member_id: str, assignment: bytes) -> tuple[int, bytes]:
    """SyncGroup v1 of the leader assigning `assignment` to itself: (error, assignment received)."""
    body = (kafka_wire.encode_string(group) + struct.pack(">i", generation) + kafka_wire.encode_string(member_id)
            + struct.pack(">i", 1) + kafka_wire.encode_string(member_id) + encode_bytes(assignment))
    r = harness._exchange(bootstrap, API_SYNC_GROUP, 1, body, False, 60.0)
    r.take(">i")  # throttle
    err = r.take(">h")
    n = r.take(">i")
    got = b"" if n < 0 else r.data[r.pos:r.pos + n]
    return err, got


def start_cluster_with_group_partition_in_sync(cluster_factory, group: str):
    """A 3-node cluster whose offsets partition for `group` has every replica in sync; returns
    (cluster, coordinator id, that partition's metadata)."""
    cl = cluster_factory(nodes=3, extra_config={
        "offsets.topic.replication.factor": "3",
        "offsets.topic.num.partitions": "5",
        "offsets.commit.timeout.ms": str(COMMIT_TIMEOUT_MS),
        "group.initial.rebalance.delay.ms": "0",
        # A paused follower stays in the ISR (and its broker unfenced) for the whole test, so the
        # high watermark of the offsets partition cannot pass a write until it resumes.
        "replica.lag.time.max.ms": "600000",
        "broker.session.timeout.ms": "600000",
    })
    bootstrap = cl.nodes[1].bootstrap  # raw requests go to one broker
    created = harness.create_topics(bootstrap, [TOPIC], partitions=1, replication_factor=3)
    assert created[TOPIC][0] == 0, created

    def coordinator():
        err, node_id = find_coordinator(bootstrap, group)
        return node_id if err == 0 else None
    coord = harness.wait_for(coordinator, 120, "a coordinator for the group")
    part = offsets_partition(group, 5)

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
    return cl, coord, p


def test_a_group_assignment_is_answered_only_once_the_isr_has_it(cluster_factory):
    group = "replicated-assignment"
    cl, coord, p = start_cluster_with_group_partition_in_sync(cluster_factory, group)
    coord_bootstrap = cl.nodes[coord].bootstrap

    def joined():
        err, generation, leader, member = join_group(coord_bootstrap, group)
        return (generation, member) if err == 0 and leader == member else None
    generation, member = harness.wait_for(joined, 60, "a first member joining as the leader")

    follower = next(r for r in p.replicas if r != coord)
    cl.pause_node(follower)
    try:
        err, got = sync_group(coord_bootstrap, group, generation, member, assignment(TOPIC, [0]))
        assert err == COORDINATOR_NOT_AVAILABLE, (
            f"SyncGroup answered {err} {got!r} while the assignment could not reach the paused in-sync follower")
    finally:
        cl.cont_node(follower)

    # Once the follower is back, the member rejoins and its assignment is stored and answered.
    def synced():
        err, generation, leader, member_id = join_group(coord_bootstrap, group, member)
        if err != 0:
            return None
        err, got = sync_group(coord_bootstrap, group, generation, member_id, assignment(TOPIC, []))
        return got if err == 0 else None
    assert harness.wait_for(synced, 120, "a join and sync after the follower resumed") == assignment(TOPIC, [])


def test_an_offset_commit_is_answered_and_visible_only_once_the_isr_has_it(cluster_factory):
    cl, coord, p = start_cluster_with_group_partition_in_sync(cluster_factory, GROUP)
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
