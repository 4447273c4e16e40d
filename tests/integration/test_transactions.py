"""Transactions with librdkafka (confluent-kafka) and Kafka's own kafka-transactions.sh
(TransactionsCommand) against one broker (issue #13): a consume-transform-produce loop whose
output a read_committed consumer sees exactly once, with an aborted round whose output and
offsets vanish; list / describe / find-hanging / abort of the admin tool. The Java client's
transactions are tests/java's TransactionsTest (test_java.py)."""
from __future__ import annotations

import re
import subprocess

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

import clients
import harness

pytestmark = pytest.mark.timeout(240)


def txn_producer(bootstrap: str, txn_id: str, **conf):
    p = clients.producer(bootstrap, **{"transactional.id": txn_id, **conf})
    p.init_transactions(60)
    return p


def read_committed_values(bootstrap: str, topic: str, partitions: int, expected: int) -> list[bytes]:
    msgs = clients.consume_all(bootstrap, topic, list(range(partitions)), expected=expected,
                               **{"isolation.level": "read_committed"})
    return [m.value() for m in msgs]


def test_librdkafka_consume_transform_produce_is_exactly_once_across_an_abort(bootstrap):
    src = harness.unique_topic("eos-in")
    dst = harness.unique_topic("eos-out")
    group = harness.unique_topic("eos-group")
    clients.create_topic(bootstrap, src, partitions=2)
    clients.create_topic(bootstrap, dst, partitions=2)
    clients.produce_all(bootstrap, src, [{"value": f"v{i}".encode(), "partition": i % 2} for i in range(60)])

    producer = txn_producer(bootstrap, harness.unique_topic("eos-txn"))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    consumer.subscribe([src])
    done = 0
    aborted_once = False
    try:
        def round_trip():
            nonlocal done, aborted_once
            msgs = [m for m in consumer.consume(20, timeout=0.5) if m.error() is None]
            if not msgs:
                return done >= 60
            producer.begin_transaction()
            for m in msgs:
                producer.produce(dst, value=m.value().upper(), partition=m.partition())
            producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                                 consumer.consumer_group_metadata(), 30)
            if not aborted_once:
                # Aborted: the output vanishes and the offsets stay where they were, so the same
                # records come again from the last committed position.
                aborted_once = True
                producer.flush(30)
                producer.abort_transaction(30)
                committed = consumer.committed(consumer.assignment(), timeout=30)
                for tp in committed:
                    consumer.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)))
                return False
            producer.commit_transaction(30)
            done += len(msgs)
            return done >= 60
        harness.wait_until(round_trip, timeout_s=120, interval_s=0, what="60 records transformed")
    finally:
        consumer.close()
    assert done == 60
    values = read_committed_values(bootstrap, dst, 2, 60)
    assert sorted(values) == sorted(f"V{i}".encode() for i in range(60))
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = reader.committed([TopicPartition(src, 0), TopicPartition(src, 1)], timeout=30)
    finally:
        reader.close()
    assert sum(tp.offset for tp in committed) == 60


def test_franz_go_group_transact_session_transforms_each_record_exactly_once(bootstrap, tmp_path):
    binary = harness.build_go_program("franz_txn", tmp_path)
    proc = subprocess.run([str(binary), "-bootstrap", bootstrap, "-in", harness.unique_topic("franz-in"),
                           "-out", harness.unique_topic("franz-out"), "-group", harness.unique_topic("franz-group"),
                           "-txn-id", harness.unique_topic("franz-txn"), "-count", "500", "-timeout-s", "150"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"franz-go check failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert "ok: 500 records transformed exactly once" in proc.stdout, proc.stdout


def test_a_fenced_librdkafka_producer_gets_a_fatal_error_and_its_transaction_is_aborted(bootstrap):
    topic = harness.unique_topic("fence")
    clients.create_topic(bootstrap, topic, partitions=1)
    txn_id = harness.unique_topic("fence-txn")
    zombie = txn_producer(bootstrap, txn_id)
    zombie.begin_transaction()
    zombie.produce(topic, value=b"zombie")
    assert zombie.flush(30) == 0
    fresh = txn_producer(bootstrap, txn_id)
    fresh.begin_transaction()
    fresh.produce(topic, value=b"fresh")
    fresh.commit_transaction(30)
    with pytest.raises(KafkaException) as e:
        zombie.commit_transaction(30)
    err = e.value.args[0]
    # librdkafka turns the broker's PRODUCER_FENCED / INVALID_PRODUCER_EPOCH into its fatal _FENCED.
    assert (err.code(), err.fatal()) == (KafkaError._FENCED, True), err
    assert "fenced by a newer instance" in err.str(), err.str()
    assert read_committed_values(bootstrap, topic, 1, 1) == [b"fresh"]


def _tool(kafka_classpath, bootstrap, *args):
    return harness.ok(harness.run_java_tool(kafka_classpath, "org.apache.kafka.tools.TransactionsCommand",
                                            "--bootstrap-server", bootstrap, *args))


def test_kafka_transactions_tool_lists_describes_finds_hanging_and_aborts(bootstrap, kafka_classpath):
    topic = harness.unique_topic("txtool")
    clients.create_topic(bootstrap, topic, partitions=1)
    txn_id = harness.unique_topic("txtool-txn")
    p = txn_producer(bootstrap, txn_id, **{"transaction.timeout.ms": 600000})
    p.begin_transaction()
    p.produce(topic, value=b"open")
    assert p.flush(30) == 0

    listed = _tool(kafka_classpath, bootstrap, "list")
    row = [line for line in listed.splitlines() if line.split() and line.split()[0] == txn_id]
    assert row and "Ongoing" in row[0], listed

    described = _tool(kafka_classpath, bootstrap, "describe", "--transactional-id", txn_id)
    assert "Ongoing" in described and f"{topic}-0" in described, described

    broker_ids = sorted(clients.admin(bootstrap).list_topics(timeout=10).brokers)
    hanging = _tool(kafka_classpath, bootstrap, "find-hanging", "--broker-id", str(broker_ids[0]))
    # Open for far less than transaction.max.timeout.ms: not hanging.
    assert txn_id not in hanging and topic not in hanging, hanging

    # The partition's open transaction, as DescribeProducers reports it; aborting it by hand
    # (WriteTxnMarkers from the admin client) makes the partition stable again.
    producers = _tool(kafka_classpath, bootstrap, "describe-producers", "--topic", topic, "--partition", "0")
    start = re.findall(r"^\s*\d+\s+\d+\s+-?\d+\s+-?\d+\s+\S+\s+(\d+)", producers, re.M)
    assert start == ["0"], producers
    _tool(kafka_classpath, bootstrap, "abort", "--topic", topic, "--partition", "0", "--start-offset", "0")
    c = clients.consumer(bootstrap, **{"isolation.level": "read_committed"})
    try:
        def stable():
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
            return hi == 2  # the record and the ABORT marker
        harness.wait_until(stable, timeout_s=30, what="the partition stable after the abort")
    finally:
        c.close()
    assert read_committed_values(bootstrap, topic, 1, 0) == []


def java_transactions_suite(bootstrap: str) -> subprocess.CompletedProcess:
    """tests/java's TransactionsTest against `bootstrap` (mvn offline first, online once if that
    could not resolve); the finished process."""
    import shutil
    if shutil.which("mvn") is None:
        pytest.fail("mvn not installed")
    project = harness.REPO_ROOT / "tests" / "java"
    cmd = ["mvn", "-o", "-B", "-q", "-f", str(project / "pom.xml"), "test", f"-Dbootstrap={bootstrap}",
           "-Dtest=TransactionsTest", "-Dsurefire.failIfNoSpecifiedTests=false"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=280)
    if proc.returncode != 0 and not (project / "target" / "surefire-reports").exists():
        proc = subprocess.run([c for c in cmd if c != "-o"], capture_output=True, text=True, timeout=380)
    return proc


@pytest.mark.java
@pytest.mark.timeout(360)
def test_the_java_client_uses_the_transaction_version_1_protocol_when_the_cluster_is_finalized_at_1(
        bootstrap, kafka_classpath):
    """kafka-features.sh downgrade --feature transaction.version=1: the Java client then adds
    partitions with AddPartitionsToTxn and ends with EndTxn v4 (no epoch bump per transaction);
    the transaction suite passes the same. The level is restored to 2 afterwards."""
    features = "org.apache.kafka.tools.FeatureCommand"
    out = harness.ok(harness.run_java_tool(kafka_classpath, features, "--bootstrap-server", bootstrap,
                                           "downgrade", "--feature", "transaction.version=1"))
    assert "downgraded to 1" in out, out
    try:
        proc = java_transactions_suite(bootstrap)
        assert proc.returncode == 0, proc.stdout[-12000:] + proc.stderr[-3000:]
    finally:
        harness.ok(harness.run_java_tool(kafka_classpath, features, "--bootstrap-server", bootstrap,
                                         "upgrade", "--feature", "transaction.version=2"))
