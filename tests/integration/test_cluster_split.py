"""The split layout serves: three controller-only voters and broker-only nodes that find them through
controller.quorum.bootstrap.servers; Metadata lists only the brokers, the quorum has the three
controllers as voters, topics created through any broker reach every broker, and the brokers keep
serving across a SIGKILL of the active controller.

Runs unless GREGOR_CLUSTER_TESTS=0 (short; GREGOR_CLUSTER_IMPL=kafka checks it against Kafka 4.3.1).
"""
from __future__ import annotations

import time

import pytest

import cluster_harness as ch
import harness

pytestmark = [pytest.mark.cluster]


@pytest.mark.timeout(900)
def test_split_layout_three_controllers_two_brokers_serves_and_survives_controller_kill(cluster_factory):
    cluster = cluster_factory(layout="split", controllers=3, nodes=2)
    print(f"\n[{cluster.impl_name}] split layout serving {time.monotonic() - cluster.launched_at:.2f}s after launch "
          f"(controllers {sorted(cluster.voter_ids)}, brokers {sorted(cluster.broker_ids)})")
    assert cluster.voter_ids.isdisjoint(cluster.broker_ids)

    q = cluster.leader()
    assert {v.replica_id for v in q.voters} == cluster.voter_ids
    assert cluster.broker_ids <= {o.replica_id for o in q.observers}, q
    for b in cluster.brokers:
        view = ch.metadata(b.bootstrap, topics=[])
        assert view.broker_ids == cluster.broker_ids, f"node {b.node_id} lists {view.broker_ids}"

    created = []
    for b in cluster.brokers:
        topic = harness.unique_topic(f"split{b.node_id}")
        assert ch.create_topics(b.bootstrap, [topic], 2, 2)[topic][0] == ch.ERROR_NONE
        created.append(topic)

    victim = q.leader_id
    t1 = time.monotonic()
    cluster.kill_node(victim)
    new = cluster.leader(exclude={victim}, newer_than_epoch=q.leader_epoch)
    print(f"  active controller {victim} SIGKILLed: new leader {new.leader_id} after {time.monotonic() - t1:.2f}s")
    topic = harness.unique_topic("split-after")
    result = ch.wait_for(lambda: ch.create_topics(cluster.brokers[0].bootstrap, [topic], 2, 2).get(topic, (-1,))[0]
                         in (ch.ERROR_NONE, ch.ERROR_TOPIC_ALREADY_EXISTS), 120, "CreateTopics after the failover")
    assert result
    created.append(topic)

    for b in cluster.brokers:
        def complete(b=b):
            view = ch.metadata(b.bootstrap, created)
            return all(t in view.topics and view.topics[t].error_code == 0 and len(view.topics[t].partitions) == 2
                       and all(p.leader in cluster.broker_ids for p in view.topics[t].partitions)
                       for t in created)
        ch.wait_for(complete, 60, f"broker {b.node_id} showing every topic")

    cluster.start_node(victim)
    cluster.wait_serving()
