"""Transactions on a 3-node cluster (issue #13): the Java client's transaction suite
(tests/java TransactionsTest) and franz-go's GroupTransactSession against the cluster, and a fault
run: a librdkafka transactional
producer commits numbered transactions into a replication-factor-3 topic while the broker that
coordinates its transactional id is SIGKILLed and, later, a partition leader (every fifth
transaction is aborted on purpose after its records were written); afterwards a
read_committed consumer must see every transaction whose commit was acknowledged exactly once and
whole, no transaction whose abort was acknowledged, and no transaction in part.

Runs only with GREGOR_CLUSTER_TESTS=1 (GREGOR_CLUSTER_IMPL=kafka checks it against Kafka 4.3.1).
"""
from __future__ import annotations

import collections
import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

import cluster_harness as ch
import harness
import test_transactions

pytestmark = [pytest.mark.cluster, pytest.mark.cluster_long]

RECORDS_PER_TXN = 6
PARTITIONS = 3


@pytest.mark.timeout(400)
def test_the_java_transaction_suite_passes_on_the_cluster(cluster):
    proc = test_transactions.java_transactions_suite(cluster.bootstrap())
    assert proc.returncode == 0, proc.stdout[-12000:] + proc.stderr[-3000:]


@pytest.mark.timeout(300)
def test_franz_go_group_transact_session_is_exactly_once_on_the_cluster(cluster, tmp_path):
    binary = harness.build_go_program("franz_txn", tmp_path)
    proc = subprocess.run([str(binary), "-bootstrap", cluster.bootstrap(), "-in", harness.unique_topic("franz-in"),
                           "-out", harness.unique_topic("franz-out"), "-group", harness.unique_topic("franz-group"),
                           "-txn-id", harness.unique_topic("franz-txn"), "-count", "1000", "-partitions", "3",
                           "-replication-factor", "3", "-timeout-s", "240"],
                          capture_output=True, text=True, timeout=270)
    assert proc.returncode == 0, f"franz-go check failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert "ok: 1000 records transformed exactly once" in proc.stdout, proc.stdout


class _txn_writer:
    """Commits numbered transactions of RECORDS_PER_TXN records spread over the partitions until
    stopped; each attempt has its own number. Outcomes: committed (commit acknowledged), aborted
    (abort acknowledged), unknown (the producer failed fatally or the commit timed out)."""

    def __init__(self, bootstrap: str, topic: str, txn_id: str):
        self.bootstrap, self.topic, self.txn_id = bootstrap, topic, txn_id
        self.outcome: dict[int, str] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _producer(self) -> Producer:
        p = Producer({"bootstrap.servers": self.bootstrap, "transactional.id": self.txn_id,
                      "transaction.timeout.ms": 60000, "message.timeout.ms": 60000, "log_level": 3})
        deadline = time.monotonic() + 180
        while True:
            try:
                p.init_transactions(30)
                return p
            except KafkaException as e:
                if time.monotonic() > deadline or e.args[0].fatal():
                    raise
                self.errors.append(f"init: {e}")

    def start(self):
        self._thread.start()
        return self

    def committed_count(self) -> int:
        return sum(1 for o in self.outcome.values() if o == "committed")

    def stop(self, timeout_s: float = 240):
        self._stop.set()
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the transactional writer did not stop"

    def _run(self):
        p = self._producer()
        n = 0
        while not self._stop.is_set():
            n += 1
            self.outcome[n] = "unknown"
            try:
                p.begin_transaction()
                for i in range(RECORDS_PER_TXN):
                    p.produce(self.topic, key=f"{n}".encode(), value=f"{n}:{i}".encode(), partition=i % PARTITIONS)
                if n % 5 == 0:
                    # Every fifth transaction is aborted on purpose, its records already written.
                    if p.flush(60) == 0:
                        p.abort_transaction(60)
                        self.outcome[n] = "aborted"
                        continue
                while True:
                    try:
                        p.commit_transaction(60)
                        self.outcome[n] = "committed"
                        break
                    except KafkaException as e:
                        if e.args[0].retriable():
                            continue
                        raise
            except KafkaException as e:
                err = e.args[0]
                self.errors.append(f"txn {n}: {err}")
                if err.txn_requires_abort():
                    try:
                        p.abort_transaction(60)
                        self.outcome[n] = "aborted"
                        continue
                    except KafkaException as e2:
                        self.errors.append(f"abort {n}: {e2}")
                # Fatal (fenced, or the abort failed): a new instance fences this one.
                p = self._producer()


def _read_committed(bootstrap: str, topic: str) -> list[tuple[int, int, str]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "itest-txn-check", "enable.auto.commit": False,
                  "isolation.level": "read_committed", "auto.offset.reset": "earliest", "log_level": 3})
    tps = [TopicPartition(topic, i, 0) for i in range(PARTITIONS)]
    ends = {}
    for tp in tps:
        ends[tp.partition] = c.get_watermark_offsets(tp, timeout=30, cached=False)[1]
    c.assign(tps)
    out, pos = [], {tp.partition: 0 for tp in tps}
    deadline = time.monotonic() + 120
    while any(pos[p] < ends[p] for p in pos) and time.monotonic() < deadline:
        for m in c.consume(500, timeout=0.5):
            if m.error() is None:
                out.append((m.partition(), m.offset(), m.value().decode()))
            pos[m.partition()] = max(pos[m.partition()], m.offset() + 1)
        for p in pos:
            if pos[p] < ends[p]:
                got = c.position([TopicPartition(topic, p)])[0].offset
                if got >= 0:
                    pos[p] = max(pos[p], got)
    c.close()
    assert all(pos[p] >= ends[p] for p in pos), f"read to {pos}, stable ends {ends}"
    return out


def _coordinator_of(bootstrap: str, txn_id: str) -> int:
    return ch.find_coordinator(bootstrap, txn_id, key_type=1)


@pytest.mark.timeout(900)
def test_committed_transactions_survive_the_coordinator_and_a_leader_being_killed(cluster):
    topic = harness.unique_topic("txn-faults")
    created = ch.create_topics(cluster.brokers[0].bootstrap, [topic], PARTITIONS, 3)
    assert created[topic][0] == ch.ERROR_NONE, created
    txn_id = harness.unique_topic("txn-faults-id")
    writer = _txn_writer(cluster.bootstrap(), topic, txn_id).start()
    try:
        ch.wait_for(lambda: writer.committed_count() >= 20, 180, "20 committed transactions")
        coordinator = ch.wait_for(lambda: _coordinator_of(cluster.brokers[0].bootstrap, txn_id), 60,
                                  "the transaction coordinator")
        print(f"\n[{cluster.impl_name}] SIGKILL of coordinator {coordinator}")
        cluster.kill_node(coordinator)
        before = writer.committed_count()
        ch.wait_for(lambda: writer.committed_count() >= before + 20, 240, "20 more commits after the kill")
        cluster.start_node(coordinator)
        cluster.wait_serving()
        alive = cluster.brokers[0].bootstrap
        leader = ch.metadata(alive, [topic]).topics[topic].partitions[0].leader
        print(f"[{cluster.impl_name}] SIGKILL of {topic}-0's leader {leader}")
        cluster.kill_node(leader)
        before = writer.committed_count()
        ch.wait_for(lambda: writer.committed_count() >= before + 20, 240, "20 more commits after the leader kill")
        cluster.start_node(leader)
        cluster.wait_serving()
    finally:
        writer.stop()
    records = _read_committed(cluster.bootstrap(), topic)
    by_txn: dict[int, list[str]] = collections.defaultdict(list)
    for _, _, value in records:
        n, _, i = value.partition(":")
        by_txn[int(n)].append(i)
    committed = [n for n, o in writer.outcome.items() if o == "committed"]
    aborted = [n for n, o in writer.outcome.items() if o == "aborted"]
    print(f"[{cluster.impl_name}] {len(writer.outcome)} transactions: {len(committed)} committed, "
          f"{len(aborted)} aborted, {len(writer.outcome) - len(committed) - len(aborted)} unknown; "
          f"{len(records)} records read; client errors: {writer.errors[:5]}")
    whole = sorted(str(i) for i in range(RECORDS_PER_TXN))
    missing = [n for n in committed if n not in by_txn]
    partial = {n: v for n, v in by_txn.items() if sorted(v) != whole}
    seen_aborted = [n for n in aborted if n in by_txn]
    assert not missing, f"acknowledged commits not readable: {missing[:20]}"
    assert not partial, f"transactions seen in part or more than once: {dict(list(partial.items())[:10])}"
    assert not seen_aborted, f"aborted transactions read by read_committed: {seen_aborted[:20]}"
    assert len(committed) >= 60 and len(aborted) >= 10
