"""KIP-392 fetch from the closest replica: on a 3-node cluster with broker.rack r1/r2/r3 and
replica.selector.class = Kafka's RackAwareReplicaSelector, the leader answers a Fetch v11 from a
consumer in another broker's rack with that replica as preferred_read_replica (and no records),
serves a consumer in its own rack or an unknown rack itself, a follower serves consumer fetches up
to its high watermark (OFFSET_OUT_OF_RANGE past its log end), and a librdkafka consumer with
client.rack reads every record (from the follower in its rack: checked on Gregor's per-broker
consume counters). Runs unless GREGOR_CLUSTER_TESTS=0; GREGOR_CLUSTER_IMPL=kafka checks the same
against Apache Kafka 4.3.1 (without the Gregor metrics check).
"""
from __future__ import annotations

import re
import urllib.request

import pytest

import clients
import cluster_harness as ch
import harness
import kafka_wire as kw

pytestmark = [pytest.mark.cluster]

TOPIC_COMMAND = "org.apache.kafka.tools.TopicCommand"
RACK_AWARE = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
OFFSET_OUT_OF_RANGE = 1
RECORDS = 20


def fetch_v11(bootstrap: str, topic: str, offset: int, rack: str, max_wait_ms: int = 0) -> dict:
    body = kw.round_trip(bootstrap, kw.fetch_request_v11(1, topics={topic: {0: offset}}, rack_id=rack,
                                                         max_wait_ms=max_wait_ms))
    assert body is not None, f"{bootstrap} closed the connection"
    return kw.parse_fetch_v11(body)["partitions"][(topic, 0)]


def records_out(cl, node_id: int, topic: str) -> float:
    """gregor_topic_records_out_total{topic} on one node (consumer fetches it answered)."""
    n = cl.nodes[node_id]
    with urllib.request.urlopen(f"http://{n.host}:{n.http_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    m = re.search(r'^gregor_topic_records_out_total\{topic="%s"\} (\S+)$' % re.escape(topic), text, re.M)
    return float(m.group(1)) if m else 0.0


def gauge(cl, node_id: int, name: str) -> float:
    n = cl.nodes[node_id]
    with urllib.request.urlopen(f"http://{n.host}:{n.http_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    assert m, f"{name} missing on node {node_id}"
    return float(m.group(1))


@pytest.fixture(scope="module")
def rack_cluster(tmp_path_factory):
    yield from ch.module_cluster(tmp_path_factory.mktemp("rack"),
                                 extra_config={"replica.selector.class": RACK_AWARE},
                                 node_extra_config={i: {"broker.rack": f"r{i}"} for i in (1, 2, 3)})


def test_leader_points_consumers_at_the_replica_in_their_rack_and_followers_serve_them(rack_cluster, kafka_classpath):
    cl = rack_cluster
    topic = harness.unique_topic("rack")
    harness.ok(harness.run_java_tool(kafka_classpath, TOPIC_COMMAND, "--bootstrap-server", cl.bootstrap(),
                                     "--create", "--topic", topic, "--replica-assignment", "1:2:3"))

    def in_sync():
        t = ch.metadata(cl.nodes[1].bootstrap, [topic]).topics.get(topic)
        return t and t.partitions and t.partitions[0].leader == 1 and sorted(t.partitions[0].isr) == [1, 2, 3]
    ch.wait_for(in_sync, 60, "broker 1 leading with ISR 1,2,3")
    clients.produce_all(cl.bootstrap(), topic, [{"value": b"v%d" % i, "partition": 0} for i in range(RECORDS)],
                        acks="all")

    # The leader: a consumer in rack r2 is sent to broker 2, without records.
    def pointed():
        p = fetch_v11(cl.nodes[1].bootstrap, topic, 0, "r2")
        return p if p["preferred_read_replica"] == 2 else None
    p = ch.wait_for(pointed, 30, "the leader naming broker 2 for rack r2")
    assert p["error_code"] == 0 and p["batches"] == [], p
    assert p["high_watermark"] == RECORDS
    # Consumers in the leader's rack, an unknown rack or no rack read from the leader.
    for rack in ("r1", "elsewhere", ""):
        p = fetch_v11(cl.nodes[1].bootstrap, topic, 0, rack)
        assert p["preferred_read_replica"] == -1, (rack, p)
        assert sum(n for _, n in p["batches"]) == RECORDS, (rack, p)

    # A follower serves consumer fetches up to its high watermark (which follows the leader's).
    def follower_serves():
        p = fetch_v11(cl.nodes[2].bootstrap, topic, 0, "r2")
        return p if p["error_code"] == 0 and sum(n for _, n in p["batches"]) == RECORDS else None
    p = ch.wait_for(follower_serves, 30, "broker 2 serving every record")
    assert p["high_watermark"] == RECORDS and p["preferred_read_replica"] == -1
    assert fetch_v11(cl.nodes[2].bootstrap, topic, RECORDS, "r2")["batches"] == []
    assert fetch_v11(cl.nodes[2].bootstrap, topic, RECORDS + 100, "r2")["error_code"] == OFFSET_OUT_OF_RANGE

    # librdkafka in rack r3 reads everything; on Gregor the records came from broker 3.
    before = records_out(cl, 3, topic) if cl.impl_name != "kafka" else 0.0
    got = clients.consume_all(cl.bootstrap(), topic, [0], expected=RECORDS, timeout_s=60, client_rack="r3",
                              group_id=f"rack-{topic}")
    assert sorted(m.value() for m in got) == sorted(b"v%d" % i for i in range(RECORDS))
    if cl.impl_name != "kafka":
        assert records_out(cl, 3, topic) - before >= RECORDS, "broker 3 (rack r3) did not serve the consumer"
        # KIP-227: each follower keeps one fetch session on the leader (Kafka's
        # NumIncrementalFetchSessions has no stable name to scrape on Kafka, so Gregor only).
        assert gauge(cl, 1, "gregor_fetch_sessions") >= 2
        assert gauge(cl, 1, "gregor_fetch_session_evictions_total") == 0
        # The followers' sessions carry on across rounds with new records: none is created again.
        created = gauge(cl, 1, "gregor_fetch_sessions_created_total")
        clients.produce_all(cl.bootstrap(), topic, [{"value": b"w%d" % i, "partition": 0} for i in range(RECORDS)],
                            acks="all")
        ch.wait_for(lambda: fetch_v11(cl.nodes[2].bootstrap, topic, 0, "r2")["high_watermark"] == 2 * RECORDS, 30,
                    "broker 2 following the second batch of records")
        assert gauge(cl, 1, "gregor_fetch_sessions_created_total") == created
