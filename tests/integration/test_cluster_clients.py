"""Clients carry on across a leader failover: the partition leader is SIGKILLed while franz-go (its
defaults: idempotent, 5 in flight) and kafka-python (acks=all, retries) write to a topic with
replication factor 3; each client moves to the new leader by itself, every record it had
acknowledged is in the log at its offset, and franz-go's are there exactly once, in order. The Java
client and librdkafka do the same under the Jepsen-style run (test_cluster_jepsen.py).

Runs only with GREGOR_CLUSTER_TESTS=1 (GREGOR_CLUSTER_IMPL=kafka checks it against Kafka 4.3.1).
"""
from __future__ import annotations

import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

import cluster_harness as ch
import harness

pytestmark = [pytest.mark.cluster, pytest.mark.cluster_long]


def _high_watermark(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "itest-hw", "log_level": 3})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    except Exception:  # noqa: BLE001 - the topic may not exist yet, or its leader just died
        return -1
    finally:
        c.close()


def _kill_leader_once_records_flow(cluster, topic: str, min_records: int = 300) -> tuple[int, int]:
    """Waits until topic-0 holds min_records, SIGKILLs its leader and waits for another one;
    (old leader, new leader)."""
    ch.wait_for(lambda: _high_watermark(cluster.bootstrap(), topic) >= min_records, 120,
                f"{min_records} records in {topic}")
    old = ch.metadata(cluster.brokers[0].bootstrap, [topic]).topics[topic].partitions[0].leader
    t0 = time.monotonic()
    cluster.kill_node(old)
    alive = next(b.bootstrap for b in cluster.brokers if b.node_id != old)  # ch.metadata asks one node

    def new_leader():
        t = ch.metadata(alive, [topic]).topics.get(topic)
        leader = t.partitions[0].leader if t is not None and t.partitions else -1
        return leader if leader not in (-1, old) else None
    new = ch.wait_for(new_leader, 120, f"a new leader of {topic}-0")
    print(f"  leader {old} SIGKILLed; {new} leads {time.monotonic() - t0:.2f}s later")
    return old, new


@pytest.mark.timeout(600)
def test_franz_go_carries_on_across_a_leader_failover_writing_each_record_once_in_order(cluster, tmp_path):
    binary = harness.build_franz_idempotence(tmp_path)
    topic = harness.unique_topic("failover-franz")
    print(f"\n[{cluster.impl_name}] franz-go writing {topic}")
    proc = subprocess.Popen([str(binary), "-bootstrap", cluster.bootstrap(), "-topic", topic, "-count", "4000",
                             "-replication-factor", "3", "-interval-ms", "5", "-timeout-s", "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _kill_leader_once_records_flow(cluster, topic)
        out, err = proc.communicate(timeout=330)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, f"franz-go check failed:\n{out}\n{err}"
    assert "ok: 4000 records once each, in order" in out, out


@pytest.mark.timeout(600)
def test_kafka_python_carries_on_across_a_leader_failover_and_keeps_every_acknowledged_record(cluster):
    from kafka import KafkaProducer
    topic = harness.unique_topic("failover-kpy")
    assert ch.create_topics(cluster.brokers[0].bootstrap, [topic], 1, 3)[topic][0] == ch.ERROR_NONE
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap().split(","), acks="all", retries=100,
                             retry_backoff_ms=200, request_timeout_ms=15000,
                             max_in_flight_requests_per_connection=1)
    count = 3000
    futures = []
    stop = threading.Event()

    def write():
        for i in range(count):
            if stop.is_set():
                return
            futures.append(producer.send(topic, value=f"k{i:05d}".encode(), partition=0))
            time.sleep(0.005)  # pacing the load, so the failover happens mid-stream
    print(f"\n[{cluster.impl_name}] kafka-python writing {topic}")
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        _kill_leader_once_records_flow(cluster, topic)
        writer.join(120)
        assert not writer.is_alive(), "kafka-python's writer did not finish"
        producer.flush(180)
    finally:
        stop.set()
        producer.close(30)
    acked, failed = {}, []
    for i, f in enumerate(futures):
        try:
            md = f.get(timeout=1)
            acked[md.offset] = f"k{i:05d}".encode()
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            failed.append(f"k{i:05d}: {exc!r}")
    assert len(futures) == count
    assert not failed, f"{len(failed)} records failed, e.g. {failed[:3]}"
    got, _, _ = ch.read_partitions(cluster.bootstrap(), topic, 1)
    for off, value in acked.items():
        assert got[0].get(off) == value, f"acknowledged offset {off} holds {got[0].get(off)!r}, not {value!r}"
    print(f"  {len(acked)} records acknowledged, every one in the log at its offset")
