"""min.insync.replicas holds when brokers die: with two of a partition's three brokers down (and
fenced, so the ISR is the leader alone) an acks=all produce is refused with NOT_ENOUGH_REPLICAS
rather than acknowledged, and once the brokers are back every record acknowledged before is still
there, at its offset. Kafka's split layout (three controller-only voters, three broker-only
nodes), so the controller quorum stays up while two brokers are down.

Runs only with GREGOR_CLUSTER_TESTS=1 (six processes; GREGOR_CLUSTER_IMPL=kafka checks it against
Kafka 4.3.1).
"""
from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

import cluster_harness as ch
import harness

pytestmark = [pytest.mark.cluster, pytest.mark.cluster_long]


def _produce(bootstrap: str, topic: str, values: list[bytes], timeout_s: float = 120.0
             ) -> tuple[dict[int, bytes], list[KafkaError]]:
    """acks=all, no retries: {offset: value} of what was acknowledged, and the errors of the rest."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False, "retries": 0,
                  "request.timeout.ms": 10000, "message.timeout.ms": 60000, "linger.ms": 0})
    acks: list[tuple[int, bytes]] = []
    errors: list[KafkaError] = []

    def delivered(err, msg):  # records; the assertions below check
        if err is None:
            acks.append((msg.offset(), msg.value()))
        else:
            errors.append(err)
    for v in values:
        p.produce(topic, value=v, partition=0, on_delivery=delivered)
    remaining = p.flush(timeout_s)
    assert remaining == 0, f"{remaining} records still in flight after {timeout_s}s"
    acked = dict(acks)
    assert len(acked) == len(acks), f"an offset acknowledged twice: {sorted(o for o, _ in acks)}"
    return acked, errors


@pytest.mark.timeout(900)
def test_two_of_three_brokers_down_refuse_acks_all_and_nothing_acknowledged_is_lost(cluster_factory):
    cl = cluster_factory(layout="split", controllers=3, nodes=3)
    brokers = sorted(cl.broker_ids)
    topic = harness.unique_topic("minisr")
    admin = AdminClient({"bootstrap.servers": cl.bootstrap()})
    admin.create_topics([NewTopic(topic, 1, 3, config={"min.insync.replicas": "2"})])[topic].result(60)

    def partition():
        one = next(n.bootstrap for n in cl.brokers if n.running())  # ch.metadata asks one node
        t = ch.metadata(one, [topic]).topics.get(topic)
        return t.partitions[0] if t is not None and t.error_code == 0 and t.partitions else None

    ch.wait_for(lambda: (p := partition()) is not None and p.leader >= 0 and sorted(p.isr) == brokers,
                60, f"{topic} in sync on {brokers}")
    before, errors = _produce(cl.bootstrap(), topic, [f"before-{i:04d}".encode() for i in range(200)])
    assert not errors and len(before) == 200, errors[:3]

    leader = partition().leader
    down = [b for b in brokers if b != leader]
    print(f"\n[{cl.impl_name}] leader {leader}; SIGKILL brokers {down}")
    for b in down:
        cl.kill_node(b)
    leader_bootstrap = cl.nodes[leader].bootstrap
    # Both are fenced after broker.session.timeout.ms, which leaves the leader alone in the ISR.
    t0 = time.monotonic()
    ch.wait_for(lambda: (t := ch.metadata(leader_bootstrap, [topic]).topics.get(topic)) is not None
                and t.partitions and t.partitions[0].isr == [leader], 120, f"ISR of {topic} down to [{leader}]")
    print(f"  ISR down to the leader {time.monotonic() - t0:.1f}s after the kills")

    refused_acked, refused = _produce(leader_bootstrap, topic, [b"while-two-are-down"])
    assert not refused_acked, f"acknowledged with one replica in sync: {refused_acked}"
    assert [e.code() for e in refused] == [KafkaError.NOT_ENOUGH_REPLICAS], [str(e) for e in refused]

    for b in down:
        cl.start_node(b)
    ch.wait_for(lambda: (p := partition()) is not None and sorted(p.isr) == brokers, 180,
                f"{topic} back in sync on {brokers}")
    after, errors = _produce(cl.bootstrap(), topic, [f"after-{i:04d}".encode() for i in range(100)])
    assert not errors and len(after) == 100, errors[:3]

    got, _, _ = ch.read_partitions(cl.bootstrap(), topic, 1)
    for off, value in {**before, **after}.items():
        assert got[0].get(off) == value, f"acknowledged offset {off} holds {got[0].get(off)!r}, not {value!r}"
    # NOT_ENOUGH_REPLICAS is decided before the append: the refused record is nowhere in the log.
    assert b"while-two-are-down" not in got[0].values()
