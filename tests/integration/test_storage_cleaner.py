"""Proves that the background log cleaner compacts an idempotent producer's compacted topic while
the broker keeps serving it, records its progress in Kafka's cleaner-offset-checkpoint file (kept
across a crash), and that consumers read an emptied producer batch as a gap, not as an error."""
from __future__ import annotations

import time

import pytest

import clients
import harness

pytestmark = pytest.mark.gregor_only


def cleaner_offsets(g) -> dict[tuple[str, int], int]:
    path = g.log_dir / "cleaner-offset-checkpoint"
    if not path.exists():
        return {}
    lines = path.read_text().splitlines()
    assert lines[0] == "0", lines
    assert int(lines[1]) == len(lines) - 2, lines
    out = {}
    for line in lines[2:]:
        topic, partition, off = line.split(" ")
        out[(topic, int(partition))] = int(off)
    return out


def test_background_cleaner_compacts_checkpoints_and_keeps_serving(gregor_factory):
    g = gregor_factory({"log.cleaner.backoff.ms": "200", "log.retention.check.interval.ms": "200"})
    topic = harness.unique_topic("bgclean")
    clients.create_topic(g.bootstrap, topic, config={
        "cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
        "file.delete.delay.ms": "0"})
    # One idempotent producer overwrites the same ten keys in several segments.
    for r in range(5):
        if r:  # segment.ms has passed since the active segment's first append: this append rolls
            harness.wait_older_than(acked_at, 100, "segment.ms")
        if r < 4:
            clients.produce_all(g.bootstrap, topic,
                                [{"key": b"k%d" % k, "value": b"v%d-%d" % (r, k)} for k in range(10)],
                                acks="all", **{"enable.idempotence": True})
        else:
            clients.produce_all(g.bootstrap, topic, [{"key": b"filler", "value": b"x"}], acks="all")
        acked_at = time.time()
        # The round began a segment (the cleaner never touches the active one).
        assert 10 * r in harness.segment_bases(g.log_dir, topic), harness.segment_bases(g.log_dir, topic)

    def compacted():
        got = clients.consume_all(g.bootstrap, topic)
        return got if len(got) == 11 else None

    got = harness.wait_until(compacted, timeout_s=30, what="compaction")
    assert {(m.key(), m.value()) for m in got[:-1]} == {(b"k%d" % k, b"v3-%d" % k) for k in range(10)}
    assert [m.offset() for m in got[:-1]] == list(range(30, 40)), "offsets are kept"
    # kafka-python steps over the emptied batches too (the cleaned segments end in an empty batch
    # where their last batch was removed). kafka-python 2.0.2 fails with IndexError on a fetch whose
    # records are only empty batches (as Kafka's retained empty producer batches can be), so a tiny
    # max_partition_fetch_bytes, one batch per fetch, cannot read this log.
    from kafka import KafkaConsumer, TopicPartition
    kc = KafkaConsumer(bootstrap_servers=g.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                       consumer_timeout_ms=15000)
    try:
        kc.assign([TopicPartition(topic, 0)])
        kp = [(r.offset, r.value) for r in kc]
    finally:
        kc.close()
    assert kp == [(m.offset(), m.value()) for m in got]
    # The cleaner's progress is checkpointed (after the swap) and survives a crash.
    cp = harness.wait_until(lambda: cleaner_offsets(g).get((topic, 0)), timeout_s=15,
                            what="cleaner-offset-checkpoint entry")
    assert 30 <= cp <= 40, cp
    g.kill_and_restart()
    assert cleaner_offsets(g).get((topic, 0), 0) >= cp
    again = clients.consume_all(g.bootstrap, topic, expected=11)
    assert [(m.offset(), m.value()) for m in again] == [(m.offset(), m.value()) for m in got]
    # Appends go on after the restart with the offsets continuing.
    delivered = clients.produce_all(g.bootstrap, topic, [{"key": b"k0", "value": b"after"}], acks="all",
                                    **{"enable.idempotence": True})
    assert delivered[0].offset() == 41
