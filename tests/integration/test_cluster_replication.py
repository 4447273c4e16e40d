"""Replicated partitions keep what they acknowledged: records produced with acks=all (idempotent
producer, replication factor 3, min.insync.replicas=2) while partition leaders are SIGKILLed one
after another are all found afterwards, at the offsets they were acknowledged with, on a new leader.

Runs only with GREGOR_CLUSTER_TESTS=1 (GREGOR_CLUSTER_IMPL=kafka checks it against Kafka 4.3.1).
"""
from __future__ import annotations

import os
import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

import cluster_harness as ch
import harness

pytestmark = [pytest.mark.cluster, pytest.mark.cluster_long]

LEADER_KILLS = int(os.environ.get("GREGOR_CLUSTER_LEADER_KILLS", "5"))
PARTITIONS = 3


@pytest.mark.timeout(1800)
def test_acks_all_records_survive_repeated_sigkill_of_partition_leaders(cluster):
    topic = harness.unique_topic("repl")
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    futures = admin.create_topics([NewTopic(topic, PARTITIONS, 3, config={"min.insync.replicas": "2"})])
    futures[topic].result(60)

    def in_sync():
        t = ch.metadata(cluster.brokers[0].bootstrap, [topic]).topics.get(topic)
        return t is not None and t.error_code == 0 and len(t.partitions) == PARTITIONS and \
            all(p.leader >= 0 and len(p.isr) == 3 for p in t.partitions)
    ch.wait_for(in_sync, 60, f"{topic} fully in sync")

    print(f"\n[{cluster.impl_name}] {LEADER_KILLS} SIGKILLs of a partition leader under acks=all")
    with ch.acks_all_stream(cluster.bootstrap(), topic) as stream:
        ch.wait_for(lambda: len(stream.acked) >= 50, 60, "first acknowledged records")
        for i in range(LEADER_KILLS):
            t = ch.metadata(cluster.brokers[0].bootstrap, [topic]).topics[topic]
            part = t.partitions[i % PARTITIONS]
            victim = part.leader
            before = len(stream.acked)
            t0 = time.monotonic()
            cluster.kill_node(victim)

            def moved(part=part, victim=victim):
                for b in cluster.brokers:
                    if b.node_id == victim:
                        continue
                    p = ch.metadata(b.bootstrap, [topic]).topics[topic].partitions[part.partition]
                    if p.leader < 0 or p.leader == victim:
                        return None
                return True
            ch.wait_for(moved, 90, f"{topic}-{part.partition} led by a broker other than {victim}", interval_s=0.1)
            moved_s = time.monotonic() - t0
            ch.wait_for(lambda before=before: len(stream.acked) >= before + 50, 120,
                        "acknowledgements resuming after the leader's death")
            resumed_s = time.monotonic() - t0
            cluster.start_node(victim)
            cluster.wait_serving()
            ch.wait_for(in_sync, 180, f"{topic} back in sync with node {victim}")
            print(f"  kill {i + 1}: leader {victim} of partition {part.partition}; new leader after "
                  f"{moved_s:.2f}s, acks flowing again after {resumed_s:.2f}s")
    acked = dict(stream.acked)
    print(f"  acknowledged {len(acked)} records; delivery errors {len(stream.errors)}")
    assert not stream.errors, f"acks=all deliveries failed: {stream.errors[:5]}"

    parts, _, _ = ch.read_partitions(cluster.bootstrap(), topic, PARTITIONS)
    got = {(p, o): v for p, records in parts.items() for o, v in records.items()}
    missing = [(k, v) for k, v in acked.items() if got.get(k) != v]
    assert not missing, f"{len(missing)} acknowledged records lost or changed, e.g. {missing[:5]}"
    values = list(got.values())
    assert len(values) == len(set(values)), "a record was written twice despite idempotence"
