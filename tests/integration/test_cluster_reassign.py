"""Scale-out and leadership operations on a 4-node cluster, driven by Kafka's own tools:
`kafka-reassign-partitions` (--generate, --execute, --verify) moves a partition, leader included, to
a fourth broker while an idempotent acks=all producer writes to it: the new replica catches up and
joins the ISR, the old one is removed with its data, and every acknowledged record is still there.
`kafka-leader-election` moves leadership back to the preferred replica, and the active controller
does the same by itself with auto.leader.rebalance.enable.

Runs unless GREGOR_CLUSTER_TESTS=0; GREGOR_CLUSTER_IMPL=kafka runs the same against Kafka 4.3.1.
"""
from __future__ import annotations

import json
import re

import pytest
from confluent_kafka import Consumer, TopicPartition

import cluster_harness as ch
import harness
from test_cluster_basics import TOPIC_COMMAND, parse_topic_describe

pytestmark = [pytest.mark.cluster]

REASSIGN_COMMAND = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
ELECTION_COMMAND = "org.apache.kafka.tools.LeaderElectionCommand"


def describe(cl, classpath: str, topic: str) -> dict[int, dict]:
    return parse_topic_describe(harness.ok(harness.run_java_tool(
        classpath, TOPIC_COMMAND, "--bootstrap-server", cl.bootstrap(), "--describe", "--topic", topic)))


def wait_described(cl, classpath: str, topic: str, ok, what: str, timeout_s: float = 90) -> dict[int, dict]:
    def check():
        parts = describe(cl, classpath, topic)
        return parts if parts and ok(parts) else None
    return ch.wait_for(check, timeout_s, what, interval_s=0.5)


def create_assigned(cl, classpath: str, topic: str, assignment: str) -> None:
    harness.ok(harness.run_java_tool(classpath, TOPIC_COMMAND, "--bootstrap-server", cl.bootstrap(), "--create",
                                     "--topic", topic, "--replica-assignment", assignment,
                                     "--config", "min.insync.replicas=2"))


def full_isr(parts: dict[int, dict]) -> bool:
    return all(sorted(p["isr"]) == sorted(p["replicas"]) for p in parts.values())


def read_partition(bootstrap: str, topic: str, end: int) -> dict[int, bytes]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{topic}", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got: dict[int, bytes] = {}
        def done():
            for m in c.consume(500, 1.0):
                if m.error() is None:
                    got[m.offset()] = m.value()
            return len(got) >= end or (got and max(got) >= end - 1)
        ch.wait_for(done, 120, f"offsets up to {end} of {topic}-0", interval_s=0)
        return got
    finally:
        c.close()


@pytest.mark.timeout(600)
def test_reassignment_moves_a_partition_and_its_leader_to_a_fourth_broker_under_load(cluster_factory, kafka_classpath,
                                                                                     tmp_path):
    cl = cluster_factory(nodes=4)
    cl.start()
    topic = "moving"
    create_assigned(cl, kafka_classpath, topic, "1:2:3")
    wait_described(cl, kafka_classpath, topic, lambda p: p[0]["leader"] == 1 and full_isr(p), "1:2:3 in sync")

    # --generate proposes replicas only on the brokers named.
    topics_json = tmp_path / "topics.json"
    topics_json.write_text(json.dumps({"version": 1, "topics": [{"topic": topic}]}))
    out = harness.ok(harness.run_java_tool(kafka_classpath, REASSIGN_COMMAND, "--bootstrap-server", cl.bootstrap(),
                                           "--topics-to-move-json-file", str(topics_json), "--broker-list", "2,3,4",
                                           "--generate"))
    proposed = json.loads(out.split("Proposed partition reassignment configuration", 1)[1].strip().splitlines()[0])
    assert proposed["partitions"] and all(set(p["replicas"]) <= {2, 3, 4} for p in proposed["partitions"]), out

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": [4, 2, 3],
                                                               "log_dirs": ["any", "any", "any"]}]}))
    with ch.acks_all_stream(cl.bootstrap(), topic, partition=0) as writer:
        ch.wait_for(lambda: len(writer.acked) >= 200, 60, "records acknowledged before the move")
        out = harness.ok(harness.run_java_tool(kafka_classpath, REASSIGN_COMMAND, "--bootstrap-server",
                                               cl.bootstrap(), "--reassignment-json-file", str(plan), "--execute"))
        assert "Successfully started partition reassignment" in out, out

        def verified():
            text = harness.ok(harness.run_java_tool(kafka_classpath, REASSIGN_COMMAND, "--bootstrap-server",
                                                    cl.bootstrap(), "--reassignment-json-file", str(plan),
                                                    "--verify"))
            return text if re.search(rf"Reassignment of partition {topic}-0 is completed", text) else None
        print(ch.wait_for(verified, 180, "the reassignment to complete", interval_s=1.0))
        acked_during_move = len(writer.acked)
        ch.wait_for(lambda: len(writer.acked) >= acked_during_move + 200, 60, "records acknowledged after the move")

    assert not writer.errors, writer.errors[:5]
    parts = wait_described(cl, kafka_classpath, topic, lambda p: sorted(p[0]["isr"]) == [2, 3, 4],
                           "ISR = the new replicas")
    assert parts[0]["replicas"] == [4, 2, 3]
    assert parts[0]["leader"] in (2, 3, 4), parts
    # The removed replica's data goes.
    old = cl.nodes[1].log_dir / f"{topic}-0"
    ch.wait_for(lambda: not old.exists(), 60, f"{old} deleted")
    assert (cl.nodes[4].log_dir / f"{topic}-0").is_dir()
    # Nothing acknowledged was lost, and every record sits at the offset it was acknowledged with.
    got = read_partition(cl.bootstrap(), topic, max(o for _, o in writer.acked) + 1)
    missing = [o for (_, o), v in writer.acked.items() if got.get(o) != v]
    assert not missing, f"{len(missing)} acknowledged records lost or moved, first {missing[:5]}"
    print(f"reassignment under load: {len(writer.acked)} records acknowledged, none lost")


def bounce_preferred_leader(cl, classpath: str, topic: str) -> None:
    """Broker 1 (the preferred leader) restarts: broker 2 takes over; returns once 1 is back in sync."""
    cl.terminate_node(1)
    wait_described(cl, classpath, topic, lambda p: p[0]["leader"] == 2, "broker 2 leads while 1 is away")
    cl.start_node(1)
    cl.wait_serving()


@pytest.mark.timeout(600)
def test_leader_election_tool_moves_leadership_back_to_the_preferred_replica(cluster_factory, kafka_classpath):
    cl = cluster_factory(nodes=3, extra_config={"auto.leader.rebalance.enable": "false"})
    cl.start()
    topic = "elect-manual"
    create_assigned(cl, kafka_classpath, topic, "1:2:3")
    wait_described(cl, kafka_classpath, topic, lambda p: p[0]["leader"] == 1 and full_isr(p), "1:2:3 in sync")
    out = harness.ok(harness.run_java_tool(kafka_classpath, ELECTION_COMMAND, "--bootstrap-server", cl.bootstrap(),
                                           "--election-type", "preferred", "--topic", topic, "--partition", "0"))
    assert "Valid replica already elected" in out, out

    bounce_preferred_leader(cl, kafka_classpath, topic)
    parts = wait_described(cl, kafka_classpath, topic, full_isr, "broker 1 back in the ISR")
    assert parts[0]["leader"] == 2, f"without auto rebalance leadership stays where it moved: {parts}"
    out = harness.ok(harness.run_java_tool(kafka_classpath, ELECTION_COMMAND, "--bootstrap-server", cl.bootstrap(),
                                           "--election-type", "preferred", "--all-topic-partitions"))
    assert re.search(rf"Successfully completed leader election \(PREFERRED\) for partitions .*{topic}-0", out), out
    parts = describe(cl, kafka_classpath, topic)
    assert parts[0]["leader"] == 1, parts
    # An unclean election is not needed where a leader exists.
    out = harness.ok(harness.run_java_tool(kafka_classpath, ELECTION_COMMAND, "--bootstrap-server", cl.bootstrap(),
                                           "--election-type", "unclean", "--topic", topic, "--partition", "0"))
    assert "Valid replica already elected" in out, out


@pytest.mark.timeout(600)
def test_auto_leader_rebalance_restores_the_preferred_leader(cluster_factory, kafka_classpath):
    cl = cluster_factory(nodes=3, extra_config={"leader.imbalance.check.interval.seconds": "5"})
    cl.start()
    topic = "elect-auto"
    create_assigned(cl, kafka_classpath, topic, "1:2:3")
    wait_described(cl, kafka_classpath, topic, lambda p: p[0]["leader"] == 1 and full_isr(p), "1:2:3 in sync")
    bounce_preferred_leader(cl, kafka_classpath, topic)
    wait_described(cl, kafka_classpath, topic, lambda p: p[0]["leader"] == 1 and full_isr(p),
                   "the controller's rebalance gives leadership back to broker 1", timeout_s=120)
