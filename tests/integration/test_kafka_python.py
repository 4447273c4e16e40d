"""Proves that kafka-python's KafkaProducer and KafkaConsumer work against the broker as they do
against Apache Kafka: sync and async sends with every acks level, key partitioning, compression,
batching, assign/seek reads with keys, values and headers, and auto topic creation."""
from __future__ import annotations

import importlib.util
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

import clients
import harness


def make_producer(bootstrap, **conf):
    conf.setdefault("request_timeout_ms", 20000)
    conf.setdefault("max_block_ms", 20000)
    return KafkaProducer(bootstrap_servers=bootstrap, **conf)


def read_back(bootstrap, topic, partition, expected, timeout_s=30):
    """All records of one partition from offset 0, via assign() + seek_to_beginning()."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             group_id=None, consumer_timeout_ms=1000, request_timeout_ms=30000)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        records = []
        deadline = time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


@pytest.mark.parametrize("acks", [0, 1, "all"])
def test_sync_sends_return_offsets_and_read_back_in_order(bootstrap, acks):
    topic = harness.unique_topic(f"kp-acks{acks}")
    clients.create_topic(bootstrap, topic)
    producer = make_producer(bootstrap, acks=acks)
    try:
        metas = [producer.send(topic, key=b"k%d" % i, value=b"v%d" % i,
                               headers=[("n", b"%d" % i)]).get(timeout=20) for i in range(20)]
        producer.flush()
    finally:
        producer.close()
    assert all(m.topic == topic and m.partition == 0 for m in metas)
    if acks == 0:
        assert all(m.offset == -1 for m in metas)  # no response, so no offset
    else:
        assert [m.offset for m in metas] == list(range(20))
    records = read_back(bootstrap, topic, 0, 20)
    assert [r.offset for r in records] == list(range(20))
    assert [r.key for r in records] == [b"k%d" % i for i in range(20)]
    assert [r.value for r in records] == [b"v%d" % i for i in range(20)]
    assert [r.headers for r in records] == [[("n", b"%d" % i)] for i in range(20)]


def test_async_sends_invoke_callbacks_with_offsets(bootstrap):
    topic = harness.unique_topic("kp-async")
    clients.create_topic(bootstrap, topic)
    producer = make_producer(bootstrap, acks=1, linger_ms=10)
    successes, failures = [], []
    try:
        for i in range(50):
            producer.send(topic, value=b"a%d" % i).add_callback(successes.append).add_errback(failures.append)
        producer.flush(timeout=20)
    finally:
        producer.close()
    assert failures == []
    assert sorted(m.offset for m in successes) == list(range(50))


def test_keyed_sends_land_on_one_partition_per_key(bootstrap):
    topic = harness.unique_topic("kp-keys")
    clients.create_topic(bootstrap, topic, partitions=4)
    producer = make_producer(bootstrap)
    try:
        by_key = {}
        for key in (b"alpha", b"beta", b"gamma", b"delta"):
            metas = [producer.send(topic, key=key, value=b"x%d" % i).get(timeout=20) for i in range(10)]
            partitions = {m.partition for m in metas}
            assert len(partitions) == 1, (key, partitions)
            by_key[key] = partitions.pop()
    finally:
        producer.close()
    total = 0
    for p in range(4):
        records = read_back(bootstrap, topic, p, sum(10 for k, v in by_key.items() if v == p))
        assert all(by_key[r.key] == p for r in records)
        total += len(records)
    assert total == 40


def _codec_available(codec: str) -> bool:
    module = {"gzip": "gzip", "snappy": "snappy", "lz4": "lz4", "zstd": "zstandard"}[codec]
    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_round_trip(bootstrap, codec):
    if not _codec_available(codec):
        pytest.skip(f"python library for {codec} not installed (Debian: python3-snappy, python3-lz4, "
                    "python3-zstandard)")
    topic = harness.unique_topic(f"kp-{codec}")
    clients.create_topic(bootstrap, topic)
    producer = make_producer(bootstrap, compression_type=codec, linger_ms=20, batch_size=65536)
    values = [(b"payload-%d-" % i) * 30 for i in range(300)]
    try:
        futures = [producer.send(topic, value=v) for v in values]
        producer.flush(timeout=20)
        assert [f.get(timeout=20).offset for f in futures] == list(range(300))
    finally:
        producer.close()
    records = read_back(bootstrap, topic, 0, 300)
    assert [r.value for r in records] == values


def test_small_batch_size_and_linger_still_deliver_everything_in_order(bootstrap):
    topic = harness.unique_topic("kp-batch")
    clients.create_topic(bootstrap, topic)
    producer = make_producer(bootstrap, batch_size=512, linger_ms=50)
    values = [b"m%04d" % i * 10 for i in range(500)]
    try:
        futures = [producer.send(topic, value=v) for v in values]
        producer.flush(timeout=30)
        assert [f.get(timeout=20).offset for f in futures] == list(range(500))
    finally:
        producer.close()
    records = read_back(bootstrap, topic, 0, 500)
    assert [r.value for r in records] == values


def test_consumer_seek_reads_from_the_requested_offset(bootstrap):
    topic = harness.unique_topic("kp-seek")
    clients.create_topic(bootstrap, topic)
    producer = make_producer(bootstrap)
    try:
        for i in range(30):
            producer.send(topic, value=b"%d" % i)
        producer.flush(timeout=20)
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=1000)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 25)
        records = []
        deadline = time.monotonic() + 20
        while len(records) < 5 and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        assert [r.value for r in records] == [b"%d" % i for i in range(25, 30)]
        assert consumer.end_offsets([tp]) == {tp: 30}
        assert consumer.beginning_offsets([tp]) == {tp: 0}
    finally:
        consumer.close()


def test_producer_metadata_auto_creates_unknown_topic(bootstrap):
    topic = harness.unique_topic("kp-auto")
    producer = make_producer(bootstrap)
    try:
        meta = producer.send(topic, value=b"first").get(timeout=30)
    finally:
        producer.close()
    assert meta.offset == 0
    assert [r.value for r in read_back(bootstrap, topic, 0, 1)] == [b"first"]
