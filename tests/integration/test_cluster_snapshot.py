"""A voter that falls behind while the quorum snapshots its metadata and drops the log below the
snapshot catches up by FetchSnapshot: with a snapshot every 2048 bytes of records, one non-leader
voter is SIGSTOPped while 50 topics are created through another broker, and once continued it
reaches the leader's log end and serves all 50 topics in its own Metadata.

The snapshot on the leader and the catch-up are checked on either implementation. That the leader's
log now starts past everything the stopped voter had, and that the voter therefore loaded the
leader's snapshot, is checked on Gregor only: Gregor drops the log below each snapshot at once,
while Kafka keeps it until metadata.max.retention.{bytes,ms} (100 MB / 7 days by default) let its
snapshot cleaner move the log start, which this test does not tune (so on Kafka the voter may well
catch up from the log)."""
from __future__ import annotations

import re
import time

import pytest

import cluster_harness as ch
import harness

pytestmark = [pytest.mark.cluster]

SNAPSHOT_BYTES = 2048
TOPICS = 50
TOPICS_PER_REQUEST = 10
SNAPSHOT_TIMEOUT_S = 60.0
CATCH_UP_TIMEOUT_S = 120.0

_CHECKPOINT = re.compile(r"^(\d{20})-(\d{10})\.checkpoint$")
_LOADED = re.compile(r"loaded the metadata snapshot ending at offset (\d+)")


def _snapshot_ends(node) -> list[int]:
    """End offsets of the metadata snapshots in the node's __cluster_metadata-0, ascending."""
    directory = node.log_dir / f"{ch.METADATA_TOPIC}-0"
    ends = []
    for path in directory.glob("*.checkpoint"):
        m = _CHECKPOINT.match(path.name)
        if m:
            ends.append(int(m.group(1)))
    return sorted(ends)


def _log_since(node, position: int) -> str:
    with open(node.stderr_path, "rb") as f:
        f.seek(position)
        return f.read().decode(errors="replace")


def test_a_lagging_voter_catches_up_by_snapshot(cluster_factory, kafka_classpath):
    cl = cluster_factory(extra_config={"metadata.log.max.record.bytes.between.snapshots": str(SNAPSHOT_BYTES)})
    gregor = cl.impl_name == "gregor"
    leader_id = cl.leader().leader_id
    lagging = min(v for v in cl.voter_ids if v != leader_id)
    creator = next(b for b in cl.brokers if b.node_id not in (lagging, leader_id))
    prefix = harness.unique_topic("snap")
    names = [f"{prefix}-{i:02d}" for i in range(TOPICS)]

    cl.pause_node(lagging)
    log_position = 0
    try:
        # Everything the stopped voter can hold is at most what the leader had when it stopped.
        q = cl.quorum(via=creator.node_id)
        leader_end_at_pause = {v.replica_id: v.log_end_offset for v in q.voters}[q.leader_id]

        for i in range(0, TOPICS, TOPICS_PER_REQUEST):
            batch = names[i:i + TOPICS_PER_REQUEST]
            result = ch.create_topics(creator.bootstrap, batch, partitions=1, replication_factor=1)
            assert all(result[n][0] == ch.ERROR_NONE for n in batch), result

        q = cl.leader(exclude={lagging})
        leader = cl.nodes[q.leader_id]
        ends = ch.wait_for(lambda: [e for e in _snapshot_ends(leader) if e > leader_end_at_pause],
                           SNAPSHOT_TIMEOUT_S, f"a snapshot past offset {leader_end_at_pause} on node {leader.node_id}")
        print(f"\n[{cl.impl_name}] voter {lagging} stopped at <= {leader_end_at_pause}; leader {leader.node_id} "
              f"snapshots end at {ends}, log end {q.high_watermark}")
        if gregor:
            # Gregor deletes the metadata log below each snapshot as soon as it is written, so the
            # leader's log starts at its newest snapshot: past the stopped voter's end.
            assert max(ends) > leader_end_at_pause
        log_position = cl.nodes[lagging].stderr_path.stat().st_size
    finally:
        cl.cont_node(lagging)
    resumed_at = time.monotonic()
    target = cl.quorum(via=creator.node_id).high_watermark

    def caught_up():
        q = cl.quorum(via=creator.node_id)
        end = {v.replica_id: v.log_end_offset for v in q.voters}.get(lagging, -1)
        if end < target:
            return None
        topics = ch.metadata(cl.nodes[lagging].bootstrap).topics
        if not all(n in topics and topics[n].error_code == 0 for n in names):
            return None
        return end

    end = ch.wait_for(caught_up, CATCH_UP_TIMEOUT_S,
                      f"voter {lagging} at log end {target} with all {TOPICS} topics in its Metadata")
    print(f"[{cl.impl_name}] voter {lagging} caught up to {end} in {time.monotonic() - resumed_at:.2f}s")
    if gregor:
        loaded = [int(x) for x in _LOADED.findall(_log_since(cl.nodes[lagging], log_position))]
        assert any(x > leader_end_at_pause for x in loaded), (
            f"voter {lagging} did not load a snapshot past {leader_end_at_pause} (loaded {loaded})")

    # Kafka's metadata shell reads the leader's newest snapshot: the topics created before it are
    # there, each partition with its replicas and leader.
    # (A snapshot taken before the creations committed has none of them: wait for a later one.)
    directory = leader.log_dir / f"{ch.METADATA_TOPIC}-0"

    def newest_with_our_topics():
        snapshot = max(directory.glob("*.checkpoint"))
        listed = set(ch.metadata_shell(kafka_classpath, snapshot, "ls", "/image/topics/byName").split())
        ours = sorted(n for n in names if n in listed)
        return (snapshot, ours) if ours else None
    snapshot, ours = ch.wait_for(newest_with_our_topics, SNAPSHOT_TIMEOUT_S,
                                 f"a snapshot of node {leader.node_id} holding our topics", interval_s=1.0)
    # (The shell may answer before it has applied the whole file: it is asked again until it has.)
    def partition_shown():
        text = ch.metadata_shell(kafka_classpath, snapshot, "cat", f"/image/topics/byName/{ours[0]}/0")
        return text if re.search(r"replicas=\[\d+\].*leader=\d+", text) else None
    ch.wait_for(partition_shown, 60, f"{ours[0]}-0 with replicas and leader in {snapshot.name}", interval_s=0.5)
